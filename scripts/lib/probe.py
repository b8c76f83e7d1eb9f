"""Readiness probes for scripts/stack: wait until a service answers a real request.

An open port is not enough: Kafka accepts connections before its broker is registered with the
controller, and FerretDB before its backend connection works. So the probe waits for a metadata
response that lists a broker, or for a successful ``ping``.

Usage: probe.py {kafka|mongo} ADDRESS [--wait SECONDS] [--pid PID]
Exit status 0 when ready, 1 on timeout or when the watched process died.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

import pymongo
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from pymongo.errors import PyMongoError


async def kafka_ready(bootstrap: str) -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()
        metadata = await client.fetch_all_metadata()
        return bool(metadata.brokers())
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()


def mongo_ready(uri: str) -> bool:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=1500, connectTimeoutMS=1500, socketTimeoutMS=3000
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["kafka", "mongo"])
    parser.add_argument("address")
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    # aiokafka logs every refused connection at ERROR while the broker boots.
    logging.basicConfig(level=logging.CRITICAL)

    deadline = time.monotonic() + args.wait
    while True:
        if args.kind == "kafka":
            ready = asyncio.run(kafka_ready(args.address))
        else:
            ready = mongo_ready(args.address)
        if ready:
            return 0
        if not alive(args.pid):
            print(f"process {args.pid} exited before {args.kind} became ready", file=sys.stderr)
            return 1
        if time.monotonic() >= deadline:
            return 1
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
