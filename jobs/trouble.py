"""What a long-running loop (farm up, the watcher) says about trouble: once when it starts,
once when it ends, never a line per retry."""

from __future__ import annotations

from collections.abc import Callable


class Trouble:
    def __init__(self, say: Callable[[str], None], who: str, meanwhile: str) -> None:
        self.say, self.who, self.meanwhile = say, who, meanwhile
        self.current = ""

    def failed(self, what: str) -> None:
        if what != self.current:
            self.say(f"{self.who}: {what}; {self.meanwhile}")
            self.current = what

    def cleared(self) -> None:
        if self.current:
            self.say(f"{self.who}: working again")
            self.current = ""
