"""Settings in one typed class. Sources, later wins: defaults < farm.yaml < environment < CLI.

The sources are read here rather than through pydantic-settings: that package imports asyncio
and its own CLI machinery, a quarter of a second that every `farm status` would pay.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)

from jobs.errors import ConfigError, shown
from jobs.schedule import parse_windows
from storage.urls import check_catalog_url

DEFAULT_HOME = Path("~/.local/share/studio-farm")
ENV_PREFIX = "FARM_"
# Variables without the prefix that name a farm setting, as other tools spell them.
ENV_ALIASES = {"REDIS_URL": "redis_url"}
_MAX_SOCKET_PATH = 100
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
# Query options of a Redis URL that both redis-py and kombu understand; anything else would
# fail deep inside a connection, so it is refused when the settings are read.
REDIS_QUERY_OPTIONS = frozenset({
    "db", "socket_timeout", "socket_connect_timeout", "socket_keepalive", "health_check_interval",
    "retry_on_timeout", "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile",
})
REDIS_SCHEMES = ("redis", "rediss", "unix")
PROJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MIN_TOKEN_CHARS = 16
TAGS = ("llm", "midi", "image", "audio")  # the workers' queues: one per resource
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
# A host's name is part of Redis keys and of device names (`studio-pc/gpu0`): no separators.
HOST_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceConfig(_Section):
    vram_mb: int = Field(16384, gt=0)


class LlmConfig(_Section):
    model_path: Path | None = None
    n_ctx: int = Field(3072, ge=256)
    n_threads: int | None = Field(None, ge=1)
    n_gpu_layers: int = Field(0, ge=-1)
    seed: int = 0
    # An OpenAI-compatible server (llama-server, LM Studio, Ollama) tried when the GGUF is not.
    endpoint_url: str | None = None
    endpoint_model: str = ""


class MidiConfig(_Section):
    # A WAV preview of each MIDI job through fluidsynth: "auto" when fluidsynth and the
    # soundfont are found, true to require it, false for none.
    preview: bool | Literal["auto"] = False
    soundfont: Path | None = None  # None: Debian's /usr/share/sounds/sf2/FluidR3_GM.sf2


class DiffusionConfig(_Section):
    """A diffusers model for the `image` or `audio` kind, and how to fit it on its device."""

    model_path: Path | None = None  # a diffusers folder, or (image) one .safetensors file
    config_path: Path | None = None  # a single-file checkpoint's local diffusers config folder
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:[0-9]{1,2})?)$")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False  # accelerate's model CPU offload (on a GPU only)
    safety_checker: bool = False  # image: load the folder's safety checker, if it has one


class WatchFolder(_Section):
    """A watched folder: job files and intents dropped at its top level become jobs of its
    project; `processing/`, `done/` and `failed/` inside it say where each drop is."""

    dir: Path
    project: str = Field("default", pattern=PROJECT_PATTERN)  # unless a job file names one
    priority: int = Field(5, ge=0, le=9)  # unless a job file names one
    kinds: list[str] | None = None  # the kinds a job file may ask for; None: every kind
    images: bool = False  # an intent dropped here is also given cover art
    audio_texture: bool = False  # ... and an audio texture
    bars: int | None = Field(None, ge=1, le=512)  # an intent's length, unless its words say
    max_file_bytes: int | None = Field(None, ge=16)  # None: max_job_file_bytes

    @field_validator("dir")
    @classmethod
    def _dir(cls, folder: Path) -> Path:
        return folder.expanduser()


class FlowerConfig(_Section):
    """Flower, the dashboard, on the farm's broker."""

    address: str = "127.0.0.1"
    port: int = Field(5555, ge=1, le=65535)
    auth: SecretStr | None = None  # "user:password" (basic auth); required off loopback
    max_tasks: int = Field(10000, ge=100)  # what Flower keeps in memory; the catalog keeps all

    @field_validator("auth")
    @classmethod
    def _auth(cls, auth: SecretStr | None) -> SecretStr | None:
        if auth is not None:
            user, sep, password = auth.get_secret_value().partition(":")
            if not (user and sep and password):
                raise ValueError("give flower.auth as user:password")
            if "," in auth.get_secret_value():  # Flower would split it into two credentials
                raise ValueError("flower.auth may not contain a comma; choose another password")
        return auth

    @property
    def on_loopback(self) -> bool:
        return self.address in LOOPBACK_HOSTS


