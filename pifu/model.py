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
    # fiscal_appropriation, special_account, unit_funds, other_funds, personnel, operating,
    # specific_purpose, basic, project, total; None for an item pifu does not know (see layout.ITEM_CLASSES)
    item_class: str | None = None


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
    # Columns of the other templates (null when the form has no such column), see contract §4.
    lv1_class: str | None = None  # cost, management, effectiveness, social_effect, sustainability, output, outcome, satisfaction
    value_type: str | None = None  # 指标值类型 as written: 定量 / 定性
    explanation: str | None = None  # 指标解释
    scoring_rule: str | None = None  # 评(扣)分标准
    remark: str | None = None  # 备注
    weight: Decimal | None = None  # 权重 / 分值
    extra: dict[str, str] | None = None  # columns pifu does not know yet, by their header text


@dataclass(slots=True)
class DutyTarget:
    """A row of the 年度履职目标 table. Grain: document × row (row_no, 1-based in table order)."""

    function: str  # 部门职能
    task: str | None  # 年度目标任务
    item: str | None  # 支出项目名称
    amount: Decimal | None  # 预算金额（万元）
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
    agency_code: str | None = None  # 部门预算编码
    filed_on: str | None = None  # 填报日期, ISO date (may fall in the year before the fiscal year)
    duty_targets: list[DutyTarget] = field(default_factory=list)  # 年度履职目标

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
            "agency_code": self.agency_code,
            "filed_on": self.filed_on,
            "funding": [
                {"flow": f.flow, "item": f.item, "item_class": f.item_class, "year": f.year, "amount": f.amount,
                 "share_pct": f.share_pct}
                for f in self.funding
            ],
            "indicators": [
                {
                    "horizon": i.horizon, "year": i.year, "lv1": i.lv1, "lv2": i.lv2, "lv3": i.lv3,
                    "raw": i.raw, "comparator": i.comparator, "value": i.value, "unit": i.unit,
                    "basis": i.basis, "category": i.category, "lv1_class": i.lv1_class,
                    "value_type": i.value_type, "explanation": i.explanation, "scoring_rule": i.scoring_rule,
                    "remark": i.remark, "weight": i.weight, "extra": dict(i.extra) if i.extra else None,
                }
                for i in self.indicators
            ],
            "texts": {k: list(self.texts.get(k, [])) for k in TEXT_SECTIONS},
            "duty_targets": [
                {"function": t.function, "task": t.task, "item": t.item, "amount": t.amount}
                for t in self.duty_targets
            ],
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
