"""The GraphiQL page: how customers' developers learn the API, served entirely by this app.

Every script and stylesheet comes from ``STATIC_PREFIX`` (``web/static``: the page's own
``portal-graphiql.js``, and GraphiQL and React unmodified under ``vendor/graphiql``), so the page
works on a network that reaches nothing but the API. The page opens one tab per example
(``web.graphiql_examples``), prefills the header editor with the Authorization header to
complete, and sends subscriptions over graphql-transport-ws on the same path, the headers
becoming the ``connection_init`` payload.

While the Authorization header still holds the placeholder, the page leaves it out, so the
schema (introspection) loads before a token is pasted and data fields answer UNAUTHENTICATED
with a readable message instead of every request failing with 401.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from web.graphiql_examples import EXAMPLES, Example

STATIC_DIRECTORY: Final = Path(__file__).parent / "static"
STATIC_PREFIX: Final = "/graphiql/static"
TOKEN_PLACEHOLDER: Final = "<paste token>"
DEFAULT_HEADERS: Final = json.dumps({"Authorization": f"Bearer {TOKEN_PLACEHOLDER}"}, indent=2)

_INTRO: Final = """\
# Portal GraphQL API
#
# 1. Paste your bearer token in the Headers editor
#    below, in place of {placeholder}.
# 2. Pick an example tab, or write your own query:
#    Ctrl-Space completes; the Docs panel (left)
#    describes every type and field.
# 3. Run it: Ctrl-Enter or the play button.
#
"""


def _json_for_script(value: object) -> str:
    """JSON safe to embed in a ``<script type="application/json">`` element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_config(graphql_path: str, examples: Sequence[Example] = EXAMPLES) -> dict[str, object]:
    tabs = [
        {
            "query": (_INTRO.format(placeholder=TOKEN_PLACEHOLDER) if i == 0 else "")
            + f"# {example.title}\n"
            + example.query.strip()
            + "\n",
            "variables": json.dumps(example.variables, indent=2) if example.variables else None,
        }
        for i, example in enumerate(examples)
    ]
    return {
        "graphqlPath": graphql_path,
        "defaultHeaders": DEFAULT_HEADERS,
        "tokenPlaceholder": TOKEN_PLACEHOLDER,
        "tabs": tabs,
    }


def render_page(graphql_path: str, examples: Sequence[Example] = EXAMPLES) -> str:
    config = _json_for_script(page_config(graphql_path, examples))
    return _PAGE.replace("{{STATIC}}", STATIC_PREFIX).replace("{{CONFIG}}", config)


def inline_styles(page: str) -> list[str]:
    """The contents of the page's ``<style>`` elements (their hashes go in its CSP)."""
    return re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)


_PAGE: Final = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Portal GraphQL API</title>
    <link rel="icon" href="data:," />
    <link rel="stylesheet" href="{{STATIC}}/vendor/graphiql/graphiql.min.css" />
    <link rel="stylesheet" href="{{STATIC}}/vendor/graphiql/plugin-explorer.css" />
    <style>
      body { margin: 0; height: 100vh; overflow: hidden; }
      #graphiql { height: 100vh; }
    </style>
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL...</div>
    <script id="graphiql-config" type="application/json">{{CONFIG}}</script>
    <script src="{{STATIC}}/vendor/graphiql/react.production.min.js"></script>
    <script src="{{STATIC}}/vendor/graphiql/react-dom.production.min.js"></script>
    <script src="{{STATIC}}/vendor/graphiql/graphiql.min.js"></script>
    <script src="{{STATIC}}/vendor/graphiql/plugin-explorer.umd.js"></script>
    <script src="{{STATIC}}/portal-graphiql.js"></script>
  </body>
</html>
"""
