"""Entitlements: who the caller is and what they may read. Pure policy, no I/O beyond reading
its configuration at start-up; imports nothing of ours except the document contract
(``readmodel.documents``, ``readmodel.links``), checked by ``lint-imports``.

* ``caller``  - ``Caller``, the identity a verified token vouches for;
* ``tokens``  - ``TokenSettings`` / ``TokenVerifier``: JWT to ``Caller``;
* ``policy``  - ``Policy`` loaded from TOML (``load_policy``), ``Policy.scope(caller)``;
* ``scope``   - ``Scope``: the query filter, document check and redaction for one caller;
* ``errors``  - the exception tree; ``mint`` - a CLI minting local HS256 tokens.
"""
