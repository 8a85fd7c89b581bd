"""The `farm` command line. Every command takes --json; user errors are one line and an exit code.

Only click is imported up front: each command imports what it needs when it runs, so that
`farm --help`, `farm status` and `farm ls` stay quick enough for scripts to call in loops.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from jobs.errors import BadJobSpec, FarmError, one_line, shown
from storage.errors import StorageError

if TYPE_CHECKING:
    from jobs.config import FarmSettings

_flags: dict[str, Any] = {}
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def settings(serving: bool = False) -> FarmSettings:
    """The farm's settings, with the global flags (--home, --config, ...) over the rest. A
    command someone waits for gives up on a busy catalog sooner than a serving process."""
    from jobs.config import load_settings
    from jobs.home import CLI_DB_RETRY_S

    conf = load_settings(**_flags)
    if serving or conf.db_retry_s <= CLI_DB_RETRY_S:
        return conf
    return conf.model_copy(update={"db_retry_s": CLI_DB_RETRY_S})


def emit(doc: Any, as_json: bool, human: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True, default=str))
    elif human is not None:
        click.echo(human)


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        command)


@click.group(context_settings=CONTEXT, no_args_is_help=True,
             help="studio-farm: an offline render farm for music.")
@click.option("--config", type=click.Path(path_type=Path), help="Config file (farm.yaml).")
@click.option("--home", type=click.Path(path_type=Path), help="FARM_HOME folder.")
@click.option("--redis-url", help="Redis URL.")
@click.option("--db-url", help="Catalog database URL.")
def cli(config: Path | None, home: Path | None, redis_url: str | None, db_url: str | None) -> None:
    # Processes the farm starts (workers) are given the resulting settings explicitly.
    _flags.update(config=config, home=home, redis_url=redis_url, db_url=db_url)


@cli.command()
@click.argument("intent", default="moody triphop at 90 bpm")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the music.")
@click.option("--timeout", type=float, default=300, show_default=True,
              help="Seconds to wait for the music.")
@json_option
def demo(intent: str, seed: int, timeout: float, as_json: bool) -> None:
    """Start an embedded farm, make music from INTENT, print where it is, stop everything."""
    from jobs.demo import run_demo

    doc = run_demo(settings(serving=True), intent, seed, timeout, say=None if as_json else click.echo)
    emit(doc, as_json)
    if doc["state"] != "SUCCEEDED":
        raise SystemExit(1)


@cli.command()
@click.option("--tags", help="Tags to run workers for (config: worker_tags).")
def up(tags: str | None) -> None:
    """Run a local farm: Redis, a worker per tag, the reconciler. Ctrl-C stops it all."""
    from jobs.up import run_farm

    conf = settings(serving=True)
    wanted = [t.strip() for t in tags.split(",")] if tags else conf.worker_tags
    run_farm(conf, wanted, say=click.echo)


@cli.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option("--project", help="Project of FOLDER's jobs (default: as configured, else default).")
@json_option
def watch(folder: Path | None, project: str | None, as_json: bool) -> None:
    """Watch folders (config: watch; default FARM_HOME/inbox): dropped job files and intents
    become jobs; each ends in done/ beside its result, or in failed/ saying why."""
    import threading

    from jobs.config import WatchFolder
    from jobs.processes import stop_on_signals
    from jobs.watch import Watcher

    conf = settings(serving=True)
    folders = conf.watch_folders
    if folder is not None:
        known = [f for f in folders if f.dir.resolve() == folder.resolve()]
        folders = [known[0] if known else WatchFolder(dir=folder)]
    if project is not None:
        if len(folders) != 1:
            raise BadJobSpec("--project names the project of one folder: give FOLDER too")
        folders = [_validated(WatchFolder, {**folders[0].model_dump(), "project": project},
                              "--project")]
    # What lands in a watched folder is for the musician's other programs (a DAW, a share):
    # readable as the folder is; FARM_HOME, where this process also writes, stays 0700.
    os.umask(0o022)
    say = (lambda line: click.echo(json.dumps({"message": line}))) if as_json else click.echo
    watcher = Watcher(conf, folders, say)
    stop = threading.Event()
    stop_on_signals(stop, watcher.wake)
    watcher.run(stop)


def _validated(model: Any, values: dict[str, Any], what: str) -> Any:
    """A settings section with a flag's value in it, checked as the config file's would be."""
    from pydantic import ValidationError

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise BadJobSpec(f"{what}: {exc.errors()[0]['msg']}") from None


@cli.command()
@click.option("--address", help="Address to listen on (config flower.address; 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (config flower.port; 5555).")
def flower(address: str | None, port: int | None) -> None:
    """Flower, the dashboard, on this farm's broker (basic auth from flower.auth; required
    off loopback). Flower forgets on restart: the catalog (farm ls) is the history."""
    from jobs.flower import run_flower

    conf = settings(serving=True)
    changed = {k: v for k, v in {"address": address, "port": port}.items() if v is not None}
    if changed:
        from jobs.config import FlowerConfig

        merged = {**conf.flower.model_dump(), **changed, "auth": conf.flower.auth}
        conf = conf.model_copy(update={"flower": _validated(FlowerConfig, merged,
                                                            "--address/--port")})
    raise SystemExit(run_flower(conf, click.echo))


@cli.command()
@click.option("--host", help="Address to listen on (config api.host; 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (config api.port; 8750).")
@click.option("--uds", type=click.Path(path_type=Path, dir_okay=False),
              help="Also a unix socket, mode 0600 (config api.uds).")
def api(host: str | None, port: int | None, uds: Path | None) -> None:
    """The HTTP API with live events, and the studio page at / (bearer token from api.token;
    required off loopback)."""
    from jobs.api.server import run_api

    conf = settings()  # a request is someone waiting: the CLI's patience with a busy catalog
    changed = {k: v for k, v in {"host": host, "port": port, "uds": uds}.items() if v is not None}
    if changed:
        from jobs.config import ApiConfig

        merged = {**conf.api.model_dump(), **changed, "token": conf.api.token}
        conf = conf.model_copy(update={"api": _validated(ApiConfig, merged, "--host/--port/--uds")})
    run_api(conf, click.echo)


@cli.group(invoke_without_command=True)
@click.option("--tags", default="midi", show_default=True,
              help="Comma-separated queue tags to consume.")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes running jobs.")
@click.option("--pool", default="prefork", show_default=True, help="Celery pool: prefork or solo.")
@click.option("--loglevel", default="INFO", show_default=True, help="Log level.")
@json_option
@click.pass_context
def worker(ctx: click.Context, tags: str, concurrency: int, pool: str, loglevel: str,
           as_json: bool) -> None:
    """Run one worker process consuming the given tags' queues (or `farm worker unblock`)."""
    if ctx.invoked_subcommand is not None:
        return
    from jobs.broker import check_redis
    from jobs.config import apply_thread_caps
    from jobs.kinds import TAGS, check_policies

    known = list(TAGS)
    wanted = [t.strip() for t in tags.split(",") if t.strip()]
    if not wanted or any(t not in known for t in wanted):
        raise BadJobSpec(f"--tags {shown(tags, 60)}: known tags are {', '.join(known)}")
    if pool not in ("prefork", "solo"):
        raise BadJobSpec(f"--pool {shown(pool, 30)}: use prefork or solo")
    conf = settings(serving=True)
    check_policies(conf)
    apply_thread_caps(conf)
    from jobs.app import make_app
    from jobs.hosts import check_joining
    from jobs.transport import install

    check_joining(conf, check_redis(conf))  # one farm, one catalog; one FARM_HOST, one machine
    install(conf)  # an unreadable queue entry is set aside, not the end of the worker
    nodename = f"{'+'.join(wanted)}-{os.getpid()}@{conf.host}"
    emit({"nodename": nodename, "tags": wanted, "pid": os.getpid()}, as_json)
    make_app(conf).worker_main(["worker", "-Q", ",".join(wanted), "-c", str(concurrency),
                                "-P", pool, "-n", nodename, "--loglevel", loglevel, "-E",
                                "--without-gossip", "--without-mingle"])


