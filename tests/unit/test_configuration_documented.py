"""Every environment variable a settings model reads is in the README's Configuration table,
and every variable the table names for the projector or the API is read by a model."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import uvicorn.config

from config.env import EnvSettings, variable_name
from config.topics import TopicSettings
from entitlements.token_env import TokenEnvironment
from projections.settings import ProjectorSettings
from web.graphiql_examples import ExampleValues
from web.live.settings import LiveSettings
from web.settings import QueryLimits, Settings

README = Path(__file__).resolve().parents[2] / "README.md"
MODELS: tuple[type[EnvSettings], ...] = (
    ProjectorSettings,
    Settings,
    QueryLimits,
    LiveSettings,
    TokenEnvironment,
    TopicSettings,
    ExampleValues,
)
#: Parts given to a model by its loader, not read from a variable of their own.
GIVEN = {"TOKENS", "TOPICS", "LIMITS", "LIVE", "GRAPHIQL_EXAMPLES"}
SCRIPTS = README.parent / "scripts"


def read_by_scripts() -> set[str]:
    """Every variable the install, stack and test scripts expand (``$NAME``, ``${NAME...}``)."""
    names: set[str] = set()
    for path in SCRIPTS.rglob("*"):
        if path.is_file() and path.suffix in ("", ".sh"):
            names.update(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", path.read_text("utf-8")))
    return names


def read_by_models() -> set[str]:
    names = {
        variable_name(name, field) for model in MODELS for name, field in model.model_fields.items()
    }
    return names - GIVEN


def documented() -> set[str]:
    text = README.read_text("utf-8")
    section = text[text.index("## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    table = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in table for name in re.findall(r"`([A-Z][A-Z0-9_]+)(?:=\d)?`", cell)}


def test_every_variable_read_is_documented() -> None:
    assert read_by_models() - documented() == set()


def read_by_uvicorn() -> set[str]:
    """The variables the README documents that uvicorn reads itself (``python -m web`` runs
    it with ``proxy_headers=True``), each checked to be in uvicorn's configuration code."""
    source = inspect.getsource(uvicorn.config)
    return {name for name in ("FORWARDED_ALLOW_IPS",) if f'"{name}"' in source}


def test_every_documented_variable_is_read() -> None:
    read = read_by_scripts() | read_by_models() | read_by_uvicorn()
    assert documented() - read == set()
