"""``python -m projections``: an operator's mistake (a bad variable) or a refused run ends the
process with one line naming the cause and an exit code a supervisor can tell apart (2: fix the
settings; 1: the projector or a rebuild refused), not a traceback. The runtime refusals are
raised by stand-ins here: what raises them for real is tested with the services
(``tests/integration/test_projector.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import pytest

import projections.__main__ as entry
from observability import json_logs
from projections.build_marker import GenerationClaimed
from projections.generation_config import ConfigMismatch
from projections.rebuild import RebuildIncomplete, SwitchRefused, TruncatedHistory
from projections.rebuild_lease import RebuildRunning
from projections.store import StoreError


def _exit_code(argv: list[str]) -> object:
    with pytest.raises(SystemExit) as exited:
        entry.main(argv)
    return exited.value.code


def test_a_bad_variable_is_named_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROJECTOR_BATCH_MAX", "lots")
    assert _exit_code(["run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("portal projector: ") and "PROJECTOR_BATCH_MAX" in err
    assert "Traceback" not in err


def _raising(error: Exception) -> Callable[..., Any]:
    async def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise error

    return refuse


@pytest.mark.parametrize(
    ("command", "target", "error"),
    [
        ("run", "run_projector", ConfigMismatch("the active generation used another map")),
        ("rebuild", "rebuild", TruncatedHistory("orders partition 0 starts at 12")),
        ("rebuild", "rebuild", RebuildIncomplete("3 records of the drain not applied")),
        ("rebuild", "rebuild", GenerationClaimed("generation g1 was dropped as abandoned")),
        ("rebuild", "rebuild", RebuildRunning("another rebuild is running: generation g1")),
        ("rebuild", "rebuild", SwitchRefused("readers were not switched to generation g2")),
    ],
)
def test_a_refusal_is_one_line_with_exit_code_1(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    target: str,
    error: Exception,
) -> None:
    monkeypatch.setenv("PROJECTOR_METRICS_PORT", "0")
    monkeypatch.setattr(json_logs, "configure", lambda level: None)
    monkeypatch.setattr(entry, target, _raising(error))
    assert _exit_code([command]) == 1
    assert capsys.readouterr().err == f"portal projector: {error}\n"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["run", "drop"], "run takes no action"),
        (["generations", "--dry-run"], "--dry-run goes with generations drop"),
        (["generations", "drop", "all"], "unrecognized arguments: all"),
        (["generations", "purge"], "invalid choice: 'purge'"),
    ],
)
def test_a_generations_command_it_cannot_mean_is_refused_with_exit_code_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    """Nothing is dropped on a guess: a mistyped command ends before any setting is read."""
    assert _exit_code(argv) == 2
    assert says in capsys.readouterr().err


def test_a_store_that_refuses_the_drop_is_one_line_with_exit_code_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(json_logs, "configure", lambda level: None)
    error = StoreError("cannot list the projection generations: connection refused")
    monkeypatch.setattr(entry, "drop_generations", _raising(error))
    assert _exit_code(["generations", "drop"]) == 1
    assert capsys.readouterr().err == f"portal projector: {error}\n"
