"""The local store's CPU: what PostgreSQL and FerretDB spent, read from ``/proc``.

The projector's own CPU per event leaves out most of the work an event costs on this stack
(session 10: PostgreSQL spent twice the projector's CPU per event in a catch-up), so the
benchmarks print the store's too. It counts every process of that name on the machine,
whoever its client is: on a shared machine other work on the same store is in it, so it is
an upper bound.
A process's figure includes its children that exited (PostgreSQL's backends are children
of the postmaster, which collects their CPU when they end).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

#: Process names (the start of ``comm``) -> the part of the store.
STORE_PROCESSES = {"postgres": "PostgreSQL", "ferretdb": "FerretDB"}


class StoreCpu(NamedTuple):
    """CPU seconds so far per part of the store (empty where ``/proc`` is absent)."""

    seconds: dict[str, float]
    #: FerretDB processes seen: more than one means other stacks' work is counted too.
    stacks: int = 0

    @classmethod
    def now(cls) -> StoreCpu:
        seconds = dict.fromkeys(STORE_PROCESSES.values(), 0.0)
        stacks = 0
        ticks = os.sysconf("SC_CLK_TCK")
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue  # ended meanwhile
            name, fields = text.split("(", 1)[1].rsplit(")", 1)
            part = next((v for k, v in STORE_PROCESSES.items() if name.startswith(k)), None)
            stacks += part == "FerretDB"
            if part is not None:
                used = fields.split()[11:15]  # utime, stime, cutime, cstime
                seconds[part] += sum(int(value) for value in used) / ticks
        return cls(seconds if any(seconds.values()) else {}, stacks)

    def since(self, earlier: StoreCpu) -> StoreCpu:
        spent = {k: v - earlier.seconds.get(k, 0.0) for k, v in self.seconds.items()}
        return StoreCpu(spent, max(self.stacks, earlier.stacks))

    def report(self, events: int) -> str:
        """One line: each part's CPU seconds and its microseconds per event."""
        if not self.seconds:
            return "store CPU: no local PostgreSQL or FerretDB process found"
        parts = ", ".join(
            f"{part} {sec:.1f}s = {sec / max(events, 1) * 1e6:.0f} us/event"
            for part, sec in self.seconds.items()
        )
        stacks = "" if self.stacks <= 1 else f"; {self.stacks} stacks running, all counted"
        return f"store CPU (every client's work on this machine's store): {parts}{stacks}"
