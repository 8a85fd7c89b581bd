"""`farm render`: a studio request as a graph of jobs, intent → midi (→ image, audio texture).

The intent job turns the words into structured music; the midi job takes its `intent.json` as
input. Cover art and an audio texture are asked for by flag or in the words ("and a cover
image", "then an ambient bed"); they take their prompts from the intent. A part asked for by
flag that this farm cannot make (no model configured) refuses the whole graph before any job is
submitted; one asked for only in words is skipped, saying why.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from jobs.config import FarmSettings
from jobs.errors import BadJobSpec
from jobs.kinds import KINDS
from jobs.queries import wait_for_job
from jobs.spec import parse_spec
from jobs.submit import submit_job

_IMAGE_WORDS = re.compile(r"\b(cover( art| image)?|artwork|album art|image|picture|illustration)\b",
                          re.I)
_TEXTURE_WORDS = re.compile(r"\b(ambient bed|bed|drone|texture|soundscape|atmosphere|pad layer)\b",
                            re.I)


@dataclass(frozen=True)
class Node:
    """One job of the graph; `after` names other nodes of the same graph."""

    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()


@dataclass
class RenderPlan:
    nodes: list[Node]
    skipped: list[str] = field(default_factory=list)  # asked for in words, not on this farm


def plan_render(text: str, images: bool = False, audio_texture: bool = False,
                bars: int | None = None, settings: FarmSettings | None = None) -> RenderPlan:
    """The graph for a request. Flags demand a part; words only ask for it. With `settings`,
    each part is checked against this farm (its model configured) before anything is sent."""
    if not text.strip():
        raise BadJobSpec("give the intent in words, e.g. farm render \"moody triphop at 90 bpm\"")
    midi_params = {"bars": bars} if bars is not None else {}
    plan = RenderPlan([Node("intent", "intent", {"text": text}),
                       Node("midi", "midi", midi_params, ("intent",))])
    for kind, flag, words, option in (("image", images, _IMAGE_WORDS, "--images"),
                                      ("audio", audio_texture, _TEXTURE_WORDS, "--audio-texture")):
        if not (flag or words.search(text)):
            continue
        why = _cannot_make(kind, settings)
        if why is None:
            plan.nodes.append(Node(kind, kind, {}, ("intent",)))
        elif flag:
            raise BadJobSpec(f"{option}: {why}; render without {option}")
        else:
            plan.skipped.append(f"{kind}: {why}")
    return plan


def _cannot_make(kind: str, settings: FarmSettings | None) -> str | None:
    """Why this farm cannot make a part of the graph, or None."""
    if kind not in KINDS:
        return f"this farm has no '{kind}' kind"
    check = KINDS[kind].check
    if settings is not None and check is not None:
        try:
            check({"prompt": ""}, settings, [], True)
        except BadJobSpec as exc:
            return str(exc)
    return None


def submit_render(settings: FarmSettings, plan: RenderPlan, seed: int | None, priority: int,
                  project: str, key: str | None = None) -> dict[str, Any]:
    """Submit the graph in dependency order, every job with the same seed. With `key`, each
    job gets the idempotency key `key:<node>`: submitting the same graph again (a watched
    folder taking a drop up after a crash) finds its jobs instead of making new ones."""
    ids: dict[str, str] = {}
    created = False
    for node in plan.nodes:
        spec = parse_spec({"kind": node.kind, "params": node.params, "seed": seed,
                           "priority": priority, "project": project,
                           "depends_on": [ids[n] for n in node.after],
                           "idempotency_key": f"{key}:{node.name}" if key else None},
                          f"render {node.name}")
        job, new = submit_job(settings, spec)
        ids[node.name], created = job.id, created or new
        seed = job.seed  # the first job draws one when none was given; the rest share it
    return {"jobs": ids, "seed": seed, "skipped": plan.skipped, "created": created}


def wait_render(settings: FarmSettings, ids: dict[str, str], timeout_s: float
                ) -> dict[str, dict[str, Any]]:
    """Wait until every job of the graph ended, all within one deadline; their status
    documents by node name."""
    deadline = time.monotonic() + timeout_s
    return {name: wait_for_job(settings, job_id, max(0.0, deadline - time.monotonic()))
            for name, job_id in ids.items()}


def render_text(result: dict[str, Any], docs: dict[str, dict[str, Any]] | None) -> str:
    lines = [f"{name:7} {job_id}" for name, job_id in result["jobs"].items()]
    lines += [f"skipped {why}" for why in result["skipped"]]
    for name, doc in (docs or {}).items():
        lines.append(f"{name:7} {doc['state']}" + (f": {doc['error']}" if doc.get("error") else ""))
        lines += [f"  {a['path']}" for a in doc["artifacts"]]
    return "\n".join(lines)
