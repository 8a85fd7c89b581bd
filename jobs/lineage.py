"""`farm lineage ID`: where an artifact or job came from, back to the words and the model file."""

from __future__ import annotations

import json
from typing import Any

from jobs.config import FarmSettings
from jobs.errors import BadJobSpec, shown
from jobs.home import open_reader
from storage.errors import UnknownJob
from storage.reader import CatalogReader

MAX_NODES = 200


def lineage_doc(settings: FarmSettings, node_id: str) -> dict[str, Any]:
    """The node and every ancestor, each with the edges that lead to its parents."""
    catalog = open_reader(settings)
    start = _resolve(catalog, node_id)
    nodes: dict[str, dict[str, Any]] = {}
    todo = [start]
    while todo and len(nodes) < MAX_NODES:
        current = todo.pop(0)
        if current in nodes:
            continue
        node = _describe(catalog, current)
        node["parents"] = [{"id": e.parent_id, "relation": e.relation}
                           for e in catalog.parents(current)]
        nodes[current] = node
        todo += [p["id"] for p in node["parents"]]
    return {"start": start, "nodes": list(nodes.values())}


def _resolve(catalog: CatalogReader, node_id: str) -> str:
    if catalog.artifact(node_id) is not None:
        return node_id
    if len(node_id) == 64 and (found := catalog.artifact_by_sha(node_id)):
        return found[0].id
    try:
        return catalog.get_job(node_id).id
    except UnknownJob:
        raise BadJobSpec(f"{shown(node_id, 70)} is no artifact id, sha256 or job id in the catalog; "
                         "`farm artifacts JOB --json` lists artifact ids") from None


def _describe(catalog: CatalogReader, node_id: str) -> dict[str, Any]:
    if (artifact := catalog.artifact(node_id)) is not None:
        return {"id": node_id, "type": "artifact", "name": artifact.name,
                "sha256": artifact.sha256, "job_id": artifact.job_id}
    if (model := catalog.model(node_id)) is not None:
        return {"id": node_id, "type": "model", "name": model.name, "path": model.path}
    try:
        job = catalog.get_job(node_id)
    except UnknownJob:
        return {"id": node_id, "type": "unknown"}
    return {"id": node_id, "type": "job", "kind": job.kind, "seed": job.seed,
            "state": str(job.state), "params": json.loads(job.params_json)["params"]}


def lineage_text(doc: dict[str, Any]) -> str:
    lines = []
    for node in doc["nodes"]:
        what = {"artifact": lambda n: f"artifact {n['name']} sha256 {n['sha256'][:16]}",
                "job": lambda n: f"job {n['kind']} seed {n['seed']} {n['state']} "
                                 f"{json.dumps(n['params'], sort_keys=True)[:120]}",
                "model": lambda n: f"model {n['name']} ({n['path']})",
                "unknown": lambda n: "not in the catalog"}[node["type"]](node)
        lines.append(f"{node['id'][:16]}  {what}")
        lines += [f"    <- {p['relation']}: {p['id'][:16]}" for p in node["parents"]]
    return "\n".join(lines)
