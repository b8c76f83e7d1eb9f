"""Which status mapping and reducers a projection generation was built with.

A rebuild for a status-mapping or reducer change builds a generation whose documents follow
the new configuration, and records its fingerprint in the read pointer when it switches
readers to it. A projector reads its mapping once, at start: one still running the old
configuration would write the new generation with it, and every shipment it touched would
have its status computed the old way again, undoing the rebuild shipment by shipment. So a
projector compares its own fingerprint with the one recorded for the generation it is about
to write and refuses (``ConfigMismatch``) when they differ; restarted with the
configuration the rebuild used, it goes on. A generation with no fingerprint (the original
one, or one rebuilt before fingerprints were recorded) is written by any projector.
"""

from __future__ import annotations

import hashlib
import json

from projections.reducers import REDUCER_VERSION
from projections.status_mapping import StatusMapping


class ConfigMismatch(RuntimeError):
    """The projector's status mapping or reducers differ from those the generation it would
    write was built with: writing it would undo the rebuild that built it."""


def projection_config(mapping: StatusMapping) -> str:
    """The fingerprint of what decides a document's derived fields: the reducers' version
    and the status mapping's content (not its file: the same table anywhere gives the same
    fingerprint, and the order of its entries does not matter)."""
    table = {source: dict(codes) for source, codes in mapping.table.items()}
    digest = hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()
    return f"reducers-{REDUCER_VERSION}/status-map-{digest[:12]}"


def refusal(suffix: str, recorded: str | None, own: str) -> ConfigMismatch | None:
    """Why a projector whose fingerprint is ``own`` must not write generation ``suffix``,
    whose pointer recorded ``recorded`` (None: nothing recorded, any projector writes it);
    None when it may."""
    if recorded is None or recorded == own:
        return None
    return ConfigMismatch(
        f"generation {suffix!r} was built with {recorded}, this projector runs {own}: "
        "writing it would undo the rebuild shipment by shipment, so this projector stops. "
        "Restart it with the status map (STATUS_MAP_FILE) and the code the rebuild used"
    )
