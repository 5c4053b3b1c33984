"""Documents built by hand for the storage tests and the storage benchmark (no parser involved)."""
from __future__ import annotations

import hashlib
import random
from decimal import Decimal

from pifu.model import ANNUAL, EXPENDITURE, INCOME, LONG_TERM, Document, FundingLine, IndicatorValue, Problem, Source

INCOME_ITEMS = ("财政拨款", "财政专户管理资金", "单位资金")
EXPENDITURE_ITEMS = ("人员类项目支出", "运转类项目支出", "特定目标类项目支出")
TOTAL = "合计"


def source(path: str, content: str | None = None, fmt: str = "text") -> Source:
    sha = hashlib.sha256((content if content is not None else path).encode()).hexdigest()
    return Source(path=path, sha256=sha, format=fmt, encoding="utf-8", size=1)


def funding(year: int, income: dict[str, str], expenditure: dict[str, str],
            shares: dict[str, str] | None = None) -> list[FundingLine]:
    """Lines for one year; totals are the sums unless a 合计 is given explicitly."""
    shares = shares or {}
    out = []
    for flow, items in ((INCOME, income), (EXPENDITURE, expenditure)):
        amounts = {k: Decimal(v) for k, v in items.items()}
        amounts.setdefault(TOTAL, sum(amounts.values(), Decimal(0)))
        for item, amount in amounts.items():
            share = shares.get(f"{flow}:{item}")
            out.append(FundingLine(flow, item, year, amount, Decimal(share) if share else None))
    return out


def indicator(horizon: str, year: int | None, lv3: str, raw: str, comparator: str | None, value: str | None,
              unit: str | None, lv1: str = "产出指标", lv2: str = "数量指标") -> IndicatorValue:
    return IndicatorValue(horizon, year, lv1, lv2, lv3, raw, comparator, Decimal(value) if value else None,
                          unit, "计划标准", "绩效基本型")


def document(path: str, department: str, fiscal_year: int, *, content: str | None = None,
             funding_lines: list[FundingLine] | None = None, indicators: list[IndicatorValue] | None = None,
             texts: dict[str, list[str]] | None = None, problems: list[Problem] | None = None) -> Document:
    return Document(
        source=source(path, content),
        department=department,
        fiscal_year=fiscal_year,
        funding=funding_lines or [],
        indicators=indicators or [],
        texts=texts or {"functions": ["领导全市工会工作"], "annual_tasks": [], "long_term_goal": [], "annual_goal": []},
        problems=problems or [],
    )


REGIONS = ("鄂州市", "武汉市", "黄石市", "十堰市", "宜昌市", "襄阳市", "荆州市", "孝感市", "黄冈市", "咸宁市")
AGENCIES = ("总工会", "教育局", "财政局", "民政局", "卫生健康委员会", "交通运输局", "农业农村局", "文化和旅游局")


def synthetic(n: int, seed: int = 0, start: int = 0, fiscal_year: int = 2025,
              funding_years: int = 5, indicator_count: int = 38) -> list[Document]:
    """`n` plausible documents: 8 funding items x `funding_years` years (40 rows) and
    `indicator_count` indicators x (1 long-term + 3 annual) values (152 rows) each."""
    rng = random.Random(seed * 1_000_003 + start)
    docs = []
    for k in range(start, start + n):
        dept = f"{REGIONS[k % len(REGIONS)]}{AGENCIES[(k // len(REGIONS)) % len(AGENCIES)]}{k // 80 or ''}"
        lines = []
        for y in range(fiscal_year - funding_years + 1, fiscal_year + 1):
            inc = {i: f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}" for i in INCOME_ITEMS}
            total = sum(Decimal(v) for v in inc.values())
            p = (total * Decimal("0.5")).quantize(Decimal("0.01"))
            o = (total * Decimal("0.1")).quantize(Decimal("0.01"))
            exp = {"人员类项目支出": str(p), "运转类项目支出": str(o), "特定目标类项目支出": str(total - p - o)}
            shares = {f"{INCOME}:{i}": "33.33" for i in INCOME_ITEMS} if y == fiscal_year else None
            lines += funding(y, inc, exp, shares)
        inds = []
        for j in range(indicator_count):
            lv3 = f"指标{j:03d}"
            v = rng.randint(1, 1000)
            inds.append(indicator(LONG_TERM, None, lv3, f"≥{v}人", ">=", str(v), "人", lv2=f"二级{j % 7}"))
            for y in range(fiscal_year - 2, fiscal_year + 1):
                w = f"{rng.randint(0, 100)}.{rng.randint(0, 9)}"
                inds.append(indicator(ANNUAL, y, lv3, f"≥{w}%", ">=", w, "%", lv2=f"二级{j % 7}"))
        docs.append(document(
            f"/data/in/{k:06d}.txt", dept, fiscal_year, content=f"doc {seed} {k}",
            funding_lines=lines, indicators=inds,
            texts={"functions": [f"职能{k}一", f"职能{k}二"], "annual_tasks": ["任务"], "long_term_goal": ["目标"],
                   "annual_goal": []},
            problems=[Problem("label_completed", "info", "line 9", "补全")] if k % 3 == 0 else [],
        ))
    return docs


def byte_flip_outcomes(good: bytes, name: str, seed: int, tries: int = 60) -> set[str]:
    """Read `good` with 1–8 random bytes changed, `tries` times: "read" or the DocumentError reason of each.
    Any other exception escapes, failing the caller's test."""
    import random

    from pifu.model import DocumentError
    from pifu.readers import read

    rng = random.Random(seed)
    outcomes = set()
    for _ in range(tries):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            read(bytes(data), name)
            outcomes.add("read")
        except DocumentError as e:
            outcomes.add(e.reason)
    return outcomes
