"""The verdicts of a suite's rules (expectations.rules) computed with numpy and pandas: the rows GX
would list as unexpected, without importing GX. Semantics follow GX 1.x on a pandas batch:

- the condition keeps the rows where the column equals the value (null never does);
- pair_ge (ExpectColumnPairValuesAToBeGreaterThanB, or_equal): rows where both values are missing are
  ignored; a row with one missing fails (the comparison is false);
- between (ExpectColumnValuesToBeBetween): missing values are ignored; bounds inclusive;
- unique (ExpectColumnValuesToBeUnique): every row of a value held more than once fails (missing ignored);
- compound_unique (ExpectCompoundColumnsToBeUnique): rows where all values are missing are ignored;
  every row of a combination held more than once fails.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from expectations.rules import CHECK, Rule


def unexpected_rows(rules: list[Rule], frame: pd.DataFrame) -> dict[str, set[int]]:
    failing: dict[str, set[int]] = {r.check: set() for r in rules}
    if frame.empty:
        return failing
    for rule in rules:
        rows = _rows(rule, frame)
        bad = _unexpected(rule, frame, rows)
        failing[rule.check].update(np.nonzero(bad)[0].tolist())
    return failing


def _rows(rule: Rule, frame: pd.DataFrame) -> np.ndarray:
    if rule.where is None:
        return np.ones(len(frame), dtype=bool)
    column, value = (rule.check, True) if rule.where == CHECK else rule.where
    return np.asarray(frame[column].eq(value).fillna(False), dtype=bool)


def _missing(series: pd.Series) -> np.ndarray:
    return np.asarray(series.isna(), dtype=bool)


def _unexpected(rule: Rule, frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    args = rule.args
    if rule.kind == "pair_ge":
        a, b = frame[args["column_A"]], frame[args["column_B"]]
        both = _missing(a) & _missing(b)
        with np.errstate(invalid="ignore"):
            ok = np.asarray(a.to_numpy(dtype=np.float64) >= b.to_numpy(dtype=np.float64), dtype=bool)
        return rows & ~both & ~ok
    if rule.kind == "between":
        v = frame[args["column"]]
        present = ~_missing(v)
        values = v.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.zeros(len(frame), dtype=bool)
        with np.errstate(invalid="ignore"):
            if "min_value" in args:
                bad |= values < args["min_value"]
            if "max_value" in args:
                bad |= values > args["max_value"]
        return rows & present & bad
    if rule.kind == "unique":
        v = frame[args["column"]]
        take = rows & ~_missing(v)
        bad = np.zeros(len(frame), dtype=bool)
        bad[take] = np.asarray(v[take].duplicated(keep=False), dtype=bool)
        return bad
    if rule.kind == "compound_unique":
        codes = [_codes(frame[c]) for c in args["column_list"]]
        take = rows & ~np.logical_and.reduce([c < 0 for c in codes])
        bad = np.zeros(len(frame), dtype=bool)
        if take.any():
            bad[take] = _duplicated(_combined([c[take] for c in codes]))
        return bad
    raise ValueError(f"unknown rule kind {rule.kind!r} for {rule.check}")


def _codes(series: pd.Series) -> np.ndarray:
    """Integer codes of a column's values (distinct values, distinct codes), -1 for missing: a
    categorical's own codes; whole numbers (years) less their minimum; pd.factorize otherwise."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy().astype(np.int64)
    values = series.to_numpy()
    if values.dtype.kind == "f":
        present = ~np.isnan(values)
        known = values[present]
        low = known.min(initial=0)
        if (known == np.floor(known)).all() and known.max(initial=0) - low < 2**20:
            return np.where(present, np.where(present, values, low) - low, -1).astype(np.int64)
    return pd.factorize(values)[0].astype(np.int64)


def _combined(codes: list[np.ndarray]) -> np.ndarray:
    """One int64 per combination of codes, missing (-1) a value of its own as in pandas' duplicated."""
    key = np.zeros(len(codes[0]), dtype=np.int64)
    for c in codes:
        width = int(c.max(initial=-1)) + 2
        if int(key.max(initial=0)) >= 2**62 // width:  # renumber the combinations so far: no overflow
            key = pd.factorize(key)[0].astype(np.int64)
        key = key * width + (c + 1)
    return key


def _duplicated(key: np.ndarray) -> np.ndarray:
    """Rows whose key another row holds too (DataFrame.duplicated(keep=False)). By sorting: the rows of
    a table come mostly in key order, and a hash table costs several times more on 10^5 distinct keys."""
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    same = ordered[1:] == ordered[:-1]
    held_twice = np.zeros(len(key), dtype=bool)
    held_twice[1:] |= same
    held_twice[:-1] |= same
    out = np.empty(len(key), dtype=bool)
    out[order] = held_twice
    return out
