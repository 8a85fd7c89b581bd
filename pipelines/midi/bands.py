"""Reference bands: where real music puts each report-card metric, and the check against them.

bands.json is written by `python -m pipelines.midi.make_bands`; each metric names its source.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

BANDS_PATH = Path(__file__).with_name("bands.json")


@cache
def load_bands(path: Path = BANDS_PATH) -> dict[str, Any]:
    """The bands document; an empty one when the file is missing, so a report still works."""
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return {"metrics": {}, "progression_table": {}}


def check_bands(metrics: dict[str, Any], bands: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Per banded metric: value, band, inside (None when the metric does not apply); and a
    warning line for each metric outside its band."""
    checks: dict[str, Any] = {}
    warnings: list[str] = []
    for name, spec in sorted(bands.get("metrics", {}).items()):
        value = metrics.get(name)
        low, high = spec["band"]
        inside = None if value is None else bool(low <= value <= high)
        checks[name] = {"value": value, "band": [low, high], "inside": inside, "source": spec["source"]}
        if inside is False:
            warnings.append(f"{name} {value:g} is outside the reference band [{low:g}, {high:g}] "
                            f"({spec['source']})")
    return checks, warnings


def inside_fraction(checks: dict[str, Any]) -> float | None:
    """Share of the applicable metrics that sit inside their bands."""
    judged = [c["inside"] for c in checks.values() if c["inside"] is not None]
    return round(sum(judged) / len(judged), 4) if judged else None
