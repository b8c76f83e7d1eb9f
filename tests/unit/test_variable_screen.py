"""The one walk of a request's raw variables (``web.inputs.screen_variables``): the values
counted for ``MAX_VARIABLE_VALUES`` (``test_web_limits``) and the text no field can use."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from web.inputs import screen_variables

#: Text with the two characters no argument accepts among ordinary ones.
_TEXT = st.text(alphabet=st.sampled_from(["a", "é", "\x00", "\ud800", "\udfff", "✓"]), max_size=3)
_VALUES = st.recursive(
    st.none() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=20,
)


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for key, member in value.items() for t in [key, *_texts(member)]]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return [value] if isinstance(value, str) else []


def _surrogates(value: Any) -> list[str]:
    return [c for text in _texts(value) for c in text if "\ud800" <= c <= "\udfff"]


@given(st.dictionaries(st.text(alphabet="xyz", min_size=1, max_size=2), _VALUES, max_size=4))
@settings(max_examples=300)
def test_every_variable_holding_unusable_text_gets_one_error_naming_it(
    variables: dict[str, Any],
) -> None:
    """One error per variable holding a lone surrogate (named, the first as JSON writes the
    value) or else NUL, in keys or values at any depth; none for any other."""
    screened = screen_variables(variables, 1_000)
    expected = []
    for name, value in variables.items():
        surrogates = _surrogates(value)
        if surrogates:
            expected.append(
                f"Variable '${name}' is not valid Unicode: it holds a lone surrogate "
                f"(\\u{ord(surrogates[0]):04x})."
            )
        elif any("\x00" in text for text in _texts(value)):
            expected.append(
                f"Variable '${name}' holds the NUL character (\\u0000), which no argument accepts."
            )
    assert [e.message for e in screened.errors] == expected
    assert all(e.extensions == {"code": "BAD_USER_INPUT"} for e in screened.errors)


def test_variables_over_the_limit_are_not_read_for_their_text() -> None:
    """Past ``limit`` values the walk stops: the size refusal is the only one."""
    variables = {"ids": ["ok"] * 10 + ["a\x00b"]}
    assert screen_variables(variables, 5).values == 6
    assert screen_variables(variables, 5).errors == []
    assert [e.message for e in screen_variables(variables, 12).errors] == [
        "Variable '$ids' holds the NUL character (\\u0000), which no argument accepts."
    ]


def test_a_value_nested_deeper_than_json_can_write_is_refused() -> None:
    """Decoded (the body's parser runs on a shorter stack) but nested deeper than the
    encoder reaches: refused as nested too deeply, as when every variable was encoded."""
    deep: Any = "x"
    for _ in range(5_000):
        deep = [deep]
    screened = screen_variables({"v": deep, "w": [[["fine"]]]}, 10_000)
    assert [e.message for e in screened.errors] == ["Variable '$v' is nested too deeply."]
