"""Who a finding is for: the department (`source`) or whoever checks pifu's reading (`extraction`).

`source`: the department's form says it: it contradicts itself (a stated share that does not match its
amount, items that do not add up to 合计) or leaves something out. The finance bureau must be told.
`extraction`: pifu repaired or guessed something there (completed a cut label, split an ambiguous row,
read a shifted row by content, moved an indicator under another parent): the reading must be checked
before anyone is told the form is wrong.

Every parser problem code has an attribution (`fact_problem.attribution`). A data-quality finding
(`dq_result`) is `extraction` when a row it involves carries an extraction problem (its code goes to
`dq_result.problem_code`) or when it breaks one of pifu's own invariants (an error-severity check: a
duplicate key is a pipeline bug), and `source` otherwise.
"""
from __future__ import annotations

SOURCE, EXTRACTION = "source", "extraction"

# Problems where the form itself lacks something pifu cannot make up; every other code (including codes
# readers add later) is a repair or a guess of pifu's.
SOURCE_PROBLEMS = frozenset({"missing_section", "missing_basis"})


def of_problem(code: str | None) -> str:
    return SOURCE if code in SOURCE_PROBLEMS else EXTRACTION
