"""A job spec: kind, validated params, seed, priority, project, dependencies, idempotency key."""

from __future__ import annotations

import hashlib
import json
import secrets
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from jobs.errors import BadJobSpec
from jobs.kinds import kind_info

SPEC_SUFFIXES = (".json", ".yaml", ".yml", ".toml")
MAX_SEED = 2**32 - 1


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = Field(None, ge=0, le=MAX_SEED)
    priority: int = Field(5, ge=0, le=9)
    project: str = Field("default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
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
    shown = "" if quiet or isinstance(got, dict) else f" (got {got!r})"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{where}: {msg}{shown}{more}" if where else f"{msg}{more}"


def read_spec_file(path: Path) -> tuple[JobSpec, str]:
    """Parse a job file; returns the spec and the sha256 of its bytes (an idempotency key)."""
    if path.suffix.lower() not in SPEC_SUFFIXES:
        raise BadJobSpec(f"{path}: a job file must end in {', '.join(SPEC_SUFFIXES)}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadJobSpec(f"cannot read job file {path}: {exc.strerror or exc}") from exc
    try:
        data = _decode(raw, path.suffix.lower())
    except (ValueError, yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadJobSpec(f"{path}: not valid {path.suffix[1:].upper()}: {reason}") from None
    return parse_spec(data, str(path)), hashlib.sha256(raw).hexdigest()


def _decode(raw: bytes, suffix: str) -> Any:
    text = raw.decode("utf-8")
    if suffix == ".json":
        return json.loads(text)
    if suffix == ".toml":
        return tomllib.loads(text)
    return yaml.safe_load(text)


def parse_param(pair: str) -> tuple[str, Any]:
    """`k=v` from the command line; v is read as YAML so numbers and lists keep their type."""
    if "=" not in pair:
        raise BadJobSpec(f"--param '{pair}' must look like name=value")
    name, value = pair.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value else ""
    except yaml.YAMLError:
        parsed = value
    return name.strip(), parsed
