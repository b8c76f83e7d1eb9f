"""Why msgspec refused a record, in words a person reading the dead-letter topic can act on.

msgspec stops at the first rule a record breaks and says where (``$.data.lines[3]``) and,
tersely, what (``Expected `int`, got `str```). The reason a dead letter carries names the
field and the value instead: ``data.lines[3].quantity: expected integer, got string '5'``.
It is worked out here, only for refused records, from the same declarations msgspec checked
(``msgspec.inspect`` of the struct) and the record read again with ``json``: the value at
msgspec's path, held against the rules of the type declared there. A value is quoted cut
short (``readmodel.quoting.quoted``): the reason travels as a header of the dead letter.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
from collections.abc import Callable
from typing import Any, Final

import msgspec
from msgspec import inspect as mi

from projections.event_fields import decode_hook, json_kind, require_text
from readmodel.quoting import quoted

_AT: Final = re.compile(r"(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_STEP: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING: Final = re.compile(r"Object missing required field `([^`]+)`")


class _NotAnObject(Exception):
    """The record is not a UTF-8 JSON object: the reason says which of the three."""


def refusal_reason(
    value: bytes,
    error: msgspec.MsgspecError | UnicodeDecodeError | RecursionError,
    schema: Any,
    at: str = "",
) -> str:
    """The reason ``value`` was refused with ``error`` while decoding ``schema``: the whole
    record, or (``at``) the value of one of its top-level keys.

    A ``UnicodeDecodeError`` (a string that is not UTF-8) is told by reading the whole
    record again (``not UTF-8: ... at byte N``, N counted in the record)."""
    if isinstance(error, RecursionError):
        return f"nested too deeply: {error}"
    try:
        body = _json_object(value)
    except _NotAnObject as exc:
        return str(exc)
    if not isinstance(error, msgspec.ValidationError):  # json reads what msgspec would not
        return f"not JSON: {error}"
    parts = _AT.fullmatch(str(error))
    message, path = (parts["message"], parts["path"] or "") if parts else (str(error), "")
    steps = [(name, int(index) if index else None) for name, index in _STEP.findall(path)]
    where = _where([(at, None), *steps] if at else steps)
    missing = _MISSING.fullmatch(message)
    if missing:
        return f"{where}.{missing[1]}: missing" if where else f"{missing[1]}: missing"
    found = _locate(_type_info(schema), body.get(at) if at else body, steps)
    is_item = bool(steps) and steps[-1][1] is not None
    problem = _problem(*found, is_item=is_item) if found is not None else None
    return f"{where}: {problem or message}" if where else problem or message


@functools.cache
def _type_info(schema: Any) -> Any:
    return mi.type_info(schema)


def _json_object(value: bytes) -> dict[str, Any]:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _NotAnObject(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant, parse_int=_json_integer)
    except (ValueError, RecursionError) as exc:
        raise _NotAnObject(f"not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _NotAnObject(f"not a JSON object: got {json_kind(body)}")
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


#: Digits ``int()`` reads of a literal: Python refuses more (``sys.get_int_max_str_digits``,
#: a guard against conversions that take quadratic time), and ``json`` with it.
_INT_DIGITS: Final = 4300


def _json_integer(text: str) -> int:
    """A JSON integer literal as ``json`` reads it, or, beyond ``_INT_DIGITS`` digits, a
    ``_LongInteger``: read with ``int()``, it made the whole record ``not JSON`` in the
    reason, wherever it stood."""
    if len(text) <= _INT_DIGITS:
        return int(text)
    return _LongInteger(text)


class _LongInteger(int):
    """An integer literal of more digits than ``int()`` reads: a number of the literal's sign
    larger than every bound a rule sets (int64, a float's range), shown as sent."""

    _text: str

    def __new__(cls, text: str) -> _LongInteger:
        number = super().__new__(cls, -_BEYOND_BOUNDS if text.startswith("-") else _BEYOND_BOUNDS)
        number._text = text
        return number

    def __repr__(self) -> str:
        return self._text


def _where(steps: list[tuple[str, int | None]]) -> str:
    where = ""
    for name, index in steps:
        where += f"[{index}]" if index is not None else (f".{name}" if where else name)
    return where


def _locate(info: Any, value: Any, steps: list[tuple[str, int | None]]) -> tuple[Any, Any] | None:
    """The declared type and the value at the end of ``steps`` (None if they part ways)."""
    for name, index in steps:
        info = _unwrap(info)
        if index is None and isinstance(info, mi.StructType) and isinstance(value, dict):
            field = next((f for f in info.fields if f.encode_name == name), None)
            if field is None:
                return None
            info, value = field.type, value.get(name)
        elif index is not None and isinstance(info, _ARRAYS) and isinstance(value, list):
            if index >= len(value):
                return None
            info, value = info.item_type, value[index]
        else:
            return None
    return info, value


def _unwrap(info: Any) -> Any:
    """The type under constraints and ``| None``."""
    while True:
        if isinstance(info, mi.Metadata):
            info = info.type
        elif isinstance(info, mi.UnionType):
            given = [t for t in info.types if not isinstance(t, mi.NoneType)]
            if len(given) != 1:
                return info
            info = given[0]
        else:
            return info


def _problem(
    info: Any, value: Any, what: str | None = None, *, is_item: bool = False
) -> str | None:
    """What is wrong with ``value`` as a value of the declared type ``info`` (None: nothing
    this explains). ``what`` describes the expected value (``an ISO 4217 code``). A field
    may be null only where it is optional; an item of an array is never "not given"."""
    if value is None and not is_item:
        return "must not be null"
    if isinstance(info, mi.Metadata):
        what = (info.extra_json_schema or {}).get("description", what)
        return _problem(info.type, value, what, is_item=is_item)
    if isinstance(info, mi.UnionType):  # ``X | None``: X with its constraints and description
        given = [t for t in info.types if not isinstance(t, mi.NoneType)]
        return _problem(given[0], value, what, is_item=is_item) if len(given) == 1 else None
    check = _CHECKS.get(type(info))
    return check(info, value, what) if check is not None else None


def _string(info: mi.StrType, value: Any, what: str | None) -> str | None:
    problem = _text_problem(value)
    if problem is not None:
        return problem
    if info.max_length is not None and len(value) > info.max_length:
        return f"longer than {info.max_length} characters, got {quoted(value)}"
    if info.pattern is not None and not re.search(info.pattern, value):
        return f"expected {what or 'text matching ' + info.pattern}, got {quoted(value)}"
    return None


def _integer(info: mi.IntType, value: Any, what: str | None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected integer, got {json_kind(value)}"
    if info.ge is not None and value < info.ge:
        return f"must be at least {info.ge}, got {quoted(value)}"
    if info.le is not None and value > info.le:
        return f"must be at most {info.le} (what the store holds), got {quoted(value)}"
    return None


def _number(info: mi.FloatType, value: Any, what: str | None) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"expected number, got {json_kind(value)}"
    if isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
        return f"expected a finite number, got {json_kind(value)}"
    if not math.isfinite(value):
        return f"expected a finite number, got {value!r}"
    return None


def _choice(info: mi.LiteralType, value: Any, what: str | None) -> str | None:
    problem = _text_problem(value)
    if problem is not None:
        return problem
    if value in info.values:
        return None
    if what is None and len(info.values) == 1:
        return f'expected "{info.values[0]}", got {quoted(value)}'
    return f"expected {what or 'one of ' + ', '.join(map(str, info.values))}, got {quoted(value)}"


def _items(info: mi.ListType | mi.VarTupleType, value: Any, what: str | None) -> str | None:
    if not isinstance(value, list):
        return f"expected array, got {json_kind(value)}"
    if info.min_length is not None and len(value) < info.min_length:
        return f"expected at least {info.min_length} item(s), got {len(value)}"
    if info.max_length is not None and len(value) > info.max_length:
        return f"expected at most {info.max_length} items, got {len(value)}"
    return None


def _object(info: mi.StructType, value: Any, what: str | None) -> str | None:
    return None if isinstance(value, dict) else f"expected object, got {json_kind(value)}"


def _converted(info: mi.CustomType, value: Any, what: str | None) -> str | None:
    return _refusal_of(decode_hook, info.cls, value)


def _text_problem(value: Any) -> str | None:
    return _refusal_of(require_text, value)


def _refusal_of(check: Callable[..., Any], *arguments: Any) -> str | None:
    """The message with which ``check`` refuses ``arguments`` (None if it accepts them)."""
    try:
        check(*arguments)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


_ARRAYS: Final = (mi.ListType, mi.VarTupleType)
_FLOAT_MAX: Final = sys.float_info.max
#: Beyond every bound of a rule: above int64's and a float's largest (2**1024 is over both).
_BEYOND_BOUNDS: Final = 2**1100
_CHECKS: Final[dict[type, Callable[[Any, Any, str | None], str | None]]] = {
    mi.StrType: _string,
    mi.IntType: _integer,
    mi.FloatType: _number,
    mi.LiteralType: _choice,
    mi.ListType: _items,
    mi.VarTupleType: _items,
    mi.StructType: _object,
    mi.CustomType: _converted,
}
