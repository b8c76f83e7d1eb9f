"""Notice revisions that never go down across a rebuild's switch.

A shipment's stored ``rev`` counts the batches that wrote it in one projection generation
(``store._entity_update``: one ``$inc`` per document per batch), and a rebuild writes each
document from revision 1 again, in fewer and larger batches than the live projector did.
Clients see a revision in one place only, the change notices (``MilestoneEvent.revision``),
so the notices carry ``offset + rev``, with one offset per generation, written with the read
pointer at the switch (``REVISION_OFFSET``) and read by the live projector with the pointer
it follows before each batch. The stored ``rev`` is left as it is: it guards the summaries
(``RelatedSummary``) and search documents within a generation, and nothing compares it
across generations.

The new generation's offset is the previous one plus the highest shipment ``rev`` of the
generation readers leave plus ``REVISION_MARGIN``: every notice of the old generation, even
one the live projector publishes after the switch (the batch it wrote before it saw the
pointer move), then carries less than any notice of the new one, whose revisions start at
offset + 1. The margin covers the batches the live projectors write into the old generation
between the rebuild's reading of its highest ``rev`` and the pointer write (each raises a
shipment's ``rev`` by at most one); the rebuild reads the highest ``rev`` again after the
switch and raises the offset if they did more (``corrected_offset``).

Bounds: GraphQL's ``Int`` is 32 bits. Each rebuild adds the old generation's highest
``rev`` (the most batches that changed one shipment: tens for a shipment's life) and the
margin, so offsets stay below ``REVISION_OFFSET_CEILING`` (2^30, half of what ``Int``
holds: the other half is for the ``rev`` added to it) for about 100,000 rebuilds; a rebuild
that would pass it starts the offsets at 0 again, and logs it (revisions go down once, as
they did before every rebuild).
"""

from __future__ import annotations

from typing import Final

#: How far the batches written into the generation readers leave, while the rebuild
#: switches, may raise a shipment's ``rev`` without a notice of it reaching the new
#: generation's: one per batch, so ten thousand batches that all change one shipment, over
#: a scan of the shipments and a pointer write (measured: 0.2 s for 200,000 shipments on
#: the local FerretDB).
REVISION_MARGIN: Final = 10_000
#: The highest offset a rebuild writes: far below 2^31 - 1, GraphQL's largest ``Int``, so a
#: shipment's ``rev`` (a count of batches) cannot carry a notice past it.
REVISION_OFFSET_CEILING: Final = 2**30


def next_revision_offset(previous: int, highest_rev: int) -> int:
    """The offset of a generation readers switch to from one of offset ``previous`` whose
    highest shipment ``rev`` is ``highest_rev``; 0 when that passes
    ``REVISION_OFFSET_CEILING`` (``wrapped`` tells the rebuild to log it)."""
    offset = previous + max(highest_rev, 0) + REVISION_MARGIN
    return offset if offset <= REVISION_OFFSET_CEILING else 0


def wrapped(previous: int, offset: int) -> bool:
    """Whether ``offset`` started again below ``previous`` (``next_revision_offset`` at its
    ceiling): the one case where a shipment's notice revisions go down at a switch."""
    return offset < previous


def corrected_offset(written: int, previous: int, highest_rev_after: int) -> int | None:
    """The offset to write instead of ``written`` once the generation readers left (offset
    ``previous``) shows ``highest_rev_after`` as its highest shipment ``rev`` after the
    switch; None when ``written`` already keeps its notices below the new generation's, or
    when no offset can (``written`` wrapped, or the correction would pass the ceiling).

    Its notices carry at most ``previous + highest_rev_after``; the new generation's at
    least ``written + 1``. Read after the switch, that ``rev`` bounds every notice of the
    old generation still to come: a live projector publishes a batch's notices only after
    reading the pointer again at its end, so the batches whose notices keep the old offset
    were written before the pointer moved. A correction raises the offset, so it keeps the
    new generation's own notices in order too."""
    least = previous + max(highest_rev_after, 0)
    if wrapped(previous, written) or least <= written:
        return None
    corrected = least + REVISION_MARGIN
    return corrected if corrected <= REVISION_OFFSET_CEILING else None
