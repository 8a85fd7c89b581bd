"""The `farm` command line. Every command takes --json; user errors are one line and an exit code.

Only typer is imported up front: each command imports what it needs when it runs, so that
`farm --help`, `farm status` and `farm ls` stay quick enough for scripts to call in loops.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jobs.errors import BadJobSpec, FarmError, one_line
from storage.errors import StorageError

if TYPE_CHECKING:
    from jobs.config import FarmSettings

cli = typer.Typer(
    name="farm", help="studio-farm: an offline render farm for music.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    rich_markup_mode=None,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
_flags: dict[str, Any] = {}


def settings() -> FarmSettings:
    """The farm's settings, with the global flags (--home, --config, ...) over the rest."""
    from jobs.config import load_settings

    return load_settings(**_flags)


def emit(doc: Any, as_json: bool, human: str | None = None) -> None:
    if as_json:
        typer.echo(json.dumps(doc, indent=2, sort_keys=True, default=str))
    elif human is not None:
        typer.echo(human)


@cli.callback()
def _global(
    config: Annotated[Path | None, typer.Option("--config", help="Config file (farm.yaml).")] = None,
    home: Annotated[Path | None, typer.Option("--home", help="FARM_HOME folder.")] = None,
    redis_url: Annotated[str | None, typer.Option("--redis-url", help="Redis URL.")] = None,
    db_url: Annotated[str | None, typer.Option("--db-url", help="Catalog database URL.")] = None,
) -> None:
    # Processes the farm starts (workers) are given the resulting settings explicitly.
    _flags.update(config=config, home=home, redis_url=redis_url, db_url=db_url)


@cli.command()
def demo(
    intent: Annotated[str, typer.Argument(help="What to make.")] = "moody triphop at 90 bpm",
    seed: Annotated[int, typer.Option(help="Seed of the music.")] = 7,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the music.")] = 300,
    as_json: JsonOpt = False,
) -> None:
    """Start an embedded farm, make music from INTENT, print where it is, stop everything."""
    from jobs.demo import run_demo

    doc = run_demo(settings(), intent, seed, timeout, say=None if as_json else typer.echo)
    emit(doc, as_json)
    if doc["state"] != "SUCCEEDED":
        raise typer.Exit(1)


@cli.command()
def up(
    tags: Annotated[str | None, typer.Option(help="Tags to run workers for (config: worker_tags).")]
    = None,
) -> None:
    """Run a local farm: Redis, a worker per tag, the reconciler. Ctrl-C stops it all."""
    from jobs.up import run_farm

    conf = settings()
    wanted = [t.strip() for t in tags.split(",")] if tags else conf.worker_tags
    run_farm(conf, wanted, say=typer.echo)


@cli.command()
def worker(
    tags: Annotated[str, typer.Option(help="Comma-separated queue tags to consume.")] = "midi",
    concurrency: Annotated[int, typer.Option(min=1, help="Processes running jobs.")] = 1,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork or solo.")] = "prefork",
    loglevel: Annotated[str, typer.Option(help="Log level.")] = "INFO",
    as_json: JsonOpt = False,
) -> None:
    """Run one worker process consuming the given tags' queues."""
    from jobs.broker import check_redis
    from jobs.config import apply_thread_caps
    from jobs.kinds import TAGS

    known = list(TAGS)
    wanted = [t.strip() for t in tags.split(",") if t.strip()]
    if not wanted or any(t not in known for t in wanted):
        raise BadJobSpec(f"--tags '{tags}': known tags are {', '.join(known)}")
    if pool not in ("prefork", "solo"):
        raise BadJobSpec(f"--pool '{pool}': use prefork or solo")
    conf = settings()
    apply_thread_caps(conf)
    check_redis(conf)
    import socket

    from jobs.app import make_app

    nodename = f"{'+'.join(wanted)}-{os.getpid()}@{socket.gethostname()}"
    emit({"nodename": nodename, "tags": wanted, "pid": os.getpid()}, as_json)
    make_app(conf).worker_main(["worker", "-Q", ",".join(wanted), "-c", str(concurrency), "-P", pool,
                     "-n", nodename, "--loglevel", loglevel, "-E",
                     "--without-gossip", "--without-mingle"])


