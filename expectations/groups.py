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


def per_group(key: np.ndarray, columns: dict[str, tuple[str, np.ndarray]]) -> pd.DataFrame:
    """Each row gets its group's aggregates {name: (how, values)}; rows without a group get NaN."""
    frame = pd.DataFrame({name: values for name, (_, values) in columns.items()})
    aggregated = frame.groupby(key).agg({name: how for name, (how, _) in columns.items()})
    out = aggregated.reindex(key).reset_index(drop=True).astype(np.float64)
    out.loc[key < 0] = np.nan
    return out


def distinct_per(key: np.ndarray, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """How many distinct `values` (where mask) each row's group has."""
    counts = pd.Series(values[mask]).groupby(key[mask]).nunique()
    return counts.reindex(key).fillna(0).to_numpy()