@worker.command("unblock")
@click.argument("name", required=False)
@click.option("--kind", help="Only this kind (default: every kind it refuses).")
@json_option
def worker_unblock(name: str | None, kind: str | None, as_json: bool) -> None:
    """Let a worker take the kinds it stopped taking after failing them in a row (default:
    every worker)."""
    from jobs.queue_control import unblock

    doc = unblock(settings(), name, kind)
    emit(doc, as_json, doc["message"])


def _tags_option(tags: str | None) -> list[str]:
    from jobs.kinds import TAGS

    wanted = [t.strip() for t in (tags or "").split(",") if t.strip()]
    if tags is not None and (not wanted or any(t not in TAGS for t in wanted)):
        raise BadJobSpec(f"--tags {shown(tags, 60)}: known tags are {', '.join(TAGS)}")
    return wanted


@cli.command()
@click.option("--now", is_flag=True, help="Put running jobs back in line (attempt not counted).")
@click.option("--tags", help="Only these queues (comma-separated; default: all).")
@json_option
def pause(now: bool, tags: str | None, as_json: bool) -> None:
    """Stop starting jobs (running ones finish) and free the GPU, until `farm resume`; kept
    across restarts."""
    from jobs.queue_control import pause as pause_farm

    doc = pause_farm(settings(), _tags_option(tags), now)
    emit(doc, as_json, doc["message"])


