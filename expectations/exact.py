"""Exact arithmetic on amounts, and exact text for dq_result.

Amounts and shares are turned into integer counts of micro-units (10^-6 万元, 10^-6 percentage
point) held in float64: every integer below 2^53 is a float64 exactly, and so is every sum or
difference of such integers that stays below 2^53. So 700.24 + 78.58 + 280.02 is exactly
1058.840000, half-units (0.005 = 5000 µ) add exactly, and `tolerance >= off_by` is the exact verdict.
MAX_MICRO keeps a group of up to 64 items below 2^53; larger amounts (over 140 million 万元 on one
line) are refused rather than checked inexactly.

GX reads measures converted to units (micro / 10^6): a correctly rounded division by one constant is
monotone and maps equal integers to equal floats, so the verdict survives the conversion.
"""
from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MICRO = 10**6
MAX_MICRO = 2**47
DEFAULT_DIGITS = 2  # when the parser did not record how many decimals the file stated


def micro(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Decimals -> float64 integer micro-units; null -> NaN."""
    scaled = pc.multiply(values, pa.scalar(Decimal(MICRO), pa.decimal128(7, 0)))
    out = pc.cast(scaled, pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
    if np.nanmax(np.abs(out), initial=0) >= MAX_MICRO:
        raise ValueError(f"a value of {values.type} exceeds {MAX_MICRO / MICRO:.0f}; too large to check exactly")
    return out


def half_micro(digits: pa.ChunkedArray | pa.Array, scale: int) -> np.ndarray:
    """How far a stored value may lie from the true one, in micro-units: half a unit of its last stated
    digit (2 -> 5000 µ = 0.005, 0 -> 0.5; null counts as 2). A value stated with more decimals than
    the column's `scale` was rounded again when stored (1.005 -> 1.01), so it may be off by half a
    unit at `scale` plus half a unit of the stated digit (0.0055). Halves of a micro-unit are exact."""
    d = pc.fill_null(pc.cast(digits, pa.int8()), min(DEFAULT_DIGITS, scale)).to_numpy(zero_copy_only=False)
    d = np.clip(d.astype(np.float64), 0, 6)
    stated = 5 * 10 ** (5 - d)
    return np.where(d > scale, 5 * 10 ** (5 - scale) + stated, stated)


def units(micro_values) -> np.ndarray:
    return np.asarray(micro_values, dtype=np.float64) / MICRO


def dec(micro_value: float) -> Decimal | None:
    """An integer micro-unit count back to its exact Decimal."""
    if micro_value is None or micro_value != micro_value:
        return None
    return Decimal(int(micro_value)).scaleb(-6)


def categorical(values: pa.ChunkedArray | pa.Array, in_runs: bool = False) -> pd.Categorical:
    """Strings -> pandas Categorical (integer codes for groupby, -1 for null), categories in order of
    first appearance. `in_runs`: see `encode`."""
    indices, dictionary = encode(values, in_runs)
    return pd.Categorical.from_codes(indices, categories=dictionary.to_pylist())


def encode(values: pa.ChunkedArray | pa.Array, in_runs: bool = False) -> tuple[np.ndarray, pa.Array]:
    """Each value's index in the distinct values (in order of first appearance; -1 for null), and those.
    `in_runs`: the values come in long runs (a document's rows lie together), so hashing one value per
    run and repeating its index costs less than hashing every row; the result is the same."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if in_runs:
        runs = pc.run_end_encode(values)
        encoded = runs.values.dictionary_encode()
        lengths = np.diff(runs.run_ends.to_numpy(), prepend=0)
        indices = np.repeat(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), lengths)
        return indices, encoded.dictionary
    encoded = values.dictionary_encode()
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), encoded.dictionary


def numbers(values: pa.ChunkedArray) -> np.ndarray:
    """Integers or decimals -> float64, null -> NaN (for comparisons; the cast is monotone)."""
    return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)


def text(value: Decimal | None, digits: int | None = None) -> str:
    """`Decimal('1058.840000')` -> '1058.84'; with digits, exactly that many decimals."""
    if value is None:
        return ""
    if digits is not None:
        return f"{value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN):f}"
    return f"{value.normalize():f}"


def at_least(value: Decimal | None, digits: int) -> str:
    """Exact, with at least `digits` decimals: (Decimal('15'), 2) -> '15.00', (Decimal('0.015'), 2) -> '0.015'."""
    if value is None:
        return ""
    needed = max(-value.normalize().as_tuple().exponent, 0)
    return text(value, max(digits, needed))


def rounded(value: Decimal, digits: int, outward: str | None = None) -> str:
    """A quotient shown to `digits` decimals; outward='down'/'up' rounds an interval's ends outward."""
    mode = {"down": ROUND_FLOOR, "up": ROUND_CEILING}.get(outward, ROUND_HALF_EVEN)
    return f"{value.quantize(Decimal(1).scaleb(-digits), rounding=mode):f}"
