"""Where the benchmarks find the stack: one definition of the store and broker options.

Each option defaults to the variable the services read (``MONGODB_URI``,
``KAFKA_BOOTSTRAP_SERVERS``), then to the local stack's address, so a benchmark pointed at
another stack (``EXTERNAL_STACK=1``) needs no flags.
"""

from __future__ import annotations

import argparse
import os
from typing import Final

LOCAL_MONGODB_URI: Final = "mongodb://127.0.0.1:27017/"
LOCAL_KAFKA: Final = "127.0.0.1:9092"


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    """``--mongodb-uri``: the store the benchmark reads and writes."""
    parser.add_argument(
        "--mongodb-uri",
        default=os.environ.get("MONGODB_URI", LOCAL_MONGODB_URI),
        help="the store (default: MONGODB_URI, else the local stack)",
    )


def add_broker_argument(parser: argparse.ArgumentParser, purpose: str = "") -> None:
    """``--bootstrap``: the Kafka broker; ``purpose`` says what the benchmark uses it for."""
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", LOCAL_KAFKA),
        help=f"Kafka{purpose} (default: KAFKA_BOOTSTRAP_SERVERS, else the local stack)",
    )
