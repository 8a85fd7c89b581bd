"""Time in ticks: bars, beats and sixteenths for any supported time signature."""

from __future__ import annotations

from dataclasses import dataclass

PPQ = 480


@dataclass(frozen=True)
class Grid:
    numerator: int
    denominator: int
    bars: int

    @property
    def bar_ticks(self) -> int:
        return PPQ * 4 * self.numerator // self.denominator

    @property
    def step_ticks(self) -> int:
        """One sixteenth note."""
        return PPQ // 4

    @property
    def steps_per_bar(self) -> int:
        return self.bar_ticks // self.step_ticks

    @property
    def compound(self) -> bool:
        return self.denominator == 8 and self.numerator % 3 == 0

    @property
    def beat_steps(self) -> int:
        """Sixteenths per felt beat: a dotted quarter in 6/8, 9/8 and 12/8."""
        if self.compound:
            return 6
        return 16 // self.denominator

    @property
    def total_ticks(self) -> int:
        return self.bar_ticks * self.bars

    def is_strong(self, step: int) -> bool:
        return step % self.beat_steps == 0

    def tick(self, bar: int, step: int) -> int:
        return bar * self.bar_ticks + step * self.step_ticks


def note(tick: float, duration: float, pitch: int, velocity: float) -> dict[str, int]:
    return {"tick": int(tick), "duration": max(1, int(duration)), "pitch": int(pitch),
            "velocity": max(1, min(127, int(round(velocity))))}
