"""A job spec: kind, validated params, seed, priority, project, dependencies, idempotency key."""

from __future__ import annotations

import hashlib
import json
import secrets
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from jobs.config import PROJECT_PATTERN
from jobs.errors import BadJobSpec, shown
from jobs.kinds import kind_info
from jobs.safe_yaml import YamlRefused, load_yaml

SPEC_SUFFIXES = (".json", ".yaml", ".yml", ".toml")
MAX_SEED = 2**32 - 1


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    priority: int = Field(5, ge=0, le=9)
    project: str = Field("default", pattern=PROJECT_PATTERN)
    depends_on: list[str] = Field(default_factory=list)
    idempotency_key: str | None = Field(None, min_length=1, max_length=128)
    # The params the submitter named; the rest are defaults an input (an intent) may fill.
    _given: set[str] = PrivateAttr(default_factory=set)

    @model_validator(mode="after")
    def _validate_params(self) -> JobSpec:
        info = kind_info(self.kind)
        self._given = set(self.params)
        try:
            self.params = info.params.model_validate(self.params).model_dump(mode="json")
        except ValidationError as exc:
            raise BadJobSpec(f"params.{describe_validation(exc)}") from None
        return self

    @property
    def given(self) -> list[str]:
        return sorted(self._given)

    def stored_params(self) -> str:
        """What the catalog keeps of the params: all of them, and which ones were named."""
        return json.dumps({"params": self.params, "given": self.given}, sort_keys=True)

    def with_seed(self) -> JobSpec:
        """This spec with a concrete seed, drawn at random if none was given."""
        if self.seed is not None:
            return self
        seeded = self.model_copy(update={"seed": secrets.randbelow(MAX_SEED)})
        seeded._given = set(self._given)
        return seeded


def parse_spec(data: Any, source: str = "job") -> JobSpec:
    source = shown(source, 120)[1:-1] if len(source) > 120 or not source.isprintable() else source
    if not isinstance(data, dict):
        raise BadJobSpec(f"{source}: a job must be a mapping with at least 'kind'")
    try:
        return JobSpec.model_validate(data)
    except BadJobSpec as exc:
        raise BadJobSpec(f"{source}: {exc}") from None
    except ValidationError as exc:
        raise BadJobSpec(f"{source}: {describe_validation(exc)}") from None


def describe_validation(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    got = first.get("input")
    quiet = first["type"] in ("missing", "extra_forbidden", "value_error")
    echoed = "" if quiet or isinstance(got, dict) else f" (got {shown(_plain(got), 60)})"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    where = shown(where, 80)[1:-1] if len(where) > 80 else where
    return f"{where}: {msg}{echoed}{more}" if where else f"{msg}{more}"


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def read_spec_file(path: Path, max_bytes: int = 1 << 20) -> tuple[JobSpec, str]:
    """Parse a job file of at most `max_bytes`; returns the spec and the sha256 of its bytes
    (an idempotency key)."""
    where = shown(str(path), 120)
    if path.suffix.lower() not in SPEC_SUFFIXES:
        raise BadJobSpec(f"{where}: a job file must end in {', '.join(SPEC_SUFFIXES)}")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise BadJobSpec(f"cannot read job file {where}: {exc.strerror or exc}") from exc
    if len(raw) > max_bytes:
        raise BadJobSpec(f"{where}: a job file may be at most {max_bytes} bytes "
                         "(max_job_file_bytes in farm.yaml)")
    return parse_spec(decode_spec(raw, path.suffix, where), str(path)), hashlib.sha256(raw).hexdigest()


def decode_spec(raw: bytes, suffix: str, where: str) -> Any:
    """The data of a job file's bytes, by its suffix (.json, .toml, .yaml or .yml)."""
    try:
        return _decode(raw, suffix.lower())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadJobSpec(f"{where}: not valid {suffix[1:].upper()}: "
                         f"{shown(reason, 200)[1:-1]}") from None


def _decode(raw: bytes, suffix: str) -> Any:
    text = raw.decode("utf-8")
    if suffix == ".json":
        return json.loads(text)
    if suffix == ".toml":
        return tomllib.loads(text)
    return load_yaml(text)


def parse_param(pair: str) -> tuple[str, Any]:
    """`k=v` from the command line; v is read as YAML so numbers and lists keep their type."""
    if "=" not in pair:
        raise BadJobSpec(f"--param {shown(pair, 60)} must look like name=value")
    name, value = pair.split("=", 1)
    try:
        parsed = load_yaml(value) if value else ""
    except (YamlRefused, RecursionError):
        parsed = value
    return name.strip(), parsed
