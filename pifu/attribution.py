"""Who a finding is for: the department (`source`) or whoever checks pifu's reading (`extraction`).

`source`: the department's form says it: it contradicts itself (a stated share that does not match its
amount, items that do not add up to 合计) or leaves something out. The finance bureau must be told.
`extraction`: pifu repaired or guessed something there (completed a cut label, split an ambiguous row,
read a shifted row by content, moved an indicator under another parent): the reading must be checked
before anyone is told the form is wrong.

Every parser problem code has an attribution (`fact_problem.attribution`). A data-quality finding
(`dq_result`) is `extraction` when a row it involves carries an extraction problem that can change the
values the check reads (its code goes to `dq_result.problem_code`), or when it breaks one of pifu's own
invariants (an error-severity check: a duplicate key is a pipeline bug); `source` otherwise.

Some repairs cannot change a value: a row shifted by a lost merged cell is read by content (the amount,
the cell with a % sign, the history amounts, in reading order), a page break's repeated section label is
dropped. They are recorded in fact_problem as extraction, but do not make a finding an extraction doubt:
the real sample states 特定目标类项目支出 40.95% of 983.71 for 399.3 (40.59%) on a shifted row, and that
is the department's typo, not pifu's.
"""
from __future__ import annotations

SOURCE, EXTRACTION = "source", "extraction"

# Problems where the form itself lacks something pifu cannot make up; every other code (including codes
# readers add later) is a repair or a guess of pifu's.
SOURCE_PROBLEMS = frozenset({"missing_section", "missing_basis"})


# Extraction problems pifu is certain of and that move no value (see above).
CERTAIN_REPAIRS = frozenset({"row_shifted", "page_break", "section_repeated", "year_header_in_row"})


def of_problem(code: str | None) -> str:
    return SOURCE if code in SOURCE_PROBLEMS else EXTRACTION


def explains(code: str | None) -> bool:
    """Whether a problem of this code on a finding's row makes the finding an extraction doubt."""
    return of_problem(code) == EXTRACTION and code not in CERTAIN_REPAIRS