@cli.command()
@click.option("--tags", help="Only these queues (comma-separated; default: all paused).")
@json_option
def resume(tags: str | None, as_json: bool) -> None:
    """Go on after `farm pause`: held jobs are sent again in their order."""
    from jobs.queue_control import resume as resume_farm

    doc = resume_farm(settings(), _tags_option(tags))
    emit(doc, as_json, doc["message"])


@cli.command()
@click.argument("job_id")
@click.argument("priority", type=click.IntRange(0, 9))
@json_option
def priority(job_id: str, priority: int, as_json: bool) -> None:
    """Give a waiting job a new priority (0..9, 9 most urgent)."""
    from jobs.queue_control import set_priority

    doc = set_priority(settings(), job_id, priority)
    emit(doc, as_json, doc["message"])


@cli.command()
@click.argument("job_id")
@click.option("--before", "other", required=True, help="The waiting job it should go before.")
@json_option
def move(job_id: str, other: str, as_json: bool) -> None:
    """Put a waiting job right before another one (it takes that one's priority)."""
    from jobs.queue_control import move_before

    doc = move_before(settings(), job_id, other)
    emit(doc, as_json, doc["message"])


@cli.command()
@click.option("--device", help="Only this device's line (gpu0 of this host, or HOST/gpu0).")
@json_option
def queue(device: str | None, as_json: bool) -> None:
    """The planned order on each device and queue, and why each job waits."""
    from jobs.queue_control import planned_order, queue_text

    lines = planned_order(settings(), device)
    emit(lines, as_json, queue_text(lines))


@cli.command()
@click.argument("kind", required=False)
@click.option("--param", "-p", "param", multiple=True, help="name=value (repeatable).")
@click.option("--file", "-f", "file", type=click.Path(path_type=Path), help="Job spec file.")
@click.option("--seed", type=int, help="Seed (random if not given).")
@click.option("--priority", type=int, help="0..9, 9 most urgent.")
@click.option("--project", help="Project name.")
@click.option("--after", multiple=True, help="Run after this job (repeatable).")
@click.option("--idempotency-key", "key", help="Same key, one job.")
@json_option
def submit(kind: str | None, param: tuple[str, ...], file: Path | None, seed: int | None,
           priority: int | None, project: str | None, after: tuple[str, ...], key: str | None,
           as_json: bool) -> None:
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
        data["depends_on"] = list(data.get("depends_on", [])) + list(after)
    job, created = submit_job(conf, parse_spec(data, str(file or "job")))
    emit({"job_id": job.id, "kind": job.kind, "state": str(job.state), "created": created,
          "seed": job.seed}, as_json, job.id)


