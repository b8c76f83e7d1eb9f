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


#: The documented defaults (README, config table), every field of ``LiveSettings``: a new
#: field fails ``test_defaults`` until its default is written here too.
DEFAULTS = {
    "max_subscriptions_per_client": 32,
    "buffer_size": 256,
    "ping_interval_seconds": 15.0,
    "pong_timeout_seconds": 10.0,
    "retention_hours": 72,
    "dedupe_window": 10_000,
    "resume_max_notices": 100_000,
    "max_replays": 4,
    "max_replays_per_client": 2,
    "replay_wait_seconds": 30.0,
    "max_connections": 2_000,
    "max_pending_connections": 200,
    "max_pending_connections_per_address": 20,
    "max_connections_per_client": 16,
    "init_timeout_seconds": 10.0,
}


def test_defaults() -> None:
    assert _read({}).model_dump() == DEFAULTS


def test_overrides() -> None:
    settings = _read(
        {
            "MAX_SUBSCRIPTIONS_PER_CLIENT": "5",
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
            "MAX_WEBSOCKETS_PER_CLIENT": "2",
            "MAX_PENDING_WEBSOCKETS_PER_ADDRESS": "2",
            "WS_INIT_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert settings.model_dump() == {
        "max_subscriptions_per_client": 5,
        "buffer_size": 8,
        "ping_interval_seconds": 0.5,
        "pong_timeout_seconds": 2.0,
        "retention_hours": 24,
        "dedupe_window": 50,
        "resume_max_notices": 500,
        "max_replays": 3,
        "max_replays_per_client": 1,
        "replay_wait_seconds": 0.0,
        "max_connections": 10,
        "max_pending_connections": 3,
        "max_pending_connections_per_address": 2,
        "max_connections_per_client": 2,
        "init_timeout_seconds": 2.5,
    }


def test_built_in_code_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUBSCRIPTION_BUFFER", "3")
    assert LiveSettings().buffer_size == 256
    assert LiveSettings(buffer_size=5).buffer_size == 5


def test_close_reasons_fit_a_close_frame() -> None:
    reason = forbidden("x" * 500)
    assert reason.code == 4403 and len(reason.reason.encode()) <= 123
    with pytest.raises(ValueError):
        CloseReason(4000, "y" * 124)
