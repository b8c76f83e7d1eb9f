"""``bench/profile_layers.py``: each sample of the API's request path is charged to the
innermost frame's layer; samples off the request path are left out."""

from __future__ import annotations

from bench.profile_layers import layers

MAIN = "main (bench/api.py:1)"
CALL = "call (starlette/applications.py:96);handle (web/graphql_http.py:1)"
READ = "Readers._find_in (resolvers/readers.py:344)"


def test_samples_go_to_the_innermost_known_layer() -> None:
    found = layers(
        [
            f"{MAIN};{CALL};{READ};AsyncCursor.to_list (pymongo/cursor.py:9) 7\n",
            f"{MAIN};{CALL};{READ};<listcomp> (<frozen something>:1) 3\n",
            f"{MAIN};{CALL};utc (graph/common.py:37);fromtimestamp (datetime.py:5) 2\n",
            f"{MAIN};shipment (bench/api_ceiling.py:68);find_one (pymongo/x.py:1) 5\n",
            "\n",
        ]
    )
    assert found == {
        "PyMongo/BSON": 7,
        "resolvers, entitlements, readmodel (ours)": 3,
        "graph (ours)": 2,
    }
