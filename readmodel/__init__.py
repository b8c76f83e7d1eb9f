"""The read model's contract: what the projector writes and what its readers may rely on.

Owned by neither side and imported by both: ``projections/`` writes through it;
``resolvers/``, ``entitlements/``, ``web/live/`` and ``simulator/`` read through it. It holds
no logic of either side, only the shapes and names they must agree on:

* ``documents``: collection names, the stored document shapes, vocabularies, indexes;
* ``collections``: the physical collection names of a projection generation;
* ``links``: the ids a document names and the summaries it embeds (the only parser of both);
* ``topics``: Kafka topic names;
* ``changes``: the change notice the projector publishes and the API replicas consume;
* ``kafka_admin``: creating the topics the read model owns, and listing partitions;
* ``quoting``: how an error message quotes a value it was given, cut short.

It imports nothing of ours but ``observability``.
"""
