"""One ephemeral GX context for the process, and validating a suite against a DataFrame.

Creating a context and its pandas data source costs about a second; both are made once and reused.
Every table's suite has a DataFrame asset of the same name with the `whole_dataframe` batch definition.
"""
from __future__ import annotations

import functools
import threading

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.row_conditions import Column

from expectations.registry import CHECKS, GX_SEVERITY
from expectations.rules import CHECK, Rule

RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False,
                 "partial_unexpected_count": 0}
_lock = threading.Lock()


_KINDS = {"pair_ge": "ExpectColumnPairValuesAToBeGreaterThanB", "between": "ExpectColumnValuesToBeBetween",
          "unique": "ExpectColumnValuesToBeUnique", "compound_unique": "ExpectCompoundColumnsToBeUnique"}


def suite_of(name: str, rules: list[Rule]) -> gx.ExpectationSuite:
    """The GX suite of a table's rules (expectations.rules), each expectation deciding its check."""
    expectations = []
    for rule in rules:
        kwargs = dict(rule.args)
        if rule.kind == "pair_ge":
            kwargs["or_equal"] = True
        if rule.where is None:
            kwargs["row_condition"] = None
        elif rule.where != CHECK:
            column, value = rule.where
            kwargs["row_condition"] = Column(column) == value
        expectations.append(expect(rule.check, getattr(gx.expectations, _KINDS[rule.kind]), **kwargs))
    return gx.ExpectationSuite(name=name, expectations=expectations)


def expect(check: str, expectation: type, **kwargs) -> gx.expectations.Expectation:
    """`expectation(**kwargs)` deciding `check`, with the check's severity: by default on the rows where
    the check applies (its boolean column in the derived frame is true); pass row_condition to change."""
    kwargs.setdefault("row_condition", Column(check) == True)  # noqa: E712 (a GX condition, not a test)
    return expectation(meta={"check": check}, severity=GX_SEVERITY[CHECKS[check].severity], **kwargs)


@functools.cache
def _context():
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context, context.data_sources.add_pandas("pifu")


@functools.cache
def _batch_definition(asset: str):
    _, source = _context()
    return source.add_dataframe_asset(asset).add_batch_definition_whole_dataframe("whole_dataframe")


def unexpected_rows(suite: gx.ExpectationSuite, frame: pd.DataFrame, validations: list | None = None
                    ) -> dict[str, set[int]]:
    """Validate `frame` (RangeIndex) with `suite`; per check, the positions of the rows that fail it.
    `validations`: when a list, the GX validation result is appended to it (for the Data Docs)."""
    failing: dict[str, set[int]] = {e.meta["check"]: set() for e in suite.expectations}
    if frame.empty:
        return failing
    with _lock:  # the context's batch manager is shared state
        batch = _batch_definition(suite.name).get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(suite, result_format=RESULT_FORMAT)
    if validations is not None:
        validations.append(result)
    for r in result.results:
        if (error := _error(r.exception_info)) or "unexpected_index_list" not in r.result:
            # GX reports a metric that raised as a failed expectation with no rows; never read that as a pass.
            raise RuntimeError(f"GX expectation {r.expectation_config.type} for {r.expectation_config.meta['check']} "
                               f"could not run on {suite.name}: {error or 'no unexpected_index_list'}")
        failing[r.expectation_config.meta["check"]].update(r.result["unexpected_index_list"])
    return failing


def _error(info: dict) -> str | None:
    """The exception message in `exception_info`: flat for one expectation, per metric in a suite."""
    for entry in (info, *(v for v in info.values() if isinstance(v, dict))):
        if entry.get("raised_exception") or entry.get("exception_message"):
            return str(entry.get("exception_message") or "exception")
    return None
