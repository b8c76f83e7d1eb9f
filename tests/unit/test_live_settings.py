"""Subscription settings: defaults from the brief, overrides, close reasons that fit a frame.

Bad values, every one named at once: ``test_settings_refusals.py``.
"""

from __future__ import annotations

import pytest

from web.live.closes import CloseReason, forbidden
from web.live.settings import LiveSettings
from web.settings import load_settings

BASE = {"AUTH_HS256_SECRET": "s" * 40}


def _read(environ: dict[str, str]) -> LiveSettings:
    return load_settings({**BASE, **environ}).live


def test_defaults() -> None:
    settings = _read({})
    assert (settings.buffer_size, settings.ping_interval_seconds) == (256, 15.0)
    assert (settings.pong_timeout_seconds, settings.retention_hours) == (10.0, 72)
    assert settings.dedupe_window == 10_000
    assert (settings.resume_max_notices, settings.max_replays) == (100_000, 4)
    assert (settings.max_replays_per_client, settings.replay_wait_seconds) == (2, 30.0)
    assert (settings.max_connections, settings.init_timeout_seconds) == (2_000, 10.0)
    assert settings.max_pending_connections == 200
    assert settings.max_pending_connections_per_address == 20


def test_overrides() -> None:
    settings = _read(
        {
            "SUBSCRIPTION_BUFFER": "8",
            "WS_PING_INTERVAL_SECONDS": "0.5",
            "WS_PONG_TIMEOUT_SECONDS": "2",
            "CHANGES_RETENTION_HOURS": "24",
            "SUBSCRIPTION_DEDUPE_WINDOW": "50",
            "SUBSCRIPTION_RESUME_MAX_NOTICES": "500",
            "MAX_SUBSCRIPTION_REPLAYS": "3",
            "MAX_SUBSCRIPTION_REPLAYS_PER_CLIENT": "1",
            "SUBSCRIPTION_REPLAY_WAIT_SECONDS": "0",
            "MAX_WEBSOCKET_CONNECTIONS": "10",
            "MAX_PENDING_WEBSOCKETS": "3",
            "MAX_PENDING_WEBSOCKETS_PER_ADDRESS": "2",
            "WS_INIT_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert (settings.buffer_size, settings.ping_interval_seconds) == (8, 0.5)
    assert (settings.pong_timeout_seconds, settings.retention_hours) == (2.0, 24)
    assert settings.dedupe_window == 50
    assert (settings.resume_max_notices, settings.max_replays) == (500, 3)
    assert (settings.max_replays_per_client, settings.replay_wait_seconds) == (1, 0.0)
    assert (settings.max_connections, settings.init_timeout_seconds) == (10, 2.5)
    assert settings.max_pending_connections == 3
    assert settings.max_pending_connections_per_address == 2


def test_built_in_code_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUBSCRIPTION_BUFFER", "3")
    assert LiveSettings().buffer_size == 256
    assert LiveSettings(buffer_size=5).buffer_size == 5


def test_close_reasons_fit_a_close_frame() -> None:
    reason = forbidden("x" * 500)
    assert reason.code == 4403 and len(reason.reason.encode()) <= 123
    with pytest.raises(ValueError):
        CloseReason(4000, "y" * 124)