@cli.command()
@click.argument("intent")
@click.option("--images", is_flag=True, help="Also render cover art.")
@click.option("--audio-texture", is_flag=True, help="Also an audio bed.")
@click.option("--bars", type=click.IntRange(1, 512), help="Length in bars.")
@click.option("--seed", type=int, help="Seed (random if not given).")
@click.option("--priority", type=click.IntRange(0, 9), default=5, show_default=True,
              help="0..9, 9 most urgent.")
@click.option("--project", default="default", show_default=True, help="Project name.")
@click.option("--wait", "wait_", is_flag=True, help="Wait for the whole graph.")
@click.option("--timeout", type=float, default=3600, show_default=True,
              help="Seconds --wait waits (exit 4).")
@json_option
def render(intent: str, images: bool, audio_texture: bool, bars: int | None, seed: int | None,
           priority: int, project: str, wait_: bool, timeout: float, as_json: bool) -> None:
    """The studio graph: intent -> MIDI (-> cover image, audio texture)."""
    from jobs.render import plan_render, render_text, submit_render, wait_render

    conf = settings()
    result = submit_render(conf, plan_render(intent, images, audio_texture, bars, conf), seed,
                           priority, project)
    docs = wait_render(conf, result["jobs"], timeout) if wait_ else None
    emit({**result, "results": docs}, as_json, render_text(result, docs))
    if docs and any(d["state"] != "SUCCEEDED" for d in docs.values()):
        raise SystemExit(1)


@cli.command()
@click.argument("job_id")
@json_option
def status(job_id: str, as_json: bool) -> None:
    """State, progress, why it waits, attempts and artifacts of a job."""
    from jobs.queries import job_status, status_text

    doc = job_status(settings(), job_id)
    emit(doc, as_json, status_text(doc))


@cli.command()
@click.argument("job_id")
@click.option("--timeout", type=click.FloatRange(min=0), default=3600, show_default=True,
              help="Seconds before giving up (exit 4).")
@json_option
def wait(job_id: str, timeout: float, as_json: bool) -> None:
    """Wait until a job ends; exit 1 if it failed or was cancelled, 4 on timeout."""
    from jobs.queries import status_text, wait_for_job

    def show(line: str) -> None:  # for a person at a terminal, not for a script's pipe
        click.echo(f"{job_id[:12]} {line}", err=True)

    tell = show if not as_json and sys.stderr.isatty() else None
    doc = wait_for_job(settings(), job_id, timeout, on_change=tell)
    emit(doc, as_json, status_text(doc))
    if doc["state"] != "SUCCEEDED":
        raise SystemExit(1)


@cli.command("ls")
@click.option("--state", multiple=True, help="Only jobs in this state (repeatable).")
@click.option("--kind", multiple=True, help="Only jobs of this kind (repeatable).")
@click.option("--project", multiple=True, help="Only jobs of this project (repeatable).")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@json_option
def list_jobs(state: tuple[str, ...], kind: tuple[str, ...], project: tuple[str, ...], limit: int,
              as_json: bool) -> None:
    """Jobs in the catalog, newest first."""
    from jobs.queries import jobs_table, list_docs

    docs = list_docs(settings(), list(state), list(kind), limit, list(project))
    emit(docs, as_json, jobs_table(docs))


@cli.command()
@click.argument("job_id")
@json_option
def cancel(job_id: str, as_json: bool) -> None:
    """Cancel a queued or running job."""
    from jobs.control import cancel_job

    doc = cancel_job(settings(), job_id)
    emit(doc, as_json, doc["message"])


@cli.command()
@click.argument("job_id")
@json_option
def retry(job_id: str, as_json: bool) -> None:
    """Queue a failed or cancelled job again (same id, same seed, next attempt)."""
    from jobs.control import retry_job

    doc = retry_job(settings(), job_id)
    emit(doc, as_json, doc["message"])


