"""Per-group values handed back to every row of the group: pandas groupby on integer codes,
so the derived frame stays aligned with the source table (no joins, no re-sorting)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def codes(*parts) -> np.ndarray:
    """One int64 key per combination of integer codes; -1 (no group) where a part is NaN or negative
    (pandas codes a null category as -1)."""
    parts = [np.asarray(p, dtype=np.float64) for p in parts]
    bad = np.zeros(len(parts[0]), dtype=bool)
    for p in parts:
        bad |= np.isnan(p) | (p < 0)
    key = np.zeros(len(parts[0]), dtype=np.int64)
    for p in parts:
        p = np.where(bad, 0, p - (p[~bad].min() if (~bad).any() else 0)).astype(np.int64)
        key = key * (int(p.max(initial=0)) + 1) + p
    return np.where(bad, -1, key)


# How each aggregate folds a group's values into one, NaN skipped (as pandas' groupby sum/max/min).
_FOLD = {"max": np.fmax, "min": np.fmin}


def per_group(key: np.ndarray, columns: dict[str, tuple[str, np.ndarray]]) -> pd.DataFrame:
    """Each row gets its group's aggregates {name: (how, values)} (how: "sum", "max" or "min", NaN
    skipped; a group of NaN only gets NaN from max/min); rows without a group get NaN.
    numpy on one factorization of the key: a pandas groupby costs several times more per column. The
    sums are exact: every value is an integer or half-integer count of micro-units (expectations.exact)."""
    group, keys = pd.factorize(key)
    n = len(keys)
    out = {}
    for name, (how, values) in columns.items():
        values = np.asarray(values, dtype=np.float64)
        if how == "sum":
            folded = np.bincount(group, weights=np.where(np.isnan(values), 0.0, values), minlength=n)
            folded = folded.astype(np.float64, copy=False)  # no rows: bincount gives int64
        else:
            folded = np.full(n, np.nan)
            _FOLD[how].at(folded, group, values)
        spread = folded[group]
        spread[key < 0] = np.nan
        out[name] = spread
    return pd.DataFrame(out)


def distinct_per(key: np.ndarray, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """How many distinct `values` (non-negative integer codes, where mask) each row's group has (float64)."""
    group, keys = pd.factorize(key)
    width = np.int64(int(values[mask].max(initial=0)) + 1)
    pairs = pd.unique(group[mask] * width + values[mask])  # each (group, value) once
    return np.bincount(pairs // width, minlength=len(keys))[group].astype(np.float64)
