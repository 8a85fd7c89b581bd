"""YAML for job files, parameters and the config: plain data, no anchors or aliases.

An alias lets a few hundred bytes stand for gigabytes once the data is walked (the "billion
laughs"); no job file needs one, so they are refused before anything is built.
"""

from __future__ import annotations

from typing import Any

import yaml


class YamlRefused(ValueError):
    """The text is not YAML this farm reads (malformed, or it uses anchors or aliases)."""


class _PlainLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise YamlRefused("YAML aliases (*name) are not allowed; write the value out")
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:
            raise YamlRefused("YAML anchors (&name) are not allowed; write the value out")
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """Parse YAML text into plain data; YamlRefused says in one line what is wrong."""
    try:
        return yaml.load(text, Loader=_PlainLoader)  # noqa: S506  (a SafeLoader subclass)
    except YamlRefused:
        raise
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise YamlRefused(reason) from None
