"""``python -m web`` refuses a bad configuration with one clear message and exit status 2:
every setting (subscriptions' included), the policy file and the persisted manifests are
read inside its start-up error handling, so none of them ends in a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import uvicorn

import web.__main__ as entry
from tests.helpers import SECRET


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(entry, "configure_logging", lambda level: None)  # keep the test's
    monkeypatch.setattr(uvicorn, "run", _never_serve)
    monkeypatch.setenv("AUTH_HS256_SECRET", SECRET)
    return monkeypatch


def _never_serve(*args: object, **kwargs: object) -> None:
    raise AssertionError("a bad configuration must not be served")


def test_bad_subscription_settings_stop_start_up(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("SUBSCRIPTION_BUFFER", "0")
    environment.setenv("WS_PING_INTERVAL_SECONDS", "soon")
    assert entry.main() == 2
    message = capsys.readouterr().err
    assert message.startswith("portal API: invalid API configuration:")
    assert "SUBSCRIPTION_BUFFER='0'" in message and "WS_PING_INTERVAL_SECONDS='soon'" in message


def test_a_bad_policy_file_stops_start_up(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("invoice_roles = [")
    environment.setenv("ENTITLEMENTS_FILE", str(policy))
    assert entry.main() == 2
    message = capsys.readouterr().err
    assert message.startswith(f"portal API: {policy}: not valid TOML")
