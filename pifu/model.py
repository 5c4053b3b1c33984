"""The document model: what one 部门整体绩效目标批复 says, once read.

Amounts and values are `Decimal` end to end; `to_dict()` gives the JSON shape of the contract (§2),
with decimals kept exact (see `pifu.jsonio`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from decimal import Decimal

INCOME, EXPENDITURE = "income", "expenditure"
LONG_TERM, ANNUAL = "long_term", "annual"
TEXT_SECTIONS = ("functions", "annual_tasks", "long_term_goal", "annual_goal")


@dataclass(frozen=True)
class Source:
    path: str
    sha256: str
    format: str  # text | xlsx | xls | docx | html | pdf
    encoding: str | None
    size: int = 0


@dataclass(slots=True)
class Problem:
    code: str
    severity: str  # info | warning | error
    where: str  # the cell in the file's own terms: "line 12", "sheet 表1 R12C3", "page 2 row 7", "table 1 row 12"
    message: str


@dataclass(slots=True)  # not frozen: a frozen dataclass is several times slower to build
class FundingLine:
    """Grain: flow × item × year. The current year carries the stated share; history years do not."""

    flow: str
    item: str
    year: int
    amount: Decimal
    share_pct: Decimal | None = None
    line: int = 0  # 1-based line (row) in the source grid; 0 when unknown
    where: str = ""  # the row in the file's own terms: "line 12", "sheet 表1 R12", "page 2 row 7"


@dataclass(slots=True)
class IndicatorValue:
    """Grain: horizon × (lv1, lv2, lv3) × year. `year` is None for long-term targets."""

    horizon: str
    year: int | None
    lv1: str
    lv2: str
    lv3: str
    raw: str
    comparator: str | None
    value: Decimal | None
    unit: str | None
    basis: str | None
    category: str | None
    line: int = 0
    where: str = ""


@dataclass
class Document:
    source: Source
    department: str
    fiscal_year: int
    funding: list[FundingLine] = field(default_factory=list)
    indicators: list[IndicatorValue] = field(default_factory=list)
    texts: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in TEXT_SECTIONS})
    problems: list[Problem] = field(default_factory=list)

    @property
    def region(self) -> str:
        from pifu.values import region_of

        return region_of(self.department)

    def to_dict(self) -> dict:
        """The contract's JSON object (decimals stay `Decimal`; `pifu.jsonio.dumps` writes them exactly)."""
        return {
            "source": asdict(self.source),
            "department": self.department,
            "fiscal_year": self.fiscal_year,
            "funding": [
                {"flow": f.flow, "item": f.item, "year": f.year, "amount": f.amount, "share_pct": f.share_pct}
                for f in self.funding
            ],
            "indicators": [
                {
                    "horizon": i.horizon, "year": i.year, "lv1": i.lv1, "lv2": i.lv2, "lv3": i.lv3,
                    "raw": i.raw, "comparator": i.comparator, "value": i.value, "unit": i.unit,
                    "basis": i.basis, "category": i.category,
                }
                for i in self.indicators
            ],
            "texts": {k: list(self.texts.get(k, [])) for k in TEXT_SECTIONS},
            "problems": [asdict(p) for p in self.problems],
        }


class PifuError(Exception):
    """Base of pifu's errors. `reason` is a short code, `str()` one line a user can act on."""

    reason = "error"

    def __init__(self, path: str, detail: str, reason: str | None = None):
        self.path = path
        self.detail = detail
        if reason:
            self.reason = reason
        super().__init__(f"{path}: {self.reason}: {detail}")


class DocumentError(PifuError):
    """The file cannot be read as a 部门整体绩效目标批复 (not one, truncated, binary, undecodable, too large)."""

    reason = "not_a_document"
