"""A seeded simulator of the 3PL's upstream systems (ERP, WMS, TMS) for demos and tests.

It emits records exactly as the event contract (``events-v1.md``) describes them, with the
backbone's faults (redelivery, stale snapshots, cross-topic disorder, broken records)
injected at configurable rates. The same seed and ``now`` always give the same bytes.

Layers, each its own module:

* ``catalog``: reference data (customers, warehouses, cities, carriers, status codes);
* ``timeline``: pure per-mode milestone timelines;
* ``lifecycle`` and ``billing``: what happens to one order group, one invoice;
* ``world``: the discrete-event scheduler that turns them into a time-ordered stream;
* ``envelope``: CloudEvents envelopes, ids and per-(source, subject) sequences;
* ``faults``: the backbone's misbehaviour, applied to the clean stream;
* ``live`` and ``publish``: pacing against a clock and publishing with aiokafka.
"""
