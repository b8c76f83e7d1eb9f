"""The response counter's ``route`` label, which the 5xx-ratio alert filters on."""

from __future__ import annotations

import pytest

from web.request_envelope import route_of


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/graphql", "graphql"),
        ("/healthz", "operations"),
        ("/readyz", "operations"),
        ("/metrics", "operations"),
        ("/graphiql/static/graphiql.min.js", "graphiql"),
        ("/graphiql/staticx", "other"),
        ("/graphql/", "other"),
        ("/wp-login.php", "other"),
        ("", "other"),
    ],
)
def test_each_path_has_one_route_of_a_closed_set(path: str, route: str) -> None:
    assert route_of(path, "/graphql") == route


def test_a_configured_graphql_path_is_the_graphql_route() -> None:
    assert route_of("/api/graphql", "/api/graphql") == "graphql"
    assert route_of("/graphql", "/api/graphql") == "other"
