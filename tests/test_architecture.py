"""The import arrows of DESIGN.md hold, and the CLI stays light."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("jobs", "workers", "pipelines", "storage")
FORBIDDEN = {
    "pipelines": {"jobs", "workers", "storage", "celery", "redis", "sqlmodel", "kombu"},
    "storage": {"jobs", "workers", "pipelines", "celery", "redis"},
    "jobs": {"workers", "pipelines", "torch", "diffusers", "llama_cpp"},
    "workers": set(),
}
HEAVY = {"torch", "diffusers", "llama_cpp", "transformers"}
# The edges across a forbidden arrow: leaves (stdlib and pydantic only) both sides validate by.
LEAVES = ("vocabulary", "diffusion_params", "model_folder")
ALLOWED = {("jobs/kinds.py", "pipelines.vocabulary"), ("jobs/kinds.py", "pipelines.diffusion_params"),
           ("jobs/kinds.py", "pipelines.model_folder"), ("jobs/models.py", "pipelines.model_folder")}


def full_imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at module top level?) for every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in top_level))
    return found


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(top-level module, line, at module top level?) for every import in a file."""
    return [(module.split(".")[0], line, top) for module, line, top in full_imports_of(path)]


def test_import_arrows_follow_the_design() -> None:
    broken = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            where = str(path.relative_to(REPO))
            for module, line, _ in full_imports_of(path):
                if module.split(".")[0] in FORBIDDEN[package] and (where, module) not in ALLOWED:
                    broken.append(f"{where}:{line} imports {module}")
    assert not broken, "\n".join(broken)


def test_the_leaves_jobs_imports_are_leaves() -> None:
    for name in LEAVES:
        leaf = REPO / "pipelines" / f"{name}.py"
        project = [m for m, _, _ in imports_of(leaf) if m in PACKAGES]
        assert project == [], (name, project)
        heavy = [m for m, _, _ in imports_of(leaf) if m in HEAVY]
        assert heavy == [], (name, heavy)


def test_nothing_imports_workers() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line}"
        for package in ("jobs", "pipelines", "storage", "bench")
        for path in sorted((REPO / package).rglob("*.py"))
        for module, line, _ in imports_of(path)
        if module == "workers"
    ]
    assert not offenders


def test_heavy_libraries_are_imported_only_inside_functions() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line} imports {module} at module level"
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        for module, line, top in imports_of(path)
        if module in HEAVY and top
    ]
    assert not offenders


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom workers.tasks import midi\n\ndef f():\n    import torch\n")
    assert ("workers", 2, True) in imports_of(sample)
    assert ("torch", 5, False) in imports_of(sample)


def test_farm_help_does_not_import_heavy_libraries() -> None:
    probe = (
        "import sys\n"
        "from jobs.cli import cli\n"
        "try:\n"
        "    cli(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "for name in ['submit', 'worker', 'demo', 'status']:\n"
        "    try:\n"
        "        cli([name, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_architecture_document_names_only_what_exists() -> None:
    doc = (REPO / "docs" / "ARCHITECTURE.md").read_text()
    paths = set(re.findall(r"\b((?:jobs|workers|storage|pipelines|tests|bench)/[\w/]*\w(?:\.py)?)",
                           doc))
    modules = set(re.findall(r"`((?:jobs|workers|storage|pipelines)(?:\.\w+)+)", doc))
    assert len(paths) > 20 and len(modules) > 3, (paths, modules)
    missing = [p for p in sorted(paths) if not (REPO / p).exists()]
    missing += [m for m in sorted(modules)
                if not (REPO / (m.replace(".", "/") + ".py")).exists()
                and not (REPO / m.replace(".", "/")).is_dir()
                and not (REPO / (m.rsplit(".", 1)[0].replace(".", "/") + ".py")).exists()]
    assert not missing, missing
    for package in PACKAGES:
        assert f"{package}/" in doc, package


OUTSIDE = "../" + "shared"  # a folder beside the repository that a clone does not have


def test_the_project_stands_alone() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    offenders = [path for path in tracked if path.endswith((".py", ".md", ".toml", ".yaml",
                                                            "Makefile", "Dockerfile"))
                 and OUTSIDE in (REPO / path).read_text(errors="replace")]
    assert offenders == [], offenders