@cli.command()
@click.argument("job_id")
@json_option
def artifacts(job_id: str, as_json: bool) -> None:
    """The files a job made, with hashes and paths."""
    from jobs.queries import artifacts_text, job_status

    doc = job_status(settings(), job_id, explain=False)
    emit(doc["artifacts"], as_json, artifacts_text(doc))


@cli.command()
@click.argument("node_id")
@json_option
def lineage(node_id: str, as_json: bool) -> None:
    """Where an artifact or job came from: its job, inputs, intent and model file."""
    from jobs.lineage import lineage_doc, lineage_text

    doc = lineage_doc(settings(), node_id)
    emit(doc, as_json, lineage_text(doc))


@cli.command()
@click.argument("job_id")
@click.argument("dest", type=click.Path(path_type=Path))
@json_option
def export(job_id: str, dest: Path, as_json: bool) -> None:
    """Copy a job's artifacts into DEST as plain files (hashes checked)."""
    from jobs.control import export_job

    paths = export_job(settings(), job_id, dest)
    emit([str(p) for p in paths], as_json, "\n".join(str(p) for p in paths))


@cli.command()
@click.option("--every", type=click.FloatRange(min=0.5), help="Run a pass every SECONDS until "
              "stopped (one reconciler beside workers on other machines, say).")
@json_option
def reconcile(every: float | None, as_json: bool) -> None:
    """Re-send catalogued jobs that Redis lost; re-queue jobs whose worker vanished."""
    import threading

    from jobs.broker import check_redis
    from jobs.home import open_catalog
    from jobs.processes import stop_on_signals
    from jobs.reconcile import reconcile_once

    conf = settings(serving=every is not None)
    stop = threading.Event()
    stop_on_signals(stop)
    while True:
        try:
            doc = reconcile_once(conf, open_catalog(conf), check_redis(conf))
        except (FarmError, StorageError) as exc:
            if every is None:
                raise
            click.echo(f"farm reconcile: {one_line(str(exc))}; trying again", err=True)
            if stop.wait(every):
                return
            continue
        human = ("another reconciler pass is running" if doc["skipped"] else
                 ", ".join(f"{k}: {len(v)}" for k, v in doc.items() if k != "skipped"))
        if every is None or any(v for k, v in doc.items() if k != "skipped"):
            emit(doc, as_json, human)
        if every is None or stop.wait(every):
            return


@cli.command()
@json_option
def gpu(as_json: bool) -> None:
    """Who holds each GPU, which model is resident, who waits and why."""
    from jobs.queries import gpu_docs, gpu_text

    docs = gpu_docs(settings())
    emit(docs, as_json, gpu_text(docs))


@cli.command()
@json_option
def hosts(as_json: bool) -> None:
    """The farm's hosts: their workers' tags, devices, last beat and running jobs."""
    from jobs.broker import check_redis
    from jobs.hosts import hosts_doc, hosts_text

    conf = settings()
    docs = hosts_doc(conf, check_redis(conf))
    emit(docs, as_json, hosts_text(docs))


@cli.command()
@json_option
def doctor(as_json: bool) -> None:
    """Check the environment: home, catalog, Redis, workers, optional libraries."""
    from jobs.doctor import doctor_text, run_checks

    checks = run_checks(settings())
    emit(checks, as_json, doctor_text(checks))
    failed = [c for c in checks if c["status"] == "fail"]
    if failed:
        raise SystemExit(max(int(c.get("exit_code", 3)) for c in failed))


@cli.group("catalog", no_args_is_help=True)
def catalog_cli() -> None:
    """Check, clean and back up the store and the catalog."""


@catalog_cli.command("verify")
@json_option
def catalog_verify(as_json: bool) -> None:
    """Re-hash every referenced blob; exit 1 naming any missing or corrupt one."""
    from jobs.integrity import verify_store

    doc = verify_store(settings())
    lines = [f"{p['problem']}: {p['path']} (job {p['job_id'][:12]}, {p['name']})"
             for p in doc["problems"]]
    emit(doc, as_json, "\n".join(lines + [f"{doc['checked']} blobs checked, "
                                           f"{len(doc['problems'])} problems"]))
    if doc["problems"]:
        raise SystemExit(1)


