"""The schema as a file (``graph/schema.graphql``), for client toolchains and reviewers.

Relay's compiler and Apollo's codegen read the schema from a file, and a reviewer sees a
change to the API in the diff of that file. It is the schema clients get by introspection
(graphql-core's ``print_schema``: types, fields, descriptions, directive definitions, not the
Federation directives applied to types, which the gateway reads from ``_service.sdl``).

    python -m graph.export            rewrite graph/schema.graphql
    python -m graph.export --check    exit 1 if the file is not what the code defines

``tests/unit/test_schema_file.py`` fails while the file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from graphql import print_schema

from graph.schema import build_schema

SCHEMA_FILE: Final = Path(__file__).with_name("schema.graphql")


def schema_sdl() -> str:
    """The SDL of the schema the API serves (web extensions change no type)."""
    return print_schema(build_schema()._schema) + "\n"


def main(argv: list[str]) -> int:
    expected = schema_sdl()
    if argv == ["--check"]:
        current = SCHEMA_FILE.read_text("utf-8") if SCHEMA_FILE.is_file() else ""
        if current != expected:
            print(f"{SCHEMA_FILE} is stale: run python -m graph.export", file=sys.stderr)
            return 1
        return 0
    if argv:
        print("usage: python -m graph.export [--check]", file=sys.stderr)
        return 2
    SCHEMA_FILE.write_text(expected, "utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
