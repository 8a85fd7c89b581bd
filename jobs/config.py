"""Settings in one typed class. Sources, later wins: defaults < farm.yaml < environment < CLI."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from jobs.errors import ConfigError

DEFAULT_HOME = Path("~/.local/share/studio-farm")
_MAX_SOCKET_PATH = 100
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


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


class ModelConfig(_Section):
    model_path: Path | None = None


class FarmSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FARM_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )

    home: Path = DEFAULT_HOME
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("redis_url", "FARM_REDIS_URL", "REDIS_URL")
    )
    db_url: str | None = None
    devices: dict[str, DeviceConfig] = Field(default_factory=lambda: {"gpu0": DeviceConfig(vram_mb=16384)})
    threads: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1)
    llm: LlmConfig = Field(default_factory=lambda: LlmConfig())
    midi: MidiConfig = Field(default_factory=lambda: MidiConfig())
    image: ModelConfig = Field(default_factory=lambda: ModelConfig())
    audio: ModelConfig = Field(default_factory=lambda: ModelConfig())
    worker_tags: list[str] = Field(default_factory=lambda: ["midi"])
    namespace: str = Field("farm", pattern=r"^[A-Za-z0-9_.-]+$")
    visibility_timeout_s: int = Field(12 * 3600, ge=10)
    heartbeat_s: float = Field(5.0, gt=0)
    device: str | None = None  # the GPU this worker's heavy jobs lease; None: the first one
    lease_ttl_s: float = Field(30.0, gt=0)
    affinity_window_s: float = Field(60.0, ge=0)
    idle_unload_s: float = Field(300.0, ge=0)
    reconcile_every_s: float = Field(15.0, gt=0)
    shutdown_grace_s: float = Field(60.0, ge=0)  # then running jobs are killed and re-queued

    @property
    def worker_device(self) -> str:
        if self.device is not None:
            if self.device not in self.devices:
                raise ConfigError(
                    f"device '{self.device}' is not configured; known: {', '.join(self.devices)}"
                )
            return self.device
        return next(iter(self.devices))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def store_dir(self) -> Path:
        return self.home_dir / "store"

    @property
    def outputs_dir(self) -> Path:
        return self.home_dir / "outputs"

    @property
    def run_dir(self) -> Path:
        return self.home_dir / "run"

    @property
    def embedded_socket(self) -> Path:
        sock = self.run_dir / "redis.sock"
        if len(str(sock)) < _MAX_SOCKET_PATH:
            return sock
        # Unix socket paths are capped near 108 bytes; deep homes get a short stable one.
        digest = hashlib.sha256(str(self.home_dir).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"studio-farm-{digest}.sock"

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


class _YamlFileSource(PydanticBaseSettingsSource):
    """Values from `--config` / FARM_CONFIG / $FARM_HOME/farm.yaml, when the file exists."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        explicit = os.environ.get("FARM_CONFIG")
        home = Path(os.environ.get("FARM_HOME") or DEFAULT_HOME).expanduser()
        path = Path(explicit).expanduser() if explicit else home / "farm.yaml"
        if not path.exists():
            if explicit:
                raise ConfigError(f"config file {path} does not exist")
            return {}
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {str(exc).splitlines()[0]}") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a mapping of keys, not {type(data).__name__}")
        return data


def load_settings(**overrides: Any) -> FarmSettings:
    """Build settings; any invalid value becomes one ConfigError line."""
    try:
        return FarmSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise ConfigError(f"bad setting {where}: {first['msg']}") from exc


def apply_thread_caps(settings: FarmSettings) -> None:
    """Cap math-library threads; must run before torch, numpy or llama_cpp are imported."""
    for var in THREAD_VARS:
        os.environ[var] = str(settings.threads)