@cli.command()
def submit(
    kind: Annotated[str | None, typer.Argument(help="Job kind, e.g. midi.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="name=value")] = None,
    file: Annotated[Path | None, typer.Option("-f", "--file", help="Job spec file.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (random if not given).")] = None,
    priority: Annotated[int | None, typer.Option(help="0..9, 9 most urgent.")] = None,
    project: Annotated[str | None, typer.Option(help="Project name.")] = None,
    after: Annotated[list[str] | None, typer.Option("--after", help="Run after this job.")] = None,
    key: Annotated[str | None, typer.Option("--idempotency-key", help="Same key, one job.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue a job and print its id."""
    from jobs.spec import parse_param, parse_spec, read_spec_file
    from jobs.submit import submit_job

    data: dict[str, Any] = {}
    conf = settings()
    if file is not None:
        if kind is not None:
            raise BadJobSpec("give either KIND or -f FILE, not both")
        spec, _ = read_spec_file(file, conf.max_job_file_bytes)
        data = spec.model_dump(exclude_none=True)
        data["params"] = {k: spec.params[k] for k in spec.given}  # defaults stay defaults
    elif kind is None:
        raise BadJobSpec("give a job KIND (e.g. `farm submit midi`) or -f FILE")
    else:
        data = {"kind": kind, "params": dict(parse_param(p) for p in param or [])}
    overrides = {"seed": seed, "priority": priority, "project": project, "idempotency_key": key}
    data.update({k: v for k, v in overrides.items() if v is not None})
    if after:
        data["depends_on"] = list(data.get("depends_on", [])) + after
    job, created = submit_job(conf, parse_spec(data, str(file or "job")))
    emit({"job_id": job.id, "kind": job.kind, "state": str(job.state), "created": created,
          "seed": job.seed}, as_json, job.id)


@cli.command()
def render(
    intent: Annotated[str, typer.Argument(help="What to make, in words.")],
    images: Annotated[bool, typer.Option("--images", help="Also render cover art.")] = False,
    audio_texture: Annotated[bool, typer.Option("--audio-texture", help="Also an audio bed.")]
    = False,
    bars: Annotated[int | None, typer.Option(min=1, max=512, help="Length in bars.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (random if not given).")] = None,
    priority: Annotated[int, typer.Option(min=0, max=9, help="0..9, 9 most urgent.")] = 5,
    project: Annotated[str, typer.Option(help="Project name.")] = "default",
    wait_: Annotated[bool, typer.Option("--wait", help="Wait for the whole graph.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits (exit 4).")] = 3600,
    as_json: JsonOpt = False,
) -> None:
    """The studio graph: intent -> MIDI (-> cover image, audio texture)."""
    from jobs.render import plan_render, render_text, submit_render, wait_render

    conf = settings()
    result = submit_render(conf, plan_render(intent, images, audio_texture, bars), seed, priority,
                           project)
    docs = wait_render(conf, result["jobs"], timeout) if wait_ else None
    emit({**result, "results": docs}, as_json, render_text(result, docs))
    if docs and any(d["state"] != "SUCCEEDED" for d in docs.values()):
        raise typer.Exit(1)


@cli.command()
def status(job_id: str, as_json: JsonOpt = False) -> None:
    """State, progress, why it waits, attempts and artifacts of a job."""
    from jobs.queries import job_status, status_text

    doc = job_status(settings(), job_id)
    emit(doc, as_json, status_text(doc))


@cli.command()
def wait(
    job_id: str,
    timeout: Annotated[float, typer.Option(help="Seconds before giving up (exit 4).")] = 3600,
    as_json: JsonOpt = False,
) -> None:
    """Wait until a job ends; exit 1 if it failed or was cancelled, 4 on timeout."""
    from jobs.queries import status_text, wait_for_job

    doc = wait_for_job(settings(), job_id, timeout)
    emit(doc, as_json, status_text(doc))
    if doc["state"] != "SUCCEEDED":
        raise typer.Exit(1)


@cli.command("ls")
def list_jobs(
    state: Annotated[list[str] | None, typer.Option(help="Only jobs in this state.")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Jobs in the catalog, newest first."""
    from jobs.queries import jobs_table, list_docs

    docs = list_docs(settings(), state or [], kind or [], limit)
    emit(docs, as_json, jobs_table(docs))


@cli.command()
def cancel(job_id: str, as_json: JsonOpt = False) -> None:
    """Cancel a queued or running job."""
    from jobs.control import cancel_job

    doc = cancel_job(settings(), job_id)
    emit(doc, as_json, doc["message"])


@cli.command()
def retry(job_id: str, as_json: JsonOpt = False) -> None:
    """Queue a failed or cancelled job again (same id, same seed, next attempt)."""
    from jobs.control import retry_job

    doc = retry_job(settings(), job_id)
    emit(doc, as_json, doc["message"])


@cli.command()
def artifacts(job_id: str, as_json: JsonOpt = False) -> None:
    """The files a job made, with hashes and paths."""
    from jobs.queries import artifacts_text, job_status

    doc = job_status(settings(), job_id, explain=False)
    emit(doc["artifacts"], as_json, artifacts_text(doc))


@cli.command()
def lineage(node_id: str, as_json: JsonOpt = False) -> None:
    """Where an artifact or job came from: its job, inputs, intent and model file."""
    from jobs.lineage import lineage_doc, lineage_text

    doc = lineage_doc(settings(), node_id)
    emit(doc, as_json, lineage_text(doc))


@cli.command()
def export(job_id: str, dest: Path, as_json: JsonOpt = False) -> None:
    """Copy a job's artifacts into DEST as plain files (hashes checked)."""
    from jobs.control import export_job

    paths = export_job(settings(), job_id, dest)
    emit([str(p) for p in paths], as_json, "\n".join(str(p) for p in paths))


@cli.command()
def reconcile(as_json: JsonOpt = False) -> None:
    """Re-send catalogued jobs that Redis lost; re-queue jobs whose worker vanished."""
    from jobs.broker import check_redis
    from jobs.home import CLI_DB_RETRY_S, open_catalog
    from jobs.reconcile import reconcile_once

    conf = settings()
    doc = reconcile_once(conf, open_catalog(conf, CLI_DB_RETRY_S), check_redis(conf))
    human = ("another reconciler pass is running" if doc["skipped"] else
             ", ".join(f"{k}: {len(v)}" for k, v in doc.items() if k != "skipped"))
    emit(doc, as_json, human)


@cli.command()
def gpu(as_json: JsonOpt = False) -> None:
    """Who holds each GPU, which model is resident, who waits and why."""
    from jobs.queries import gpu_docs, gpu_text

    docs = gpu_docs(settings())
    emit(docs, as_json, gpu_text(docs))


@cli.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check the environment: home, catalog, Redis, workers, optional libraries."""
    from jobs.doctor import doctor_text, run_checks

    checks = run_checks(settings())
    emit(checks, as_json, doctor_text(checks))
    failed = [c for c in checks if c["status"] == "fail"]
    if failed:
        raise typer.Exit(max(int(c.get("exit_code", 3)) for c in failed))


catalog_cli = typer.Typer(help="Check and clean the store against the catalog.",
                          no_args_is_help=True)
cli.add_typer(catalog_cli, name="catalog")


@catalog_cli.command("verify")
def catalog_verify(as_json: JsonOpt = False) -> None:
    """Re-hash every referenced blob; exit 1 naming any missing or corrupt one."""
    from jobs.integrity import verify_store

    doc = verify_store(settings())
    lines = [f"{p['problem']}: {p['path']} (job {p['job_id'][:12]}, {p['name']})"
             for p in doc["problems"]]
    emit(doc, as_json, "\n".join(lines + [f"{doc['checked']} blobs checked, "
                                           f"{len(doc['problems'])} problems"]))
    if doc["problems"]:
        raise typer.Exit(1)


@catalog_cli.command("gc")
def catalog_gc(
    delete: Annotated[bool, typer.Option("--delete", help="Really remove (default: dry run).")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Blobs no artifact references, and unfinished writes; removed only with --delete."""
    from jobs.integrity import collect_garbage

    doc = collect_garbage(settings(), delete)
    verb = "removed" if delete else "would remove (dry run; --delete to remove)"
    emit(doc, as_json, f"{verb} {len(doc['orphans'])} blobs and "
                       f"{len(doc['leftovers'])} unfinished writes, {doc['bytes']} bytes")


@catalog_cli.command("backup")
def catalog_backup(
    dest: Annotated[Path | None, typer.Argument(help="File to write (default: FARM_HOME/backups).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """A consistent copy of a SQLite catalog, safe to take while the farm runs."""
    from jobs.backup import backup_catalog

    path = backup_catalog(settings(), dest)
    emit({"backup": str(path)}, as_json, str(path))


midi_cli = typer.Typer(help="MIDI tools.", no_args_is_help=True)
cli.add_typer(midi_cli, name="midi")


@midi_cli.command("report")
def midi_report(file: Path, as_json: JsonOpt = False) -> None:
    """The report card of any MIDI file: pitch, harmony, rhythm, and where it leaves the bands."""
    import subprocess

    # The card is pipeline code, which `jobs` does not import: it runs as its own module.
    args = [sys.executable, "-m", "pipelines.midi.report", str(file)] + (["--json"] if as_json else [])
    raise typer.Exit(subprocess.run(args, check=False).returncode)


def main(argv: list[str] | None = None) -> None:
    """The `farm` command: any problem of the user's is one line on stderr and an exit code
    (2 usage, 3 Redis or catalog, 1 job failed, 4 timed out); anything else is a bug."""
    os.umask(0o077)  # the catalog, the queue's data and the logs are the farm user's alone
    _flags.clear()
    try:
        code = cli(args=argv, standalone_mode=False)
    except (FarmError, StorageError) as exc:
        _fail(str(exc), exc.exit_code)
    except typer.TyperException as exc:  # usage: a bad option, argument or value
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `farm` or `farm catalog`: the help
            typer.echo(exc.format_message())
            sys.exit(2)
        _fail(f"{exc.format_message()} (see `farm --help`)", int(getattr(exc, "exit_code", 2)))
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    typer.echo(f"farm: error: {one_line(message)}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
