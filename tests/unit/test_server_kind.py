"""Which server the store is (``readmodel.server``), from what each answers to ``buildInfo``."""

from __future__ import annotations

import asyncio
from typing import Any

from readmodel.server import is_ferretdb

#: Parts of the replies (FerretDB 2.7 over DocumentDB; MongoDB 7).
FERRETDB = {"version": "7.0.77", "ferretdb": {"version": "v2.7.0"}, "ok": 1.0}
MONGODB = {"version": "7.0.14", "gitVersion": "ce59cfc6a3c5e5c067dca0d30697edd68d4f5188", "ok": 1.0}


class Server:
    def __init__(self, build_info: dict[str, Any]) -> None:
        self.build_info = build_info

    async def command(self, name: str) -> dict[str, Any]:
        assert name == "buildInfo"
        return self.build_info


def test_ferretdb_is_told_from_mongodb_by_what_buildinfo_says() -> None:
    db: Any = Server(FERRETDB)
    assert asyncio.run(is_ferretdb(db)) is True
    db = Server(MONGODB)
    assert asyncio.run(is_ferretdb(db)) is False
