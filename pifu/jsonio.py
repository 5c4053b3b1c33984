"""JSON with exact decimals: a `Decimal` is written as the JSON number it is, never through float."""
from __future__ import annotations

import json
from decimal import Decimal


class _Exact(float):
    """A float subclass whose repr is the decimal's own text, so json writes it digit for digit."""

    def __new__(cls, d: Decimal):
        self = super().__new__(cls, d)
        self._text = format(d, "f")
        return self

    def __repr__(self) -> str:
        return self._text

    __str__ = __repr__


def _prepare(obj):
    if isinstance(obj, Decimal):
        return _Exact(obj)
    if isinstance(obj, dict):
        return {k: _prepare(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_prepare(v) for v in obj]
    return obj


def dumps(obj, **kw) -> str:
    kw.setdefault("ensure_ascii", False)
    enc = json.JSONEncoder(**kw)
    # json's C encoder formats floats with float.__repr__; the pure-Python one calls repr(), ours.
    chunks = json.encoder._make_iterencode(  # type: ignore[attr-defined]
        {}, enc.default,
        json.encoder.py_encode_basestring_ascii if enc.ensure_ascii else json.encoder.py_encode_basestring,
        enc.indent, repr, enc.key_separator, enc.item_separator, enc.sort_keys, enc.skipkeys, False,
    )(_prepare(obj), 0)
    return "".join(chunks)


def loads(text: str):
    """Numbers with a fraction come back as `Decimal`, so a round trip is exact."""
    return json.loads(text, parse_float=Decimal)
