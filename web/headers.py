"""Response headers that keep customer data out of shared caches and the GraphiQL page safe.

* Every GraphQL response (data, errors and refusals alike; GET or POST) is for one caller:
  ``Cache-Control: private, no-store`` so that no proxy or browser cache keeps it, and
  ``Vary: Authorization`` so that a cache that ignores the first still never serves one
  token's answer to another.
* The GraphiQL page loads only what this app serves (``web.graphiql``), so its
  Content-Security-Policy allows the app's own origin and nothing else: no inline script,
  its one inline ``<style>`` by hash, the ``data:`` images and fonts of GraphiQL's
  stylesheet, requests (HTTP and WebSocket) to the same origin, and no framing
  (``frame-ancestors 'none'``, ``X-Frame-Options: DENY`` for older browsers).
* ``X-Content-Type-Options: nosniff`` on every response of the endpoint and the page's assets.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Final

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

NOSNIFF: Final = {"X-Content-Type-Options": "nosniff"}
PRIVATE: Final = {"Cache-Control": "private, no-store"}


def private_response(response: Response) -> Response:
    """Marks a GraphQL response as one caller's: never stored, varying by token."""
    response.headers.update({**PRIVATE, **NOSNIFF})
    response.headers.add_vary_header("Authorization")
    return response


def page_headers(inline_styles: list[str]) -> Mapping[str, str]:
    """The GraphiQL page's headers; ``inline_styles`` are the texts of its ``<style>`` tags."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() + "'"
        for style in inline_styles
    )
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            f"style-src 'self' {hashes}".strip(),
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        **NOSNIFF,
    }


class AssetFiles(StaticFiles):
    """``StaticFiles`` whose responses are never content-sniffed."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(NOSNIFF)
        return response
