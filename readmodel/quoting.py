"""How an error message or a refusal's reason quotes a value it was given: cut short.

Shared by the projector (a dead letter's reason travels as a Kafka header, which the topic
limits) and the API (a message echoed to a client, a log line or a WebSocket close reason):
a value of many KiB or MiB quoted whole made the first too large to send and the second an
amplifier for whoever sent it. One function, so both quote alike.
"""

from __future__ import annotations

from typing import Final

#: Characters of a value that a refusal's reason quotes whole; of a longer value it quotes
#: the first and last half of these, and the length (``quoted``).
QUOTED_CHARACTERS: Final = 200


def quoted(value: str | int, limit: int = QUOTED_CHARACTERS) -> str:
    """``value`` as a message quotes it: its ``repr``, or, when it is longer than ``limit``
    characters (digits), that of its first and last characters around ``...`` and its
    length (``'SO-1...9\\x01' (3,000,001 characters)``).

    The end is kept as well as the start because what broke the rule (a control character
    in an id) may be anywhere."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(value)
    half = limit // 2
    head, tail = text[:half], text[-half:]
    if isinstance(value, str):
        head, tail = repr(head), repr(tail)
    return f"{head}...{tail} ({len(text):,} characters)"


#: Characters of a client's value that the API's messages quote (an id, a key, a WebSocket
#: message's ``id``): enough to recognise it, never the 100 KB a client may send.
ECHOED_CHARACTERS: Final = 100
