"""A seeded simulator of the 3PL's upstream systems (ERP, WMS, TMS) for demos and tests.

It emits records exactly as the event contract (``events-v1.md``) describes them, with the
backbone's faults (redelivery, stale snapshots, cross-topic disorder, broken records)
injected at configurable rates. The same seed and ``now`` always give the same bytes.

Layers, each its own module:

* ``catalog``: reference data (customers, warehouses, cities, carriers, status codes);
* ``times``: epoch seconds and RFC 3339 in the sources' zones;
* ``timeline``: pure per-mode milestone timelines;
* ``context``: the shared queue, RNG, id counters and customer data;
* ``lifecycle``, ``billing``, ``source_status``: what happens to an order group, an
  invoice, a source;
* ``world``: the discrete-event scheduler and the public ``generate`` / ``live``;
* ``envelope``: CloudEvents envelopes, ids and per-(source, subject) sequences;
* ``faults``: the backbone's misbehaviour, applied to the clean stream;
* ``records``: ``SimRecord``, what callers receive;
* ``live`` and ``publish``: pacing against a clock, publishing with aiokafka (the only I/O).

Usage: ``python -m simulator history --seed 7 --days 90 --now 2026-11-27T12:00:00+00:00``,
``python -m simulator live --rate 5 ...`` (same arguments), or ``python -m simulator demo``.
"""
