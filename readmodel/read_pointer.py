"""The read pointer document (``documents.READ_POINTER``) as every reader of it reads it.

The projector (the generation it writes, a rebuild's switch), the generations listing and
drop, the API (the generation requests read) and the demo each read this one document; each
parsed it itself, with its own rule for a field it did not expect (a suffix that is not a
string was ``str()``-ed by the projector and read as the original generation by the API, so
the two could name different generations). ``read_pointer`` is the one parser: every field
the pointer has had, defaults for those a pointer written before session 19 lacks, and one
rule for a value of the wrong type (the default, never an error: a reader must never stop
serving over the pointer's shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from readmodel import documents


class ReadPointer(NamedTuple):
    """What the pointer says: the generation readers use (``suffix``, "" the original one),
    the fingerprint of the configuration a rebuild built it with (``config``,
    ``projections.generation_config``), what its notices add to a shipment's ``rev``
    (``revision_offset``, ``projections.revision_offsets``), the generation readers left at
    the last switch (``previous``) and when (``switched_at``; ``switched_at_estimated``: a
    drop recorded a time after the switch, ``projections.generations``). ``exists`` False:
    there is no pointer, no rebuild ever switched readers."""

    suffix: str
    config: str | None
    revision_offset: int
    previous: str | None
    switched_at: datetime | None
    switched_at_estimated: bool
    exists: bool


#: No pointer document: readers use the original generation.
NO_POINTER = ReadPointer("", None, 0, None, None, switched_at_estimated=False, exists=False)


def read_pointer(doc: Mapping[str, Any] | None) -> ReadPointer:
    """The pointer document ``doc`` (None: there is none) of any version (the module
    docstring): fields absent or of another type than this code writes read as their
    default."""
    if doc is None:
        return NO_POINTER
    return ReadPointer(
        _text(doc.get("suffix")) or "",
        _text(doc.get("config")),
        _revision_offset(doc.get(documents.REVISION_OFFSET)),
        _text(doc.get("previous")),
        documents.stored_time(doc.get("switchedAt")),
        switched_at_estimated=bool(doc.get("switchedAtEstimated")),
        exists=True,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _revision_offset(value: Any) -> int:
    """The recorded revision offset: 0 for none (a pointer written before session 19, whose
    generation's notices carried the stored ``rev``) or for a value that is not a
    non-negative integer (never written by this code)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return value