@catalog_cli.command("gc")
@click.option("--delete", is_flag=True, help="Really remove (default: dry run).")
@json_option
def catalog_gc(delete: bool, as_json: bool) -> None:
    """Blobs no artifact references, and unfinished writes; removed only with --delete."""
    from jobs.integrity import collect_garbage

    doc = collect_garbage(settings(), delete)
    verb = "removed" if delete else "would remove (dry run; --delete to remove)"
    emit(doc, as_json, f"{verb} {len(doc['orphans'])} blobs and "
                       f"{len(doc['leftovers'])} unfinished writes, {doc['bytes']} bytes")


@catalog_cli.command("backup")
@click.argument("dest", required=False, type=click.Path(path_type=Path))
@json_option
def catalog_backup(dest: Path | None, as_json: bool) -> None:
    """A consistent copy of a SQLite catalog, safe to take while the farm runs (default
    DEST: a new file in FARM_HOME/backups)."""
    from jobs.backup import backup_catalog

    path = backup_catalog(settings(), dest)
    emit({"backup": str(path)}, as_json, str(path))


@cli.group("models", no_args_is_help=True)
def models_cli() -> None:
    """The model registry: what the farm loads, its hash, load time and VRAM."""


@models_cli.command("ls")
@json_option
def models_ls(as_json: bool) -> None:
    """Every model the farm has registered or loaded."""
    from jobs.models import list_models, models_text

    rows = list_models(settings())
    emit(rows, as_json, models_text(rows))


@models_cli.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
def models_add(path: Path, as_json: bool) -> None:
    """Register a diffusers folder or .safetensors file: its kind and its weights' sha256."""
    from jobs.models import add_model, models_text

    row = add_model(settings(), path)
    emit(row, as_json, models_text([row]))


@models_cli.command("tiny")
@click.argument("dest", type=click.Path(path_type=Path))
@json_option
def models_tiny(dest: Path, as_json: bool) -> None:
    """Build tiny random-weight image and audio pipelines in DEST, for smoke tests (their
    output is noise)."""
    import subprocess

    # Pipeline code (and torch), which `jobs` does not import: it runs as its own module.
    args = [sys.executable, "-P", "-m", "pipelines.tiny", str(dest)] + (
        ["--json"] if as_json else [])
    raise SystemExit(subprocess.run(args, check=False).returncode)


@cli.group("midi", no_args_is_help=True)
def midi_cli() -> None:
    """MIDI tools."""


@midi_cli.command("report")
@click.argument("file", type=click.Path(path_type=Path))
@json_option
def midi_report(file: Path, as_json: bool) -> None:
    """The report card of any MIDI file: pitch, harmony, rhythm, and where it leaves the bands."""
    import subprocess

    # The card is pipeline code, which `jobs` does not import: it runs as its own module.
    args = [sys.executable, "-P", "-m", "pipelines.midi.report", str(file)] + (
        ["--json"] if as_json else [])
    raise SystemExit(subprocess.run(args, check=False).returncode)


def main(argv: list[str] | None = None) -> None:
    """The `farm` command: any problem of the user's is one line on stderr and an exit code
    (2 usage, 3 Redis or catalog, 1 job failed, 4 timed out); anything else is a bug."""
    os.umask(0o077)  # the catalog, the queue's data and the logs are the farm user's alone
    _flags.clear()
    try:
        code = cli.main(args=argv, prog_name="farm", standalone_mode=False)
    except (FarmError, StorageError) as exc:
        _fail(str(exc), exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `farm` or `farm catalog`: the help
        click.echo(exc.format_message())
        sys.exit(2)
    except click.ClickException as exc:  # usage: a bad option, argument or value
        _fail(f"{exc.format_message()} (see `farm --help`)", exc.exit_code)
    except (KeyboardInterrupt, click.Abort):
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo(f"farm: error: {one_line(message)}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
