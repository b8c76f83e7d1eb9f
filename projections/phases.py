"""Where one batch's time goes: wall and CPU seconds per phase, measured by laps.

A batch passes through its phases one after another (fetch, decode, load, plan, fold,
write, push, finish...), so a lap clock that charges the time since the previous lap to the
phase just ended splits the batch exactly, at two clock reads per phase instead of a
profiler's cost per call. The projector exports the sums per phase
(``portal_projector_phase_seconds``) and the benchmark prints them: the profile of a run
without a profiler's distortion.

CPU is the process's CPU between laps; while a phase waits on the store, other tasks of the
process (the previous batch's notices and commit, the Kafka fetcher) run and their CPU is
charged to that phase.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class PhaseClock:
    """Wall and CPU seconds per phase, in the order the phases first ended."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    _wall_at: float = field(default_factory=time.perf_counter)
    _cpu_at: float = field(default_factory=time.process_time)

    def lap(self, phase: str) -> None:
        """Charge the time since the previous lap (or the start) to ``phase``."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.wall[phase] = self.wall.get(phase, 0.0) + wall - self._wall_at
        self.cpu[phase] = self.cpu.get(phase, 0.0) + cpu - self._cpu_at
        self._wall_at, self._cpu_at = wall, cpu

    def merge(self, other: PhaseClock) -> None:
        """Add ``other``'s phases to these (a batch applied again, a finished batch)."""
        for phase, seconds in other.wall.items():
            self.wall[phase] = self.wall.get(phase, 0.0) + seconds
        for phase, seconds in other.cpu.items():
            self.cpu[phase] = self.cpu.get(phase, 0.0) + seconds
