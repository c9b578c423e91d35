"""Hypothesis strategies for the hostile fuzz mode (tests/fuzz/test_hostile_fuzz.py): what a
hostile token holder sends that a schema-driven generator rarely does.

- strings: non-ASCII (accents, CJK, emoji, right-to-left marks, a lone surrogate), a NUL
  anywhere, and over-long ones (past every column and `maxLength`);
- numbers: NaN, infinities, huge and negative values, and numbers written as strings;
- objects: deeply nested JSON (lists and objects hundreds of levels deep) in place of a value;
- the Authorization header: each configured token, or a hostile one.

`mutate` walks a request body (or a path/query parameter map) and replaces leaves with these,
each with some probability, so one request mixes valid and hostile fields and reaches past the
first validation error into the handlers.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Past every `maxLength` in the schema (the largest is 10 000) and every column (64..255).
_LONG_SIZES = (65, 129, 256, 1_025, 10_001, 100_000)
_NON_ASCII = (
    "é",
    "ünïcödé",
    "日本語",
    "😀",
    "\u202eevil",  # right-to-left override
    "\ufeff",  # byte-order mark
    "\u00a0",  # no-break space
    "\ud800",  # a lone surrogate: valid as a JSON escape, not encodable as UTF-8
    "ß" * 200,
)


def non_ascii() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(_NON_ASCII),
        st.text(st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF), min_size=1, max_size=40),
    )


def with_nul() -> st.SearchStrategy[str]:
    return st.builds(
        lambda head, tail: f"{head}\x00{tail}",
        st.text(max_size=8),
        st.text(max_size=8),
    )


def over_long() -> st.SearchStrategy[str]:
    return st.builds(lambda n, c: c * n, st.sampled_from(_LONG_SIZES), st.sampled_from("aé\x00"))


def hostile_strings() -> st.SearchStrategy[str]:
    return st.one_of(non_ascii(), with_nul(), over_long())


def hostile_numbers() -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [float("nan"), float("inf"), float("-inf"), -1, 0, -(2**63), 2**63, 10**30, 1e308, "1e3"]
    )


def _nest(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


def nested_json() -> st.SearchStrategy[Any]:
    """A value hundreds of levels deep (2: the defect's 300 nested lists were 686 bytes).
    Bounded under Python's own recursion limit, so our encoder can send it."""
    return st.builds(_nest, st.integers(32, 700), st.sampled_from(["list", "dict"]))


def hostile_value() -> st.SearchStrategy[Any]:
    return st.one_of(hostile_strings(), hostile_numbers(), nested_json())


def mutate(value: Any, data: st.DataObject, rate: float = 0.3) -> Any:
    """`value` with some leaves replaced: strings by hostile strings, numbers by hostile
    numbers, and any value inside an object or list by nested JSON (or a hostile string).
    An object may also gain a key holding nested JSON."""

    def hit() -> bool:
        return data.draw(st.floats(0, 1)) < rate

    if isinstance(value, dict):
        out = {k: mutate(v, data, rate) for k, v in value.items()}
        if hit():
            out[data.draw(st.one_of(st.just("m"), hostile_strings()))] = data.draw(nested_json())
        return out
    if isinstance(value, list):
        return [mutate(v, data, rate) for v in value]
    if not hit():
        return value
    if isinstance(value, bool) or value is None:
        return data.draw(hostile_value())
    if isinstance(value, int | float):
        return data.draw(st.one_of(hostile_numbers(), hostile_strings()))
    if isinstance(value, str):
        return data.draw(hostile_strings())
    return value


# uvicorn's HTTP parser (h11) takes a request head of at most 16 KiB and drops the connection
# past it: its guard, which the fuzzer does not need to hit on every long token.
HEADER_MAX = 8_000


def header_safe(token: str) -> bytes:
    """A hostile token as header bytes: the HTTP client refuses control characters in a header
    (so no server ever sees them); everything else, UTF-8 included, is sent as is."""
    raw = token.encode("utf-8", "surrogatepass")
    return bytes(b for b in raw if b >= 0x20 and b != 0x7F)[:HEADER_MAX]


def authorizations(tokens: dict[str, str]) -> st.SearchStrategy[bytes | None]:
    """The Authorization header: mostly the admin token (so requests reach the handlers),
    else the worker or read token, none, a hostile bearer token, or a hostile scheme."""
    hostile = hostile_strings().map(header_safe)

    def pick(choice: int) -> st.SearchStrategy[bytes | None]:
        if choice < 5:
            return st.just(f"Bearer {tokens['admin']}".encode())
        if choice < 7:
            return st.just(f"Bearer {tokens['worker' if choice == 5 else 'read']}".encode())
        if choice == 7:
            return st.none()
        return hostile.map(lambda t: b"Bearer " + t) if choice == 8 else hostile

    return st.integers(0, 9).flatmap(pick)
