"""The one way settings are read from the environment: pydantic-settings models, every problem
collected into one ``SettingsError``.

Why a model built directly reads no environment: the values a test passes should be the only
input, whatever the shell that runs it exports. Only ``EnvReader.read`` points a model at an
environment (``os.environ`` unless a mapping is given), so start-up is the one place that
reads it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Set
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources import EnvSettingsSource

M = TypeVar("M", bound="EnvSettings")

#: The environment a model being built by ``EnvReader.read`` reads; empty otherwise.
_ENVIRONMENT: ContextVar[Mapping[str, str]] = ContextVar(
    "settings_environment", default=MappingProxyType({})
)


class SettingsError(ValueError):
    """The environment does not describe a runnable process; ``problems`` lists every one."""

    def __init__(self, process: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"invalid {process} configuration:\n  " + "\n  ".join(problems))


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over the mapping ``EnvReader`` was given.

    ``_load_env_vars`` is the source's own hook for where variables come from (it reads
    ``os.environ``); pydantic-settings is pinned in constraints.txt, and the settings tests
    that pass a mapping fail if a new version stops calling it.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {
            (name if self.case_sensitive else name.lower()): value
            for name, value in self._environ.items()
            if not (self.env_ignore_empty and value.strip() == "")
        }


class EnvSettings(BaseSettings):
    """Base of every settings model: frozen, one field per variable (the field's alias, else its
    name upper-cased), blank values counting as unset, unknown variables ignored."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        env_ignore_empty=True,
        str_strip_whitespace=True,
        validate_by_name=True,
        validate_by_alias=True,
        arbitrary_types_allowed=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Taken once: a part built by a default factory while this model validates (say
        # ``QueryLimits()`` inside ``Settings``) must read nothing, like any model built in code.
        environ = _ENVIRONMENT.get()
        _ENVIRONMENT.set(MappingProxyType({}))
        return (init_settings, _MappingEnvSource(settings_cls, environ))


class EnvReader:
    """Reads several models from one environment and keeps every problem, so one start-up
    shows them all; ``raise_problems`` ends the reading."""

    def __init__(self, process: str, environ: Mapping[str, str] | None = None) -> None:
        self.process = process
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.problems: list[str] = []

    def read(self, model: type[M], **given: Any) -> M | None:
        """``model`` from the environment (``given`` values win); None after a problem.

        A part given as None is one whose own reading failed: it is left to its default, so
        the rest of ``model`` is still checked, and its problem is not reported twice.
        """
        failed_parts = {name for name, value in given.items() if value is None}
        values = {name: value for name, value in given.items() if value is not None}
        with _reading(self.environ):
            try:
                built = model(**values)
            except ValidationError as error:
                self.problems.extend(describe(model, error, skip=failed_parts))
                return None
        return None if failed_parts else built

    def raise_problems(self) -> None:
        if self.problems:
            raise SettingsError(self.process, self.problems)


def describe(
    model: type[EnvSettings], error: ValidationError, skip: Set[str] = frozenset()
) -> list[str]:
    """One line per problem: ``NAME='value': why``; a secret's value is never echoed."""
    lines = []
    for problem in error.errors(include_url=False):
        location = problem["loc"]
        field_key = str(location[0]) if location else ""
        if field_key in skip:
            continue
        field = _field(model, field_key)
        reason = problem["msg"]
        if problem["type"] == "value_error":
            reason = str(problem.get("ctx", {}).get("error", reason))
        if field is None:  # a check across fields: the message names the variables
            lines.append(reason)
            continue
        name = variable_name(field_key, field)
        reason = reason.removeprefix(f"{name}:").strip()  # a shared check may name it too
        value = problem.get("input")
        if _is_secret(field) or not isinstance(value, str):
            lines.append(f"{name}: {reason}")
        else:
            lines.append(f"{name}={without_credentials(value)!r}: {reason}")
    return lines


#: A URI's scheme and the user information before its (last) ``@``: ``user:password``.
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*:/*)?.*@", re.DOTALL)


def without_credentials(value: str) -> str:
    """``value`` with whatever precedes a URI's host replaced by ``***``, so a refused
    ``MONGODB_URI`` (a typo in its scheme, say) is echoed without its password: start-up
    errors go to logs that many people read. Applied to anything holding an ``@``, a
    mistyped URI (``mongodb:/user:pw@db``) included."""
    return _USERINFO.sub(lambda m: f"{m['scheme'] or ''}***@", value, count=1)


def variable_name(field_name: str, field: FieldInfo) -> str:
    """The environment variable a field is read from."""
    alias = field.validation_alias
    return (alias if isinstance(alias, str) else field_name).upper()


def check_existing_file(value: Path | None) -> Path | None:
    """Validator of a path setting: the file must be there at start-up."""
    if value is not None and not value.is_file():
        raise ValueError("no such file")
    return value


def check_mongodb_uri(value: str) -> str:
    if not value.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError("expected a mongodb:// or mongodb+srv:// URI")
    return value


def check_mongodb_database(value: str) -> str:
    if any(ch in value for ch in '/\\. "$') or len(value) > 63:
        raise ValueError("not a valid MongoDB database name")
    return value


def check_host_port_list(value: str) -> str:
    for item in value.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port[,host:port...], got {item.strip()!r}")
    return value


@contextmanager
def _reading(environ: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRONMENT.set(environ)
    try:
        yield
    finally:
        _ENVIRONMENT.reset(token)


def _field(model: type[EnvSettings], key: str) -> FieldInfo | None:
    for name, field in model.model_fields.items():
        if key in (name, field.validation_alias, field.alias):
            return field
    return None


def _is_secret(field: FieldInfo) -> bool:
    """Fields declared with ``repr=False`` hold secrets."""
    return not field.repr
