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
        sub = frame[args["column_list"]]
        take = rows & ~np.asarray(sub.isna().all(axis=1), dtype=bool)
        bad = np.zeros(len(frame), dtype=bool)
        if take.any():
            bad[take] = np.asarray(sub[take].duplicated(keep=False), dtype=bool)
        return bad
    raise ValueError(f"unknown rule kind {rule.kind!r} for {rule.check}")