class ApiConfig(_Section):
    """The HTTP API and the studio page (`farm api`)."""

    host: str = "127.0.0.1"
    port: int = Field(8750, ge=1, le=65535)
    uds: Path | None = None  # also a unix socket, created 0600
    token: SecretStr | None = None  # bearer token; required off loopback
    cors_origins: list[str] = Field(default_factory=list)  # none: no CORS at all
    max_body_bytes: int = Field(1 << 20, ge=1024, le=64 << 20)

    @field_validator("token")
    @classmethod
    def _token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None:
            value = token.get_secret_value()
            if len(value) < MIN_TOKEN_CHARS or not value.isascii() or not value.isprintable() \
                    or " " in value:
                raise ValueError(f"give api.token as at least {MIN_TOKEN_CHARS} printable ASCII "
                                 "characters without spaces (python3 -c 'import secrets; "
                                 "print(secrets.token_urlsafe())')")
        return token

    @field_validator("uds")
    @classmethod
    def _uds(cls, path: Path | None) -> Path | None:
        if path is not None and len(str(path.expanduser())) >= _MAX_SOCKET_PATH:
            raise ValueError(f"a unix socket path must be shorter than {_MAX_SOCKET_PATH} "
                             "characters")
        return None if path is None else path.expanduser()

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
                raise ValueError(f"api.cors_origins: {shown(origin, 60)} is not an origin like "
                                 "http://studio.local:3000 (a scheme and a host, no path, no *)")
        return origins

    @property
    def on_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS
def _windows(text: str) -> str:
    parse_windows(text)  # ValueError saying what is wrong
    return text


def _schedule_key(name: str) -> str:
    if name != "heavy" and name not in TAGS:
        raise ValueError(f"{shown(name, 40)} is neither heavy nor a tag ({', '.join(TAGS)})")
    return name


Windows = Annotated[str, AfterValidator(_windows)]  # "22:00-08:00" (see jobs.schedule)
ScheduleKey = Annotated[str, AfterValidator(_schedule_key)]  # heavy, or a tag


class FailurePolicy(_Section):
    """What the farm does when a job of a kind fails or stops moving."""

    retries: int = Field(0, ge=0, le=100)  # attempts after the first, on failure
    backoff_s: float = Field(10.0, ge=0, le=86400)  # before the first retry; doubles after
    same_error_limit: int = Field(3, ge=1, le=100)  # the same error this often: failed for good
    stall_s: float | None = Field(None, gt=0, le=7 * 86400)  # no progress this long: killed


class StoreConfig(_Section):
    """Where the blobs are: FARM_HOME/store, or a folder every host of a farm mounts (NFS,
    SMB) at `path`, so what one host stores another reads."""

    path: Path | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, folder: Path | None) -> Path | None:
        return None if folder is None else folder.expanduser()


class UpConfig(_Section):
    """What `farm up` starts beside Redis, the workers and the reconciler."""

    watch: bool = True  # the watcher, for every folder in `watch` (default: FARM_HOME/inbox)
    flower: bool = True
    api: bool = True  # the API and the studio page (on loopback unless api.token is set)


class FarmSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: Path = DEFAULT_HOME
    # This machine in a farm of several: its workers announce it, and its devices are named
    # by it (`<host>/gpu0`) where they meet Redis and the catalog.
    host: str = Field(default_factory=socket.gethostname)
    redis_url: str | None = None
    db_url: str | None = None
    devices: dict[str, DeviceConfig] = Field(default_factory=lambda: {"gpu0": DeviceConfig()})
    threads: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1)
    llm: LlmConfig = Field(default_factory=lambda: LlmConfig())
    midi: MidiConfig = Field(default_factory=lambda: MidiConfig())
    image: DiffusionConfig = Field(default_factory=lambda: DiffusionConfig())
    audio: DiffusionConfig = Field(default_factory=lambda: DiffusionConfig())
    worker_tags: list[str] = Field(default_factory=lambda: ["midi"])
    namespace: str = Field("farm", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    visibility_timeout_s: int = Field(12 * 3600, ge=10)
    heartbeat_s: float = Field(5.0, gt=0)
    device: str | None = None  # the GPU this worker's heavy jobs lease; None: the first one
    lease_ttl_s: float = Field(30.0, gt=0)
    affinity_window_s: float = Field(60.0, ge=0)
    idle_unload_s: float = Field(300.0, ge=0)
    reconcile_every_s: float = Field(15.0, gt=0)
    shutdown_grace_s: float = Field(60.0, ge=0)  # then running jobs are killed and re-queued
    # SQLite waits this long for a write lock; the catalog then retries for db_retry_s more
    # before a worker leaves its job to the reconciler (a CLI command gives up sooner).
    db_busy_timeout_s: float = Field(30.0, gt=0)
    db_retry_s: float = Field(300.0, ge=0)
    max_job_file_bytes: int = Field(1 << 20, ge=1024)  # job files are refused above this
    watch: list[WatchFolder] = Field(default_factory=list)
    # A drop is taken once nobody writes it and its size and mtime held this long.
    watch_settle_s: float = Field(0.5, ge=0, le=600)
    watch_rescan_s: float = Field(2.0, gt=0, le=3600)  # a full look besides the file events
    flower: FlowerConfig = Field(default_factory=lambda: FlowerConfig())
    api: ApiConfig = Field(default_factory=lambda: ApiConfig())
    up: UpConfig = Field(default_factory=lambda: UpConfig())
    store: StoreConfig = Field(default_factory=lambda: StoreConfig())
    # When jobs may start: {"heavy": "22:00-08:00"} for jobs that take a GPU, or a tag's name
    # for all of that tag's jobs; local time plus clock_offset_s (see jobs.schedule).
    schedule: dict[ScheduleKey, Windows] = Field(default_factory=dict)
    clock_offset_s: float = Field(0.0, ge=-7 * 86400, le=7 * 86400)
    disk_min_free_mb: int = Field(512, ge=0)  # below this under FARM_HOME heavy jobs wait
    policies: dict[str, FailurePolicy] = Field(default_factory=dict)  # per kind, or "default"
    blocklist_after: int = Field(3, ge=0)  # failures of a kind in a row on one worker; 0: never
    _config_file: Path | None = PrivateAttr(None)  # the farm.yaml these settings were read from

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        return None if url is None else check_redis_url(url)

    @field_validator("host")
    @classmethod
    def _host(cls, host: str) -> str:
        if not re.match(HOST_PATTERN, host):
            raise ValueError(f"{shown(host, 70)} is not a plain name (letters, digits, '.', '_', "
                             "'-'; at most 63); set FARM_HOST")
        return host

    @field_validator("db_url")
    @classmethod
    def _db_url(cls, url: str | None) -> str | None:
        return None if url is None else check_catalog_url(url)

    @field_validator("policies")
    @classmethod
    def _policies(cls, policies: dict[str, FailurePolicy]) -> dict[str, FailurePolicy]:
        for name in policies:
            if not re.match(KIND_PATTERN, name):
                raise ValueError(f"{shown(name, 40)} is not a kind's name (or default)")
        return policies

    def policy(self, kind: str) -> FailurePolicy:
        return self.policies.get(kind) or self.policies.get("default") or FailurePolicy()

    @property
    def config_file(self) -> Path | None:
        return self._config_file

    @property
    def worker_device(self) -> str:
        if self.device is not None:
            if self.device not in self.devices:
                raise ConfigError(f"device {shown(self.device)} is not configured; "
                                  f"known: {', '.join(self.devices)}")
            return self.device
        return next(iter(self.devices))

    def qualified(self, device: str) -> str:
        """A device of this host as the whole farm names it: two hosts' `gpu0` are two
        devices, each with its own lease and fence. The config names devices locally."""
        return f"{self.host}/{device}"

    @property
    def lease_device(self) -> str:
        """The device this worker's heavy jobs lease, qualified by its host."""
        return self.qualified(self.worker_device)

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def store_dir(self) -> Path:
        return self.store.path or self.home_dir / "store"

    @property
    def watch_folders(self) -> list[WatchFolder]:
        """The configured watched folders, else the farm's own inbox."""
        return self.watch or [WatchFolder(dir=self.home_dir / "inbox")]

    @property
    def outputs_dir(self) -> Path:
        return self.home_dir / "outputs"

    @property
    def weights_hash_cache(self) -> Path:
        return self.home_dir / "models" / "hashes.json"

    @property
    def run_dir(self) -> Path:
        return self.home_dir / "run"

    @property
    def embedded_socket(self) -> Path:
        """The embedded Redis socket: in FARM_HOME/run/ (private to the farm's user) or, when
        that path is too long for a unix socket, in a private folder of this user's."""
        sock = self.run_dir / "redis.sock"
        if len(str(sock)) < _MAX_SOCKET_PATH:
            return sock
        digest = hashlib.sha256(str(self.home_dir).encode()).hexdigest()[:16]
        return short_socket_dir() / f"{digest}.sock"

    @property
    def catalog_url(self) -> str:
        return self.db_url or f"sqlite:///{self.home_dir / 'catalog.db'}"

    @property
    def redis_client_url(self) -> str:
        """A URL for redis-py: the configured server, else the embedded unix socket."""
        return self.redis_url or f"unix://{self.embedded_socket}"

    @property
    def broker_url(self) -> str:
        """The same server in kombu's spelling (`redis+socket://` for a unix socket)."""
        url = self.redis_client_url
        if url.startswith("unix://"):
            return "redis+socket://" + url.removeprefix("unix://")
        return url


def short_socket_dir() -> Path:
    """A folder only this user can create or enter: $XDG_RUNTIME_DIR, else /tmp, each with a
    folder of the user's own (checked before use, see jobs.broker.private_dir)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime and Path(runtime).is_dir() else Path("/tmp")
    return base / f"studio-farm-{os.getuid()}"


def check_redis_url(url: str) -> str:
    """The URL when redis-py and kombu can both use it; ValueError saying what is wrong."""
    try:
        parts = urlsplit(url)
        options = [name for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:  # its own words may quote the password: say only where to look
        raise ValueError("Redis URL is malformed: check the host, the port (a number) and "
                         "that a password is written redis://:PASSWORD@host:port/db") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(f"Redis URL scheme {shown(parts.scheme or url, 24)} is not supported; "
                         "use redis://[:password@]host:port/db, rediss:// or unix:///path.sock")
    unknown = sorted(set(options) - REDIS_QUERY_OPTIONS)
    if unknown:
        raise ValueError(f"Redis URL option {shown(unknown[0], 40)} is not supported; known: "
                         f"{', '.join(sorted(REDIS_QUERY_OPTIONS))}")
    return url


def _yaml_values(path: Path, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {shown(str(path), 200)} does not exist")
        return {}
    from jobs.safe_yaml import YamlRefused, load_yaml

    try:
        data = load_yaml(path.read_text())
    except (OSError, UnicodeDecodeError, YamlRefused, RecursionError) as exc:
        raise ConfigError(f"cannot read config {path}: {str(exc).splitlines()[0]}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping of keys, not {type(data).__name__}")
    return data


# Settings given whole in one variable as JSON (FARM_DEVICES='{"gpu0": {"vram_mb": 8000}}');
# every other one is text, which pydantic converts.
_STRUCTURED = {"devices", "worker_tags", "llm", "midi", "image", "audio", "watch", "flower", "api",
               "up", "store", "schedule", "policies"}


def _env_values(environ: dict[str, str]) -> dict[str, Any]:
    """FARM_* variables of known settings (FARM_LLM__N_CTX is llm.n_ctx); others are left
    alone, as other tools may use the prefix too."""
    fields = set(FarmSettings.model_fields)
    values: dict[str, Any] = {}
    for var, raw in sorted(environ.items()):
        if var in ENV_ALIASES:
            path = [ENV_ALIASES[var]]
        elif var.startswith(ENV_PREFIX):
            path = var.removeprefix(ENV_PREFIX).lower().split("__")
        else:
            continue
        if path[0] not in fields or not all(path):
            continue
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"environment variable {var} sets a part of a value given whole")
        target[path[-1]] = _env_value(raw) if len(path) > 1 or path[0] in _STRUCTURED else raw
    if "FARM_REDIS_URL" in environ:  # the farm's own spelling wins over the common one
        values["redis_url"] = environ["FARM_REDIS_URL"]
    return values


def _env_value(raw: str) -> Any:
    """Lists and mappings are written as JSON; everything else is taken as text."""
    if raw[:1] in "[{":
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            return raw
    return raw


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(config: Path | str | None = None, **overrides: Any) -> FarmSettings:
    """Settings from the config file, the environment and `overrides` (CLI flags; None means
    not given). The file is `config`, else FARM_CONFIG, else farm.yaml in the farm's home.
    Any invalid value becomes one ConfigError line."""
    environ = dict(os.environ)
    given = {k: v for k, v in overrides.items() if v is not None}
    env = _env_values(environ)
    explicit = config or environ.get("FARM_CONFIG")
    home = Path(str(given.get("home") or env.get("home") or DEFAULT_HOME)).expanduser()
    path = Path(explicit).expanduser() if explicit else home / "farm.yaml"
    from_file = _yaml_values(path, bool(explicit))
    values = _merge(_merge(from_file, env), given)
    try:
        settings = FarmSettings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if p != "[key]")  # a bad key is said at its name
        where = ".".join(str(p) for p in loc) or "config"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown setting"
        line = _line_of(path, loc) if _given_by(from_file, loc, env, given) else None
        at = f"{path} line {line}: " if line else ""
        raise ConfigError(f"{at}bad setting {where}: {message}") from exc
    settings._config_file = path if path.exists() else None
    return settings


def _given_by(from_file: dict[str, Any], loc: tuple[Any, ...], *overriding: dict[str, Any]) -> bool:
    """Whether the value at `loc` is the config file's (no variable or flag set it)."""
    def has(values: Any) -> bool:
        for part in loc:
            if not isinstance(values, dict) or part not in values:
                return False
            values = values[part]
        return True

    return has(from_file) and not any(has(o) for o in overriding)


def _line_of(path: Path, loc: tuple[Any, ...]) -> int | None:
    """The line of the config file where the setting at `loc` is written (keys in order,
    each further in), for an error that points at it."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    at, indent = 0, -1
    for part in (str(p) for p in loc):
        key = re.compile(rf"^(\s*)(-\s+)?[\"']?{re.escape(part)}[\"']?\s*:")
        for number in range(at, len(lines)):
            match = key.match(lines[number])
            if match and len(match.group(1)) > indent:
                at, indent = number + 1, len(match.group(1))
                break
        else:
            return None
    return at


def apply_thread_caps(settings: FarmSettings) -> None:
    """Cap math-library threads; must run before torch, numpy or llama_cpp are imported."""
    for var in THREAD_VARS:
        os.environ[var] = str(settings.threads)
