"""Which portal shipment status each source's own status code means: configuration, not code.

The table lives in a TOML file (the packaged ``status_map.toml`` unless the caller passes
another path, e.g. from ``STATUS_MAP_FILE``). It is read and validated once at start-up, so a
typo in a portal status stops the projector with a message naming the file, the source and
the code instead of silently projecting a status no reader understands.

File shape::

    [sources."tms/us-road"]
    AF = "PICKED_UP"   # a portal status from documents.SHIPMENT_STATUSES
    AG = ""            # known, informational: kept, never moves the status, not "unknown"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from readmodel.documents import SHIPMENT_STATUSES

DEFAULT_PATH: Final = Path(__file__).with_name("status_map.toml")

#: ``map()`` result for a code that is known but says nothing about progress.
INFORMATIONAL: Final = ""


class StatusMappingError(ValueError):
    """The status map file cannot be used; the message names the file and the bad entry."""


@dataclass(frozen=True)
class StatusMapping:
    """Per source, code -> portal status (or ``INFORMATIONAL``).

    There is deliberately no fallback table: an unlisted source has only unknown codes.
    """

    table: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def map(self, source: str, code: str) -> str | None:
        """The portal status for ``code`` from ``source``.

        Returns a status from ``SHIPMENT_STATUSES``, ``""`` for a known informational code,
        or None for a code (or source) the mapping does not know.
        """
        codes = self.table.get(source)
        if codes is None:
            return None
        return codes.get(code)

    @property
    def sources(self) -> frozenset[str]:
        return frozenset(self.table)


def load_status_mapping(path: Path | None = None) -> StatusMapping:
    """Read and validate a status map file (the packaged one when ``path`` is None)."""
    target = DEFAULT_PATH if path is None else path
    try:
        raw = tomllib.loads(target.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StatusMappingError(f"{target}: cannot read status map: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StatusMappingError(f"{target}: not valid TOML: {exc}") from exc
    return parse_status_mapping(raw, origin=str(target))


def parse_status_mapping(raw: Mapping[str, object], *, origin: str) -> StatusMapping:
    """Validate an already parsed TOML document; ``origin`` names it in errors."""
    unexpected = sorted(set(raw) - {"sources"})
    if unexpected:
        raise StatusMappingError(
            f"{origin}: unexpected top-level key(s) {', '.join(unexpected)}; "
            'only [sources."<source>"] tables are allowed'
        )
    sources = raw.get("sources", {})
    if not isinstance(sources, dict):
        raise StatusMappingError(f"{origin}: 'sources' must be a table")
    table: dict[str, Mapping[str, str]] = {}
    allowed = ", ".join(SHIPMENT_STATUSES)
    for source, codes in sources.items():
        if not isinstance(codes, dict):
            raise StatusMappingError(
                f'{origin}: source {source!r} must be a table of code = "STATUS"'
            )
        checked: dict[str, str] = {}
        for code, status in codes.items():
            if not isinstance(status, str):
                raise StatusMappingError(
                    f"{origin}: source {source!r} code {code!r}: status must be a string, "
                    f"got {status!r}"
                )
            if status != INFORMATIONAL and status not in SHIPMENT_STATUSES:
                raise StatusMappingError(
                    f"{origin}: source {source!r} code {code!r}: {status!r} is not a portal "
                    f'status (expected one of {allowed}, or "" for informational)'
                )
            checked[code] = status
        table[source] = MappingProxyType(checked)
    return StatusMapping(MappingProxyType(table))
