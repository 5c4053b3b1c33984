"""Synthetic 部门整体绩效目标批复 text exports, each written beside the document it truly says.

`generate_document(rng, errors)` draws one document (department, funding, texts, a three-level
indicator tree), damages its rendering the way real exports are damaged, and returns the file bytes
with the truth: the contract's JSON minus "source"/"problems", plus "damage" (codes applied) and
"planted" (data errors planted on purpose, only when `errors` > 0).

Every damage stays recoverable by a reader that goes by content: per row it drops empty cells,
ignores a leading cell equal to the section label, takes the last two cells as basis/category, the
cells before the values as labels filling lv1/lv2/lv3 from the right, and carries missing levels from
the previous row of the section. The truth is built from the drawn document, never by reading the file.

A department's amounts for a year depend on (department, year) alone, so every document that states
the year (the department's own for it, and the next two years' as history) states the same figures,
as real ones do (funding_history_matches_previous_document compares them). A planted error that
would make another document of the corpus disagree is left out, or named in `also_fires`.
"""
from __future__ import annotations

import functools
import json
import multiprocessing
import os
import random
from concurrent.futures import ProcessPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from pifu.generate.vocab import (
    AGENCIES, BASES, CATEGORIES, DUTIES, FAMILY_REGIONS, FILERS, GOAL_CLAUSES, LV1_CLASS, QUALITATIVE, REGIONS,
    SPENDING_ITEMS, STANDARD, TASKS,
)

LT_LABEL, AN_LABEL = "长期绩效指标", "年度绩效指标"
INCOME_ITEMS = ("财政拨款", "财政专户管理资金", "单位资金", "合计")
EXPENSE_ITEMS = ("人员类项目支出", "运转类项目支出", "特定目标类项目支出", "合计")
FLOW_LABELS = {"income": "收入构成", "expenditure": "支出构成"}
YEARS = range(2019, 2027)

DAMAGE_CODES = (
    "shift_left", "labels_slid_left", "shift_right", "page_break", "wrong_row_label", "truncated_label",
    "year_header_in_row", "year_header_absent", "annual_year_header_absent", "fewer_values",
    "flow_label_wrong_row", "number_formats", "encoding", "line_endings", "blank_lines",
    "trailing_cells", "html_split",
)
PLANTED_CHECKS = {
    "share_mismatch": "funding_share_matches_amount",
    "total_mismatch": "funding_components_sum_to_total",
    "income_expenditure_mismatch": "income_equals_expenditure",
    "percent_over_100": "indicator_value_in_range",
}
_PLANT_ORDER = ("income_expenditure_mismatch", "total_mismatch", "share_mismatch", "percent_over_100")
# Words that may never serve as a label: values, bases, categories, headers.
_RESERVED = frozenset(QUALITATIVE + BASES + CATEGORIES + (
    "一级指标", "二级指标", "三级指标", "指标值", "合计", LT_LABEL, AN_LABEL))
_WIDE = str.maketrans("0123456789.%", "０１２３４５６７８９．％")
_CMP_TEXT = {
    ">=": ("≥",) * 8 + (">=", "≧"), "<=": ("≤",) * 8 + ("<=", "≦"),
    ">": (">", "＞"), "<": ("<", "＜"), "=": ("",),
}
FAMILIES = ("hubei", "hubei2021", "hunan2023", "fujian2019", "hubei_grid")
_ENCODINGS = (("utf-8", 70), ("utf-8-sig", 10), ("gb18030", 12), ("utf-16", 8))
_NEWLINES = (("\n", 60), ("\r\n", 35), ("\r", 5))


# ---------------------------------------------------------------- public API

def generate(count: int, out_dir, seed: int = 0, errors: float = 0.0,
             workers: int | None = None, fmt: str = "text", family: str = "hubei") -> list[Path]:
    """Write `doc-NNNNN.<suffix>` and `doc-NNNNN.truth.json` per document; returns the documents' paths.

    `fmt`: text (a damaged text export), or a format in which the form keeps its merged cells (xlsx, xls,
    docx, html, pdf: see `pifu.generate.form`). `family`: the template (FAMILIES): hubei (the current Hubei
    批复, the default), hubei2021, hunan2023, fujian2019, hubei_grid; planted errors are hubei's only.

    Each document has its own seed, so the files are the same whatever `workers` is; `None` forks
    one process per CPU from 2,000 documents up (where fork exists) and works in-process below.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    picks = _picks(count, seed)
    years: dict[tuple[str, int], set[int]] = {}
    for region, agency, year in picks:
        years.setdefault((region, agency), set()).add(year)
    picks = [(region, agency, year, frozenset(years[region, agency])) for region, agency, year in picks]
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if count >= 2000 else 1
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        names = _write_docs(out, seed, errors, 0, picks, fmt, family)
    else:
        step = -(-count // (workers * 4))
        jobs = [(out, seed, errors, a, picks[a:a + step], fmt, family) for a in range(0, count, step)]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            names = [name for part in pool.map(_write_docs, *zip(*jobs)) for name in part]
    # The writers name what they wrote: globbing a directory of 2 × count files once per document is
    # quadratic (minutes at 100,000).
    return [out / name for name in names]


def _picks(count: int, seed: int) -> list[tuple[str, int, int]]:
    """(region, agency, year) per document from a seeded permutation, so a (department, year)
    repeats only rarely (a deliberate re-issue, about 2%) until the permutation is used up."""
    order = random.Random(f"pifu-order:{seed}")
    combos = [(r, a, y) for r in REGIONS for a in range(len(AGENCIES)) for y in YEARS]
    order.shuffle(combos)
    picks: list[tuple[str, int, int]] = []
    for i in range(count):
        reissue = picks and order.random() < 0.02
        picks.append(order.choice(picks) if reissue else combos[i % len(combos)])
    return picks


def _write_docs(out: Path, seed: int, errors: float, start: int, picks: list, fmt: str = "text",
                family: str = "hubei") -> list[str]:
    names = []
    for i, (region, agency, year, corpus_years) in enumerate(picks, start):
        rng = random.Random(f"pifu-doc:{seed}:{i}" if family == "hubei" else f"pifu-doc:{family}:{seed}:{i}")
        if family in FAMILY_REGIONS:
            region = FAMILY_REGIONS[family][REGIONS.index(region) % len(FAMILY_REGIONS[family])]
        data, truth = generate_document(rng, errors, region=region, agency=agency, year=year,
                                        corpus_years=corpus_years, fmt=fmt, family=family)
        stem = f"doc-{i + 1:05d}"
        names.append(f"{stem}{truth.pop('suffix', '.txt')}")
        (out / names[-1]).write_bytes(data)
        (out / f"{stem}.truth.json").write_text(dumps_truth(truth), encoding="utf-8")
    return names


def generate_document(rng: random.Random, errors: float = 0.0, *, region: str | None = None,
                      agency: int | None = None, year: int | None = None,
                      corpus_years: frozenset[int] = frozenset(), fmt: str = "text",
                      family: str = "hubei") -> tuple[bytes, dict]:
    """One document: (file bytes, truth); for a `fmt` other than text, truth["suffix"] is the file's
    suffix. `region`/`agency` (index into AGENCIES)/`year` pin the draw;
    `corpus_years`: the fiscal years the corpus has documents of the same department for, which
    planting must not contradict. `family`: see `generate`."""
    if family != "hubei":
        return _family_document(rng, family, fmt, region, agency, year)
    plant_rng = random.Random(rng.getrandbits(64))
    region = region or rng.choice(REGIONS)
    agency = agency if agency is not None else rng.randrange(len(AGENCIES))
    ag = AGENCIES[agency]
    year = year or rng.choice(YEARS)
    ctx = {"{l}": region[-1], "{dom}": ag["dom"], "{sat}": ag["sat"], "{region}": region[:-1],
           "{Y}": str(year)}
    department = region + ag["name"]
    damage: set[str] = set()
    fmt_numbers = rng.random() < 0.3  # number_formats: separators, full-width digits, dashes

    funding = _draw_funding(department, year)
    variant = rng.choices("ABC", (5, 3, 2))[0]
    tree = _draw_tree(rng, agency, region[-1])
    lt_rows, an_rows = _draw_sections(rng, tree, year)
    texts = _draw_texts(rng, ag, ctx)

    planted = []
    if errors > 0 and plant_rng.random() < errors:
        planted = _plant(plant_rng, funding, variant, an_rows, year, corpus_years)

    if fmt != "text":
        return _form_document(rng, fmt, department, year, funding, texts, lt_rows, an_rows, fmt_numbers,
                              planted, damage)
    protected = _wrong_row_label(rng, lt_rows, an_rows, damage)
    _truncate(rng, lt_rows, an_rows, tree, protected, damage)
    _page_breaks(rng, lt_rows, damage)
    _page_breaks(rng, an_rows, damage)
    _fewer_values(rng, lt_rows, an_rows, damage)

    style = _Style(rng, fmt_numbers, damage)
    lines = _layout(rng, style, department, year, funding, variant, texts, lt_rows, an_rows, damage)
    data = _encode(rng, lines, damage)
    truth = {
        "department": department,
        "fiscal_year": year,
        "funding": _funding_truth(funding, variant, year),
        "indicators": [_indicator_truth(r, "long_term") for r in lt_rows]
        + [_indicator_truth(r, "annual") for r in an_rows],
        "texts": {k: v[1] for k, v in texts.items()},
        "damage": sorted(damage),
        "planted": planted,
    }
    truth["indicators"] = [rec for recs in truth["indicators"] for rec in recs]
    return data, truth


def _form_document(rng, fmt: str, department: str, year: int, funding: dict, texts: dict, lt_rows: list,
                   an_rows: list, numbers: bool, planted: list, damage: set[str]) -> tuple[bytes, dict]:
    """A form that keeps its structure: its year header row is there (variant A) and its labels are whole;
    the renderer of `fmt` adds its format's own quirks."""
    from importlib import import_module

    from pifu.generate.form import Cell, build_form

    style = _Style(rng, numbers, damage)
    _fewer_values(rng, lt_rows, an_rows, damage)

    def amount(cents: int) -> Cell:
        exact = Decimal(_cents_text(cents))
        return Cell(style.amount(cents), kind="amount", number=exact, digits=_stated_digits(exact))

    rows = []
    for flow in ("income", "expenditure"):
        for item, amounts in funding[flow].items():
            stated = _stated_share(funding, flow, item, year)
            share = Cell(style.share(stated), kind="share", number=Decimal(stated), digits=_stated_digits(Decimal(stated)))
            rows.append((flow, item, amount(amounts[year]), share, amount(amounts[year - 2]), amount(amounts[year - 1])))
    for r in lt_rows + an_rows:
        r["raw"] = [style.value(v) for _, v in r["vals"]]
    long_term = [(*r["lv"], r["raw"][0], r["basis"], r["cat"]) for r in lt_rows]
    annual = [(*r["lv"], [raw if keep else "" for raw, keep in zip(r["raw"], r["keep"])], r["basis"], r["cat"])
              for r in an_rows]
    form = build_form(f"{year}年部门整体绩效目标批复", department, year, rows, {k: v[1] for k, v in texts.items()},
                      long_term, annual)
    data, suffix = import_module(f"pifu.generate.render.{fmt}").render(form, rng, damage)
    indicators = [_indicator_truth(r, "long_term") for r in lt_rows] + [_indicator_truth(r, "annual") for r in an_rows]
    return data, {
        "department": department,
        "fiscal_year": year,
        "funding": _funding_truth(funding, "A", year),
        "indicators": [rec for recs in indicators for rec in recs],
        "texts": {k: v[1] for k, v in texts.items()},
        "damage": sorted(damage),
        "planted": planted,
        "format": fmt,
        "suffix": suffix,
    }


_DEC = "\x00dec:"
_DEC_QUOTED = '"\\u0000dec:'
_SCALARS = frozenset((str, int, bool, type(None), Decimal))


def _dec_marker(obj):
    if isinstance(obj, Decimal):
        return _DEC + format(obj, "f")
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


# The C encoder only runs without `indent`; these separators already hold the line breaks.
_ROWS = json.JSONEncoder(ensure_ascii=False, separators=(",\n  ", ": "), default=_dec_marker)
_ITEMS = json.JSONEncoder(ensure_ascii=False, separators=(",\n ", ": "), default=_dec_marker)
_key = json.encoder.encode_basestring


def _dump_value(value) -> str:
    """`value` as json.dumps(value, indent=1) writes it. Nesting one level deeper only adds a space
    after each line break, since a JSON string never holds a raw newline."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{\n " + ",\n ".join(
            _key(k) + ": " + _dump_value(v).replace("\n", "\n ") for k, v in value.items()) + "\n}"
    if isinstance(value, list):
        if not value:
            return "[]"
        types = {type(v) for v in value}
        if types <= _SCALARS:
            return "[\n " + _ITEMS.encode(value)[1:-1] + "\n]"
        if types == {dict} and {type(x) for v in value for x in v.values()} <= _SCALARS and all(value):
            body = _ROWS.encode(value)[2:-2].replace("},\n  {", "\n },\n {\n  ")
            return "[\n {\n  " + body + "\n }\n]"
        return "[\n " + ",\n ".join(_dump_value(v).replace("\n", "\n ") for v in value) + "\n]"
    return _ITEMS.encode(value)


def dumps_truth(truth: dict) -> str:
    """`pifu.jsonio.dumps(truth, indent=1)`, character for character, several times faster.
    Decimals travel as marked strings whose quotes come off at the end (texts never hold a NUL)."""
    head, *rest = _dump_value(truth).split(_DEC_QUOTED)
    return head + "".join(p.replace('"', "", 1) for p in rest)


# ---------------------------------------------------------------- funding

def _cents_text(cents: int) -> str:
    """Amount in 万元 as the export writes it: no trailing zeros (399.30 -> 399.3, 100.00 -> 100)."""
    whole, frac = divmod(cents, 100)
    return f"{whole}.{frac:02d}".rstrip("0").rstrip(".")


def _roundish(rng: random.Random, cents: float, allow_zero: bool = False) -> int:
    """Round to 0, 1 or 2 decimals (by chance), as budget figures come."""
    unit = rng.choice((100, 100, 100, 10, 10, 10, 1, 1, 1, 1))
    c = int(round(cents / unit)) * unit
    return c if (c > 0 or allow_zero) else unit


def _split_expenditure(rng, total: int, no_project: bool) -> list[int]:
    personnel = min(total, _roundish(rng, total * rng.uniform(0.3, 0.75)))
    operating = _roundish(rng, total * rng.uniform(0.03, 0.2), allow_zero=True)
    if no_project or personnel + operating > total:
        return [personnel, total - personnel, 0]
    return [personnel, operating, total - personnel - operating]


def _draw_funding(department: str, year: int) -> dict:
    """Per flow: item -> {year: cents}; 合计 is the exact sum (planting may change it later). Each
    year's figures are drawn from (department, year) alone: any document stating them states the same."""
    traits = random.Random(f"pifu-funding:{department}")
    no_zhuanhu, no_unit, no_project = traits.random() < 0.7, traits.random() < 0.5, traits.random() < 0.08
    base = int(10 ** traits.uniform(3.9, 6.5))  # 80 .. 30,000 万元 in cents
    income = {k: {} for k in INCOME_ITEMS}
    expense = {k: {} for k in EXPENSE_ITEMS}
    for y in (year - 2, year - 1, year):
        rng = random.Random(f"pifu-funding:{department}:{y}")
        fiscal = _roundish(rng, base * rng.uniform(0.75, 1.25))
        zhuanhu = 0 if no_zhuanhu else _roundish(rng, fiscal * rng.uniform(0.01, 0.1))
        unit = 0 if no_unit else _roundish(rng, fiscal * rng.uniform(0.01, 0.2))
        total = fiscal + zhuanhu + unit
        for item, c in zip(INCOME_ITEMS, (fiscal, zhuanhu, unit, total)):
            income[item][y] = c
        parts = _split_expenditure(rng, total, no_project)
        for item, c in zip(EXPENSE_ITEMS, parts + [total]):
            expense[item][y] = c
    return {"income": income, "expenditure": expense, "share_override": {}}


def _share(amount: int, total: int) -> Decimal:
    if total == 0:
        return Decimal(0)
    return (Decimal(amount) * 100 / Decimal(total)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _dec_text(d: Decimal) -> str:
    """Decimal without trailing zeros and never in exponent form (9.50 -> 9.5, 100.00 -> 100)."""
    t = format(d, "f")
    return t.rstrip("0").rstrip(".") if "." in t else t


def _stated_share(funding: dict, flow: str, item: str, year: int) -> str:
    over = funding["share_override"].get((flow, item))
    if over is not None:
        return _dec_text(over)
    items = funding[flow]
    return _dec_text(_share(items[item][year], items["合计"][year]))


def _funding_truth(funding: dict, variant: str, year: int) -> list[dict]:
    lines = []
    for flow in ("income", "expenditure"):
        for item, amounts in funding[flow].items():
            lines.append({"flow": flow, "item": item, "year": year,
                          "amount": Decimal(_cents_text(amounts[year])),
                          "share_pct": Decimal(_stated_share(funding, flow, item, year))})
            if variant == "B" and flow == "income" and item == "财政拨款":
                continue  # its history cells hold the year header
            for y in (year - 2, year - 1):
                lines.append({"flow": flow, "item": item, "year": y,
                              "amount": Decimal(_cents_text(amounts[y])), "share_pct": None})
    return lines


# ---------------------------------------------------------------- indicator tree

def _subst(text: str, ctx: dict) -> str:
    for k, v in ctx.items():
        if k in text:
            text = text.replace(k, v)
    return text


def _parse_spec(spec: str, ctx: dict) -> tuple[str, tuple]:
    name, kind = spec.split("|")
    code, rest = kind[0], kind[1:]
    if code in "nmw":
        unit, span = rest.split(":")
        lo, hi = map(int, span.split("-"))
        return _subst(name, ctx), (code, unit, lo, hi)
    if code == "s":
        lo, hi = map(int, rest[1:].split("-")) if rest else (85, 99)
        return _subst(name, ctx), ("s", "%", lo, hi)
    if code == "z":
        return _subst(name, ctx), ("z", rest or None)
    if code == "q":
        return _subst(name, ctx), ("q", tuple(rest.split("/")))
    return _subst(name, ctx), (code,)


_COUNT_KINDS = "nmw"


def _lv2_candidates(lv1: str, ag: dict, ctx: dict) -> list[tuple[str, list]]:
    spec = STANDARD[lv1]
    own = [(g, [_parse_spec(s, ctx) for s in specs]) for g, specs in ag["groups"].items()]
    if spec == "{agency}":
        return own
    groups = []
    for lv2, items in spec.items():
        if items == "{agency:count}":
            groups.append((lv2, [it for _, its in own for it in its if it[1][0] in _COUNT_KINDS]))
        elif items == "{agency:rate}":
            groups.append((lv2, [it for _, its in own for it in its if it[1][0] not in _COUNT_KINDS]))
        else:
            groups.append((lv2, [_parse_spec(s, ctx) for s in items]))
    return groups


@functools.lru_cache(maxsize=None)
def _universe(agency: int, level: str) -> tuple[dict, tuple[dict, dict, dict]]:
    """Candidate groups per lv1 for an agency at a region level, and per tree level the labels each
    candidate label conflicts with (equal to or a strict prefix of one another). Computed once."""
    ag = AGENCIES[agency]
    ctx = {"{l}": level, "{dom}": ag["dom"], "{sat}": ag["sat"]}
    cands = {lv1: _lv2_candidates(lv1, ag, ctx) for lv1 in STANDARD}
    names = (set(STANDARD), {g for gs in cands.values() for g, _ in gs},
             {name for gs in cands.values() for _, items in gs for name, _ in items})
    conflicts = tuple(
        {a: frozenset(b for b in level_names if b != a and (b.startswith(a) or a.startswith(b)))
         for a in level_names}
        for level_names in names)
    return cands, conflicts


class _Labels:
    """Labels taken so far: unique across all levels, none a strict prefix of another of its level."""

    def __init__(self, conflicts: tuple[dict, dict, dict]):
        self.conflicts = conflicts
        self.all: set[str] = set()
        self.levels: tuple[set, set, set] = (set(), set(), set())

    def fits(self, label: str, level: int) -> bool:
        if label in self.all or label in _RESERVED:
            return False
        return self.conflicts[level][label].isdisjoint(self.levels[level])

    def take(self, label: str, level: int) -> None:
        self.all.add(label)
        self.levels[level].add(label)


def _draw_tree(rng, agency: int, level: str) -> list[tuple[str, str, str, tuple]]:
    """4-7 lv1, each 1-4 lv2, each 1-5 lv3: a flat list of (lv1, lv2, lv3, kind) in document order."""
    names = list(STANDARD)
    want = rng.randint(4, 7)
    order = rng.sample(names, len(names))
    if "履职效能" not in order[:want] and "产出指标" not in order[:want]:
        own = rng.choice(("履职效能", "产出指标"))
        order.remove(own)
        order.insert(0, own)
    all_cands, conflicts = _universe(agency, level)
    labels = _Labels(conflicts)
    chosen: dict[str, list] = {}
    for lv1 in order:
        if len(chosen) == want:
            break
        if not labels.fits(lv1, 0):
            continue
        cands = all_cands[lv1]
        k = max(rng.randint(1, min(4, len(cands))), rng.randint(1, min(4, len(cands))))
        groups = []
        for gi in rng.sample(range(len(cands)), len(cands)):
            if len(groups) == k:
                break
            lv2, items = cands[gi]
            if not labels.fits(lv2, 1):
                continue
            avail = [it for it in items if it[0] != lv2 and labels.fits(it[0], 2)]
            if not avail:
                continue
            m = max(rng.randint(1, min(5, len(avail))), rng.randint(1, min(5, len(avail))))
            picked = []
            for ii in sorted(rng.sample(range(len(avail)), m)):
                name, kind = avail[ii]
                if labels.fits(name, 2):
                    labels.take(name, 2)
                    picked.append((name, kind))
            labels.take(lv2, 1)
            groups.append((gi, lv2, picked))
        if groups:
            labels.take(lv1, 0)
            chosen[lv1] = sorted(groups)
    return [(lv1, lv2, name, kind)
            for lv1 in names if lv1 in chosen
            for _, lv2, picked in chosen[lv1]
            for name, kind in picked]


# ---------------------------------------------------------------- indicator values

def _tenths(t: int) -> str:
    return str(t // 10) if t % 10 == 0 else f"{t // 10}.{t % 10}"


def _targets(rng, kind: tuple) -> tuple[tuple, list[tuple]]:
    """(long-term target, [value Y-2, value Y-1, target Y]); a value is (comparator, number, unit)
    or (None, word, None) for a qualitative one."""
    code = kind[0]
    if code == "r":
        t = ("=", "100", "%") if rng.random() < 0.75 else (">=", rng.choice(("95", "98", "99")), "%")
        hist = lambda: ("=", "100", "%") if rng.random() < 0.6 else ("=", _tenths(rng.randint(950, 1000)), "%")
        lt = t if rng.random() < 0.7 else ("=", "100", "%")
    elif code == "c":
        t = ("<=", "100", "%") if rng.random() < 0.55 else ("=", "100", "%")
        hist = lambda: ("=", "100", "%") if rng.random() < 0.6 else ("=", _tenths(rng.randint(900, 1000)), "%")
        lt = t if rng.random() < 0.7 else ("<=", "100", "%")
    elif code == "z":
        unit = kind[1]
        zero = lambda: ("=", "0", unit or rng.choice(("%", "%", None)))
        t, lt = zero(), zero()
        hist = lambda: t if rng.random() < 0.7 else zero()
    elif code == "l":
        n = rng.randint(1, 5)
        t = (rng.choice(("<", "<=")), str(n), "%")
        hist = lambda: ("=", _tenths(rng.randint(5, n * 10 - 1)), "%")
        lt = t
    elif code == "s":
        n = rng.randint(kind[2], kind[3])
        t = (rng.choices((">=", ">", "="), (8, 1, 1))[0], str(n), "%")
        hist = lambda: ("=", str(min(100, n + rng.randint(0, 3))), "%")
        lt = t if rng.random() < 0.7 else (">=", str(n), "%")
    elif code == "g":
        n = rng.randint(2, 15)
        t = (">=", str(n), "%")
        hist = lambda: ("=", _tenths(rng.randint(max(0, n - 3) * 10, (n + 5) * 10)), "%")
        lt = t
    elif code in "nm":
        _, unit, lo, hi = kind
        n = rng.randint(lo, hi)
        n = n // 100 * 100 if n >= 2000 else n // 10 * 10 if n >= 200 else n
        if code == "n":
            t = (">=" if rng.random() < 0.65 else "=", str(n), unit)
            hist = lambda: ("=", str(n if rng.random() < 0.5 else int(n * rng.uniform(0.85, 1.05))), unit)
        else:
            t = ("<=", str(n), unit)
            hist = lambda: ("=", str(rng.randint(max(0, n // 2), n)), unit)
        lt = t
    elif code == "w":
        _, unit, lo, hi = kind
        tt = rng.randint(lo * 10, hi * 10)
        t = (">=" if rng.random() < 0.5 else "=", _tenths(tt), unit)
        hist = lambda: ("=", _tenths(int(tt * rng.uniform(0.8, 1.1))), unit)
        lt = t
    else:  # qualitative
        words = kind[1]
        w = rng.choice(words)
        t = (None, w, None)
        hist = lambda: t
        lt = (None, rng.choice(words), None)
    return lt, [hist(), hist(), t]


def _draw_sections(rng, tree: list, year: int) -> tuple[list[dict], list[dict]]:
    """Rows of the long-term and annual sections; most indicators are in both, a few in one only."""
    n = len(tree)
    idx = list(range(n))
    lt_only = set(rng.sample(idx, max(0, min(n - 3, rng.choice((0, 0, 1, 2))))))
    rest = [i for i in idx if i not in lt_only]
    an_only = set(rng.sample(rest, max(0, min(len(rest) - 3, rng.choice((0, 0, 1, 2))))))
    # most departments state 计划标准 / 绩效基本型 throughout, as the sample does
    uniform = rng.random() < 0.6
    lt_rows, an_rows = [], []
    for i, (lv1, lv2, lv3, kind) in enumerate(tree):
        if uniform:
            basis, cat = BASES[0], CATEGORIES[0]
        else:
            basis = rng.choices(BASES, cum_weights=(70, 85, 95, 100))[0]
            cat = rng.choices(CATEGORIES, cum_weights=(75, 95, 100))[0]
        lt_val, an_vals = _targets(rng, kind)
        common = {"lv": (lv1, lv2, lv3), "w": [lv1, lv2, lv3], "basis": basis, "cat": cat,
                  "pb": False, "rep": False, "wrong": False}
        if i not in an_only:
            lt_rows.append({**common, "w": [lv1, lv2, lv3],
                            "vals": [(None, lt_val)], "keep": [True], "fewer": None})
        if i not in lt_only:
            an_rows.append({**common, "w": [lv1, lv2, lv3],
                            "vals": list(zip((year - 2, year - 1, year), an_vals)),
                            "keep": [True, True, True], "fewer": None})
    for rows in (lt_rows, an_rows):
        prev = (None, None)
        for r in rows:
            r["show1"] = r["lv"][0] != prev[0]
            r["show2"] = r["lv"][:2] != prev
            prev = r["lv"][:2]
    return lt_rows, an_rows


# ---------------------------------------------------------------- indicator damage

def _written_labels(r: dict) -> list[str]:
    out = []
    if r["show1"] or r["rep"]:
        out.append(r["w"][0])
    if r["show2"] or r["rep"]:
        out.append(r["w"][1])
    out.append(r["w"][2])
    return out


def _wrong_row_label(rng, lt_rows, an_rows, damage) -> set[str]:
    """Move an lv2 label of the long-term section from its group's first row to the second, where the
    annual section names that group explicitly on the same lv3 (so the reader can put it back)."""
    if rng.random() >= 0.3:
        return set()
    an_by_lv3 = {r["lv"][2]: r for r in an_rows}
    cands = []
    for i, r in enumerate(lt_rows[:-1]):
        nxt = lt_rows[i + 1]
        a = an_by_lv3.get(r["lv"][2])
        if (r["show2"] and not r["show1"] and nxt["lv"][:2] == r["lv"][:2]
                and a is not None and a["show2"]):
            cands.append(i)
    if not cands:
        return set()
    i = rng.choice(cands)
    a, b = lt_rows[i], lt_rows[i + 1]
    a["show2"], a["wrong"], b["show2"] = False, True, True
    damage.add("wrong_row_label")
    return {a["lv"][2], a["lv"][1], lt_rows[i - 1]["lv"][1]}


def _prefix_ok(p: str, label: str, labels: set[str], written: set[str]) -> bool:
    if p in labels or p in _RESERVED:
        return False
    if any(o != label and o.startswith(p) for o in labels):
        return False
    return not any(w.startswith(p) or p.startswith(w) for w in written)


def _truncate(rng, lt_rows, an_rows, tree, protected: set[str], damage) -> None:
    """Cut a label short in one section: a strict prefix of exactly that one label in the document."""
    if rng.random() >= 0.3:
        return
    labels = {x for lv1, lv2, lv3, _ in tree for x in (lv1, lv2, lv3)}
    lt3 = {r["lv"][2] for r in lt_rows}
    lt2 = {r["lv"][1] for r in lt_rows if r["show2"]}
    an2 = {r["lv"][1] for r in an_rows if r["show2"]}
    cands = [(2, r["lv"][2]) for r in an_rows if r["lv"][2] in lt3 and len(r["lv"][2]) >= 8]
    cands += [(1, x) for x in sorted(lt2 & an2) if len(x) >= 5]
    cands = [c for c in cands if c[1] not in protected]
    rng.shuffle(cands)
    done: set[str] = set()
    for level, label in cands[: 1 if rng.random() < 0.8 else 2]:
        keep_min = 5 if level == 2 else 3
        ks = [k for k in range(len(label) - 1, keep_min - 1, -1)
              if _prefix_ok(label[:k], label, labels, done)]
        if not ks:
            continue
        p = label[: ks[min(len(ks) - 1, int(rng.expovariate(0.7)))]]
        rows = rng.choice((lt_rows, an_rows))
        for r in rows:
            if r["lv"][level] == label:
                r["w"][level] = p
        done.add(p)
        damage.add("truncated_label")


def _page_breaks(rng, rows, damage) -> None:
    """Mark 1-2 rows (never the first, never a row missing its moved lv2 label) as following a break."""
    if rng.random() >= 0.35 or len(rows) < 3:
        return
    cands = [i for i in range(1, len(rows)) if not rows[i]["wrong"]]
    for i in rng.sample(cands, min(len(cands), rng.randint(1, 2))):
        rows[i]["pb"] = True
        rows[i]["rep"] = rng.random() < 0.5
        damage.add("page_break")


def _fewer_values(rng, lt_rows, an_rows, damage) -> None:
    """Leave out the older values of annual rows whose written labels all stand in the long-term
    section, so a reader can tell the labels from the values by them."""
    if rng.random() >= 0.3:
        return
    truth_labels = {x for r in lt_rows + an_rows for x in r["lv"]}
    lt_written = {c for r in lt_rows for c in _written_labels(r)} & truth_labels
    lt3 = {r["lv"][2] for r in lt_rows}
    cands = [r for r in an_rows
             if r["lv"][2] in lt3 and all(c in lt_written for c in _written_labels(r))]
    for r in rng.sample(cands, min(len(cands), rng.randint(1, 3))):
        r["keep"][0] = False
        if rng.random() < 0.4:
            r["keep"][1] = False
        r["fewer"] = rng.choice(("blank", "drop"))
        damage.add("fewer_values")


def _indicator_truth(r: dict, horizon: str) -> list[dict]:
    lv1, lv2, lv3 = r["lv"]
    out = []
    for (year, v), keep, raw in zip(r["vals"], r["keep"], r["raw"]):
        if not keep:
            continue
        cmp, num, unit = v
        out.append({
            "horizon": horizon, "year": year, "lv1": lv1, "lv2": lv2, "lv3": lv3, "raw": raw,
            "comparator": cmp, "value": Decimal(num) if cmp else None, "unit": unit if cmp else None,
            "basis": r["basis"], "category": r["cat"],
        })
    return out


# ---------------------------------------------------------------- texts

def _pick_items(rng, own: tuple, generic: tuple, ctx: dict, lo: int = 2, hi: int = 7) -> list[str]:
    n = rng.randint(lo, hi)
    own_n = min(len(own), rng.randint(1, n))
    items = rng.sample(own, own_n) + rng.sample(generic, min(len(generic), n - own_n))
    return [_subst(t, ctx) for t in items]


def _goal(rng, ctx: dict, lead: str) -> str:
    clauses = [_subst(c, ctx) for c in rng.sample(GOAL_CLAUSES, rng.randint(3, 6))]
    return lead + rng.choice(("；", "，")).join(clauses) + "。"


def _draw_texts(rng, ag: dict, ctx: dict) -> dict[str, tuple[list[str], list[str]]]:
    """section -> (html chunks of the cell, truth items). Chunks join into the cell; a file may break
    the cell into lines between chunks (each later chunk starts with a tag)."""
    ents = rng.random() < 0.5
    out = {}
    duties = _pick_items(rng, ag["duties"], DUTIES, ctx)
    out["functions"] = _numbered_html(rng, duties, ents)
    tasks = _pick_items(rng, ag["tasks"], TASKS, ctx)
    if rng.random() < 0.1:
        out["annual_tasks"] = _paragraph_html(rng, "；".join(tasks) + "。", ents)
    else:
        out["annual_tasks"] = _numbered_html(rng, tasks, ents)
    r = rng.random()
    if r < 0.85:
        out["long_term_goal"] = _paragraph_html(
            rng, _goal(rng, ctx, f"通过履行{ctx['{dom}']}部门职能，"), ents)
    elif r < 0.93:
        out["long_term_goal"] = (["<p><br/></p>"], [])
    else:
        out["long_term_goal"] = ([], [])
    if rng.random() < 0.45:
        out["annual_goal"] = _paragraph_html(rng, _goal(rng, ctx, f"{ctx['{Y}']}年，"), ents)
    else:
        out["annual_goal"] = ([], [])
    return out


def _escape(text: str, ents: bool) -> str:
    text = text.replace("&", "&amp;")
    if ents:
        text = text.replace("“", "&ldquo;").replace("”", "&rdquo;")
    return text


_SPAN = '<span style="font-family: 宋体; font-size: 16px;">'


def _numbered_html(rng, items: list[str], ents: bool) -> tuple[list[str], list[str]]:
    """`1. a；2. b。3. c` in one of three layouts. Every item but the last ends in ；or 。, so the
    numbering stays findable whether tags and line breaks turn into spaces or into nothing."""
    mark = rng.choice((".", ".", "．", "、"))
    gap = rng.choice(("", " ", " ", "&nbsp;"))
    full_stop = rng.random() * 0.6
    pieces, truth = [], []
    for n, item in enumerate(items, 1):
        if n == len(items):
            end = rng.choice(("。", "。", "", "；"))
        else:
            end = "。" if rng.random() < full_stop else "；"
        truth.append(item + ("。" if end == "。" else ""))
        pieces.append(f"{n}{mark}{gap}{_escape(item, ents)}{end}")
    indent = rng.choice(("", "", "", "&nbsp;&nbsp;", "\u3000\u3000"))
    span = rng.random() < 0.2
    open_, close = (_SPAN, "</span>") if span else ("", "")
    layout = rng.choice(("p", "ps", "br"))
    if layout == "p":
        joiner = rng.choice(("", "", " ", "&nbsp;"))
        chunks = [f"<p>{open_}{indent}{joiner.join(pieces)}{close}", "</p>"]
    elif layout == "ps":
        chunks = [f"<p>{open_}{indent if i == 0 else ''}{p}{close}</p>" for i, p in enumerate(pieces)]
    else:
        chunks = [f"<p>{open_}{indent}{pieces[0]}"] + [f"<br/>{p}" for p in pieces[1:]] + [f"{close}</p>"]
    return chunks, truth


def _paragraph_html(rng, text: str, ents: bool) -> tuple[list[str], list[str]]:
    indent = rng.choice(("", "", "&nbsp;&nbsp;&nbsp;&nbsp;", "\u3000\u3000"))
    body = f"<p>{indent}{_escape(text, ents)}</p>"
    if rng.random() < 0.2:
        body = f"<p>{_SPAN}{indent}{_escape(text, ents)}</span></p>"
    chunks = [body]
    if rng.random() < 0.3:
        chunks.append(rng.choice(("<p><br/></p>", "<p>&nbsp;</p>")))
    return chunks, [text]


# ---------------------------------------------------------------- rendering

class _Style:
    """Per-document choices of how cells are written (number formats, shifts, trailing cells)."""

    def __init__(self, rng, fmt: bool, damage: set[str]):
        self.rng, self.fmt, self.damage = rng, fmt, damage
        self.left = 0.15 if rng.random() < 0.4 else 0.0
        self.right = 0.12 if rng.random() < 0.25 else 0.0
        self.trail = rng.random() < 0.3

    def amount(self, cents: int) -> str:
        text = _cents_text(cents)
        if not self.fmt or self.rng.random() >= 0.35:
            return text
        if cents == 0:
            form = self.rng.choice(("-", "—", "wide"))
        else:
            form = self.rng.choice(("thousands", "wide")) if cents >= 100000 else "wide"
        self.damage.add("number_formats")
        if form == "thousands":
            whole, _, frac = text.partition(".")
            return f"{int(whole):,}" + (f".{frac}" if frac else "")
        return text.translate(_WIDE) if form == "wide" else form

    def share(self, text: str) -> str:
        if not self.fmt or self.rng.random() >= 0.25:
            return text + "%"
        self.damage.add("number_formats")
        return self.rng.choice((text + "％", (text + "%").translate(_WIDE)))

    def value(self, v: tuple) -> str:
        cmp, num, unit = v
        if cmp is None:
            return num
        syms = _CMP_TEXT[cmp]
        sym = syms[int(self.rng.random() * len(syms))] if len(syms) > 1 else syms[0]
        unit = unit or ""
        if self.fmt and self.rng.random() < 0.25:
            if Decimal(num) >= 1000 and self.rng.random() < 0.6:
                whole, dot, frac = num.partition(".")
                num = f"{int(whole):,}{dot}{frac}"
            else:
                num = num.translate(_WIDE)
                unit = unit.translate(_WIDE)
            self.damage.add("number_formats")
        return f"{sym}{num}{unit}"

    def shift(self, lead: list[str], labels: list[str], rest: list[str], page_label: str | None = None) -> list[str]:
        """Cells of a data row; `lead` + `labels` may lose or gain leading empties."""
        rng = self.rng
        if page_label is not None:
            if rng.random() < 0.5:
                labels = [c for c in labels if c]
            return [page_label] + labels + rest
        if self.left and rng.random() < self.left:
            head = lead + labels
            n = next(i for i, c in enumerate(head) if c)
            kept = [c for c in head if c]
            if rng.random() < 0.3 and n > 1:
                # the labels slide left and the gap opens after them; the values keep their columns
                self.damage.add("labels_slid_left")
                return [""] + kept + [""] * (len(head) - len(kept) - 1) + rest
            self.damage.add("shift_left")
            return head[n:] + rest + ([""] * n if rng.random() < 0.5 else [])
        if self.right and rng.random() < self.right:
            self.damage.add("shift_right")
            return [""] + lead + labels + rest
        return lead + labels + rest

    def row(self, cells: list[str]) -> str:
        if self.trail and self.rng.random() < 0.3:
            while cells and cells[-1] == "":
                cells = cells[:-1]
            cells = cells + [""] * self.rng.choice((0, 1, 1, 2))
            self.damage.add("trailing_cells")
        return "\t".join(cells)


def _funding_lines(style: _Style, funding: dict, variant: str, year: int, damage: set[str]) -> list[str]:
    rng = style.rng
    lines = ["\t".join(["部门总体资金情况", "总体资金情况", "", "", "当年金额", "占比", "近两年收支金额", ""])]
    years = [f"{year - 2}年", f"{year - 1}年"]
    if variant == "A":
        lines.append("\t".join([""] * 6 + years))
    elif variant == "B":
        damage.add("year_header_in_row")
    else:
        damage.add("year_header_absent")
    for flow in ("income", "expenditure"):
        label_at = 0
        if rng.random() < 0.2:
            label_at = 1
            damage.add("flow_label_wrong_row")
        for i, (item, amounts) in enumerate(funding[flow].items()):
            hist = [style.amount(amounts[year - 2]), style.amount(amounts[year - 1])]
            if variant == "B" and flow == "income" and i == 0:
                hist = years
            rest = ["", style.amount(amounts[year]),
                    style.share(_stated_share(funding, flow, item, year))] + hist
            flow_cell = FLOW_LABELS[flow] if i == label_at else ""
            lines.append(style.row(style.shift([""], [flow_cell, item], rest)))
    return lines


def _text_lines(rng, label: str, chunks: list[str], width: int, damage: set[str]) -> list[str]:
    """The text row; its cell may be broken over lines between chunks (the trailing cells go last)."""
    tail = "\t" * (width - 2)
    if len(chunks) < 2 or rng.random() >= 0.25:
        return [f"{label}\t{''.join(chunks)}{tail}"]
    cuts = sorted(rng.sample(range(1, len(chunks)), min(len(chunks) - 1, rng.randint(1, 2))))
    parts = ["".join(chunks[a:b]) for a, b in zip([0] + cuts, cuts + [len(chunks)])]
    damage.add("html_split")
    return [f"{label}\t{parts[0]}"] + parts[1:-1] + [parts[-1] + tail]


def _indicator_lines(style: _Style, rows: list[dict], section: str, damage: set[str]) -> list[str]:
    lines = []
    for r in rows:
        labels = [r["w"][0] if (r["show1"] or r["rep"]) else "",
                  r["w"][1] if (r["show2"] or r["rep"]) else "", r["w"][2]]
        r["raw"] = [style.value(v) for _, v in r["vals"]]
        if section == LT_LABEL:
            rest = r["raw"] + [r["basis"], r["cat"], ""]
        else:
            vals = [raw if keep else ("" if r["fewer"] == "blank" else None)
                    for raw, keep in zip(r["raw"], r["keep"])]
            rest = [v for v in vals if v is not None] + [r["basis"], r["cat"]]
        if r["pb"]:
            lines.append(style.rng.choice(("", "", "\t" * 7)))
            lines.append(style.row(style.shift([""], labels, rest, page_label=section)))
        else:
            lines.append(style.row(style.shift([""], labels, rest)))
    return lines


def _layout(rng, style: _Style, department: str, year: int, funding: dict, variant: str,
            texts: dict, lt_rows: list, an_rows: list, damage: set[str]) -> list[str]:
    blank_between = rng.random() < 0.3

    def gap() -> list[str]:
        if blank_between and rng.random() < 0.5:
            damage.add("blank_lines")
            return [rng.choice(("", "", "\t" * 7))] * rng.randint(1, 2)
        return []

    lines = [""] * rng.randint(0, 2)
    lines.append(style.row([f"{year}年部门整体绩效目标批复"]))
    lines += [""] * rng.randint(0, 1)
    lines.append("\t".join(["部门（单位）名称", "", department, "", "", "", "", ""]))
    lines += gap()
    lines += _funding_lines(style, funding, variant, year, damage)
    lines += gap()
    lines += _text_lines(rng, "部门职能概述", texts["functions"][0], 8, damage)
    lines += _text_lines(rng, "年度工作任务", texts["annual_tasks"][0], 8, damage)
    lt_label = f"长期目标： （截止{year}年）" if rng.random() < 0.7 else "长期目标"
    lines += _text_lines(rng, lt_label, texts["long_term_goal"][0], 8, damage)
    lines += gap()
    lines.append("\t".join([LT_LABEL, "一级指标", "二级指标", "三级指标", "指标值", "指标值确定依据", "指标分类", ""]))
    lines += _indicator_lines(style, lt_rows, LT_LABEL, damage)
    lines += gap()
    an_label = "年度目标:" if rng.random() < 0.6 else "年度目标"
    lines += _text_lines(rng, an_label, texts["annual_goal"][0], 9, damage)
    lines += gap()
    lines.append("\t".join([AN_LABEL, "一级指标", "二级指标", "三级指标", "指标值", "", "", "指标值确定依据", "指标分类"]))
    lines.append("\t".join(["", "", "", "", "近两年指标值", "", "预期当年实现值", "", ""]))
    if rng.random() < 0.8:
        lines.append("\t".join(["", "", "", "", f"{year - 2}年", f"{year - 1}年", "", "", ""]))
    else:
        damage.add("annual_year_header_absent")
    lines += _indicator_lines(style, an_rows, AN_LABEL, damage)
    return lines


def _encode(rng, lines: list[str], damage: set[str]) -> bytes:
    encoding = rng.choices(*zip(*_ENCODINGS))[0]
    newline = rng.choices(*zip(*_NEWLINES))[0]
    if encoding != "utf-8":
        damage.add("encoding")
    if newline != "\n":
        damage.add("line_endings")
    text = newline.join(lines) + (newline if rng.random() < 0.85 else "")
    return text.encode(encoding)


# ---------------------------------------------------------------- planted errors

def _stated_digits(share: Decimal) -> int:
    """Decimals a share is written with (trailing zeros are not written: 9.50 -> 9.5%)."""
    exp = share.normalize().as_tuple().exponent
    return max(0, -exp)


def _plant(rng, funding: dict, variant: str, an_rows: list, year: int,
           corpus_years: frozenset[int] = frozenset()) -> list[dict]:
    """1-2 data errors of distinct kinds; each entry names the check that must catch it (and in
    `also_fires` the checks it sets off besides). `corpus_years`: see generate_document."""
    kinds = list(PLANTED_CHECKS)
    pct_rows = [r for r in an_rows if r["vals"][2][1][2] == "%"]
    if not pct_rows:
        kinds.remove("percent_over_100")
    if corpus_years & {year + 1, year + 2}:
        # the later documents state this year's true figures as history: they, clean, would disagree
        kinds.remove("income_expenditure_mismatch")
    out = []
    chosen = set(rng.sample(kinds, rng.randint(1, 2)))
    # expenditure is re-split before any share is falsified, so a stated share stays off
    for kind in [k for k in _PLANT_ORDER if k in chosen]:
        detail = {"kind": kind}
        if kind == "share_mismatch":
            flow = rng.choice(("income", "expenditure"))
            item = rng.choice([k for k in funding[flow] if k != "合计"])
            items = funding[flow]
            expected = _share(items[item][year], items["合计"][year])
            # at least 1 point: beyond the rounding of any stated digits, so the check must fire
            delta = Decimal(rng.randint(100, 500)) / 100
            stated = expected + delta if expected + delta <= 100 else expected - delta
            funding["share_override"][(flow, item)] = stated
            shares = [stated if k == item else _share(v[year], items["合计"][year])
                      for k, v in items.items() if k != "合计"]
            rounding = sum(Decimal("0.5").scaleb(-_stated_digits(x)) for x in shares)
            detail.update(flow=flow, item=item, year=year, stated=stated, expected=expected,
                          also_fires=["funding_shares_sum_to_100"] if abs(sum(shares) - 100) > rounding else [])
        elif kind == "total_mismatch":
            flows = ["expenditure"] if variant == "B" else ["income", "expenditure"]
            flow, y = rng.choice(flows), rng.choice((year - 2, year - 1))
            items = funding[flow]
            total = sum(v[y] for k, v in items.items() if k != "合计")
            # cents; 3.00 is beyond the rounding of whole-number amounts (4 × 0.5)
            delta = rng.randint(300, max(301, total // 20))
            items["合计"][y] = total + delta if rng.random() < 0.5 or total <= delta else total - delta
            detail.update(flow=flow, year=y, stated=Decimal(_cents_text(items["合计"][y])),
                          sum=Decimal(_cents_text(total)),
                          # the department's own document of that year states the true 合计
                          also_fires=["funding_history_matches_previous_document"] if y in corpus_years else [])
        elif kind == "income_expenditure_mismatch":
            income = funding["income"]["合计"][year]
            delta = rng.randint(200, max(201, income // 20))
            spent = income + delta if rng.random() < 0.5 or income <= delta else income - delta
            parts = _split_expenditure(rng, spent, funding["expenditure"]["特定目标类项目支出"][year] == 0)
            for item, c in zip(EXPENSE_ITEMS, parts + [spent]):
                funding["expenditure"][item][year] = c
            detail.update(year=year, income=Decimal(_cents_text(income)),
                          expenditure=Decimal(_cents_text(spent)))
        else:
            r = rng.choice(pct_rows)
            cmp = rng.choice((">=", "=", ">="))
            r["vals"][2] = (year, (cmp, str(rng.randint(101, 150)), "%"))
            detail.update(lv3=r["lv"][2], year=year, value=Decimal(r["vals"][2][1][1]))
        out.append({"check": PLANTED_CHECKS[kind], "detail": detail})
    return out


# ---------------------------------------------------------------- other template families

_SYM = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "=": ""}
_ITEM_CLASS = {
    "财政拨款": "fiscal_appropriation", "财政专户管理资金": "special_account", "单位资金": "unit_funds",
    "其他资金": "other_funds", "人员类项目支出": "personnel", "运转类项目支出": "operating",
    "特定目标类项目支出": "specific_purpose", "基本支出": "basic", "项目支出": "project", "合计": "total",
}
_NO_EXTRA = {"value_type": None, "explanation": None, "scoring_rule": None, "remark": None, "weight": None,
             "extra": None}


def _family_document(rng, family: str, fmt: str, region: str | None, agency: int | None,
                     year: int | None) -> tuple[bytes, dict]:
    """A document of another template family: its Form (pifu.generate.form.build_form_<family>) rendered
    by `fmt` (text: the grid as a tab-separated export, merged labels on their first row only), and the
    truth with every field of contract §4."""
    from importlib import import_module

    from pifu.generate.form import grid_of

    region = region or rng.choice(FAMILY_REGIONS.get(family, REGIONS))
    agency = agency if agency is not None else rng.randrange(len(AGENCIES))
    year = year or rng.choice(YEARS)
    ag = AGENCIES[agency]
    ctx = {"{l}": region[-1], "{dom}": ag["dom"], "{sat}": ag["sat"], "{region}": region[:-1], "{Y}": str(year)}
    department = region + ag["name"]
    damage: set[str] = set()
    tree = _draw_tree(rng, agency, region[-1])
    texts = {k: v[1] for k, v in _draw_texts(rng, ag, ctx).items()}
    truth = {"department": department, "fiscal_year": year, "agency_code": None, "filed_on": None,
             "funding": [], "indicators": [], "texts": texts, "duty_targets": []}
    form = globals()[f"_draw_{family}"](rng, department, year, ag, ctx, tree, truth, damage)
    if fmt == "text":
        data, suffix = _encode(rng, ["\t".join(row) for row in grid_of(form)], damage), ".txt"
    else:
        data, suffix = import_module(f"pifu.generate.render.{fmt}").render(form, rng, damage)
    truth["texts"] = {k: truth["texts"].get(k, []) for k in ("functions", "annual_tasks", "long_term_goal",
                                                             "annual_goal")}
    truth.update(family=family, damage=sorted(damage), planted=[], format=fmt, suffix=suffix)
    return data, truth


def _amount_cell(cents: int):
    from pifu.generate.form import Cell

    exact = Decimal(_cents_text(cents))
    return Cell(_cents_text(cents), kind="amount", number=exact, digits=_stated_digits(exact))


def _funding_rows(items: dict[str, dict[str, dict[int, int]]], year: int, history: bool, truth: dict) -> list:
    """Form rows (flow, item, amount, share, history-2, history-1) and their truth; shares from the amounts."""
    from pifu.generate.form import Cell

    rows = []
    for flow, by_item in items.items():
        total = by_item["合计"]
        for item, amounts in by_item.items():
            share = _dec_text(_share(amounts[year], total[year]))
            cell = Cell(share + "%", kind="share", number=Decimal(share), digits=_stated_digits(Decimal(share)))
            hist = [_amount_cell(amounts[y]) if history else Cell("", kind="text") for y in (year - 2, year - 1)]
            rows.append((flow, item, _amount_cell(amounts[year]), cell, *hist))
            cls = _ITEM_CLASS[item]
            truth["funding"].append({"flow": flow, "item": item, "year": year,
                                     "amount": Decimal(_cents_text(amounts[year])), "share_pct": Decimal(share),
                                     "item_class": cls})
            if history:
                truth["funding"] += [{"flow": flow, "item": item, "year": y, "amount": Decimal(_cents_text(amounts[y])),
                                      "share_pct": None, "item_class": cls} for y in (year - 2, year - 1)]
    return rows


def _value_truth(horizon, year, lv, raw, cmp, num, unit, **fields) -> dict:
    return {"horizon": horizon, "year": year, "lv1": lv[0], "lv2": lv[1], "lv3": lv[2], "raw": raw,
            "comparator": cmp if num is not None and cmp else None,
            "value": Decimal(num) if num is not None and cmp else None,
            "unit": unit if num is not None and cmp else None,
            "basis": None, "category": None, "lv1_class": LV1_CLASS.get(lv[0]), **{**_NO_EXTRA, **fields}}


def _draw_hubei2021(rng, department, year, ag, ctx, tree, truth, damage):
    from datetime import date

    from pifu.generate.form import build_form_hubei2021

    funding = _draw_funding(department, year)
    inc, exp = funding["income"], funding["expenditure"]
    years = (year - 2, year - 1, year)
    items = {
        "income": {"财政拨款": dict(inc["财政拨款"]),
                   "其他资金": {y: inc["财政专户管理资金"][y] + inc["单位资金"][y] for y in years},
                   "合计": dict(inc["合计"])},
        "expenditure": {"基本支出": {y: exp["人员类项目支出"][y] + exp["运转类项目支出"][y] for y in years},
                        "项目支出": dict(exp["特定目标类项目支出"]), "合计": dict(exp["合计"])},
    }
    blank = rng.random() < 0.5
    if blank:
        damage.add("history_blank")
    rows = _funding_rows(items, year, not blank, truth)
    filed = date(year - 1, rng.randint(9, 12), rng.randint(1, 28))
    truth["filed_on"] = filed.isoformat()
    filed_text = rng.choice((f"{filed.year}年{filed.month}月{filed.day}日", filed.isoformat()))
    person, phone = rng.choice(FILERS), "1" + str(rng.choice((3, 5, 8))) + "".join(str(rng.randrange(10)) for _ in range(9))
    truth["personal"] = [person, phone]  # must appear nowhere pifu writes
    style = _Style(rng, False, damage)
    lt_rows, an_rows = _draw_sections(rng, tree, year)
    for r in lt_rows + an_rows:
        r["raw"] = [style.value(v) for _, v in r["vals"]]
        if blank and len(r["vals"]) == 3:
            r["keep"] = [False, False, True]
    long_term = [(*r["lv"], r["raw"][0], r["basis"], r["cat"]) for r in lt_rows]
    annual = [(*r["lv"], [raw if keep else "" for raw, keep in zip(r["raw"], r["keep"])], r["basis"], r["cat"])
              for r in an_rows]
    for rows_, horizon in ((lt_rows, "long_term"), (an_rows, "annual")):
        for r in rows_:
            for rec in _indicator_truth(r, horizon):
                truth["indicators"].append({**rec, "lv1_class": LV1_CLASS.get(rec["lv1"]), **_NO_EXTRA})
    return build_form_hubei2021(year, department, filed_text, person, phone, rows, truth["texts"], long_term,
                                annual, blank)


def _explanation(lv3: str) -> str:
    return f"反映{lv3}的完成情况"


def _scoring(rng) -> str:
    return rng.choice(("达到目标值得满分，未达到按比例扣分", "完成得满分，每降低1个百分点扣0.5分", "未完成不得分"))


def _draw_hunan2023(rng, department, year, ag, ctx, tree, truth, damage):
    from pifu.generate.form import build_form_hunan2023

    truth["texts"] = {"functions": truth["texts"]["functions"],
                      "annual_goal": truth["texts"]["annual_goal"] or [_goal(rng, ctx, f"{year}年，")]}
    rows = []
    for lv1, lv2, lv3, kind in tree:
        cmp, num, unit = _targets(rng, kind)[1][2]
        explanation, scoring = _explanation(lv3), _scoring(rng)
        remark = "无" if rng.random() < 0.2 else ""
        fields = dict(explanation=explanation, scoring_rule=scoring, remark=remark or None)
        if cmp is None:  # qualitative, sometimes under a unit all the same
            unit_col = "%" if rng.random() < 0.3 else ""
            if unit_col:
                damage.add("unit_on_qualitative")
            rows.append((lv1, lv2, lv3, "定性", num, unit_col, explanation, scoring, remark))
            truth["indicators"].append(_value_truth("annual", year, (lv1, lv2, lv3), num, None, None, None,
                                                    value_type="定性", **fields))
            continue
        r = rng.random()
        if unit and unit != "%" and r < 0.3:  # the value's own unit disagrees with the column: `28.8万元` under `%`
            raw, unit_col = f"{_SYM[cmp]}{num}{unit}", "%"
            damage.add("unit_conflict")
        elif unit and r < 0.5:
            raw, unit_col = f"{_SYM[cmp]}{num}{unit}", unit
        else:
            raw, unit_col = f"{_SYM[cmp]}{num}", unit or ""
        rows.append((lv1, lv2, lv3, "定量", raw, unit_col, explanation, scoring, remark))
        truth["indicators"].append(_value_truth("annual", year, (lv1, lv2, lv3), raw, cmp, num, unit,
                                                value_type="定量", **fields))
    return build_form_hunan2023(year, department, truth["texts"], rows)


def _draw_fujian2019(rng, department, year, ag, ctx, tree, truth, damage):
    from pifu.generate.form import build_form_fujian2019

    truth["agency_code"] = f"{rng.randint(100, 999)}{rng.randint(1, 99):03d}"
    exp = _draw_funding(department, year)["expenditure"]
    basic = exp["人员类项目支出"][year] + exp["运转类项目支出"][year]
    budget = [("资金总额", exp["合计"][year]), ("项目支出", exp["特定目标类项目支出"][year]), ("基本支出", basic)]
    if rng.random() < 0.5:
        budget[1], budget[2] = budget[2], budget[1]
    for item, cents in budget:
        truth["funding"].append({"flow": "expenditure", "item": "合计" if item == "资金总额" else item, "year": year,
                                 "amount": Decimal(_cents_text(cents)), "share_pct": None,
                                 "item_class": "total" if item == "资金总额" else _ITEM_CLASS[item]})
    clauses = [_subst(c, ctx) for c in rng.sample(GOAL_CLAUSES, rng.randint(2, 4))]
    colon = rng.choice((":", "："))
    goal = "；".join(f"目标{n}{colon}{c}" for n, c in enumerate(clauses, 1)) + "。"
    truth["texts"] = {"annual_goal": clauses[:-1] + [clauses[-1] + "。"]}
    duties = []
    for function in rng.sample(ag["duties"], min(len(ag["duties"]), rng.randint(1, 3))):
        function = _subst(function, ctx).split("；")[0]
        for task in rng.sample(ag["tasks"] + TASKS, rng.randint(1, 2)):
            task = _subst(task, ctx).split("。")[0]
            for item in rng.sample(SPENDING_ITEMS, rng.randint(1, 2)):
                item = _subst(item, ctx)
                cents = _roundish(rng, rng.uniform(5000, 500000))
                duties.append((function, task, item, _amount_cell(cents)))
                truth["duty_targets"].append({"function": function, "task": task, "item": item,
                                              "amount": Decimal(_cents_text(cents))})
    rows = []
    for lv1, lv2, lv3, kind in tree:
        cmp, num, unit = _targets(rng, kind)[1][2]
        explanation = _explanation(lv3)
        fields = dict(explanation=explanation)
        if cmp is None:
            raw = num
        elif (cmp, num, unit) == ("=", "100", "%") and rng.random() < 0.3:  # the % format was lost
            raw, unit = "1", None
            num = "1"
            damage.add("percent_format_lost")
        else:
            raw = f"{_SYM[cmp]}{num}{unit or ''}"
        cell, basis = raw, None
        if rng.random() < 0.4:
            basis = rng.choice(BASES[:3])
            cell = raw + rng.choice((f"({basis})", f"（{basis}）"))
            damage.add("basis_in_value")
        rows.append((lv1, lv2, lv3, explanation, cell))
        rec = _value_truth("annual", year, (lv1, lv2, lv3), raw, cmp, num, unit, **fields)
        rec["basis"] = basis
        truth["indicators"].append(rec)
    across = rng.random() < 0.4
    if across:
        damage.add("budget_across")
    return build_form_fujian2019(year, department, truth["agency_code"], [(i, _amount_cell(c)) for i, c in budget],
                                 goal, duties, rows, rng.random() < 0.5, across)


def _draw_hubei_grid(rng, department, year, ag, ctx, tree, truth, damage):
    from pifu.generate.form import build_form_hubei_grid

    funding = _draw_funding(department, year)
    rows = _funding_rows({f: dict(funding[f]) for f in ("income", "expenditure")}, year, True, truth)
    truth["texts"] = {k: truth["texts"][k] for k in ("functions", "annual_tasks", "annual_goal")}
    entries = []
    prev = (None, None)
    for lv1, lv2, lv3, kind in tree:
        if lv1 != prev[0]:
            entries.append(("group", lv1))
        if (lv1, lv2) != prev:
            entries.append(("group", lv2))
        prev = (lv1, lv2)
        h2, h1, t = _targets(rng, kind)[1]
        cmp, num, unit = t
        basis = rng.choices(BASES, cum_weights=(70, 85, 95, 100))[0]
        remark = "无" if rng.random() < 0.15 else ""
        explanation, scoring = _explanation(lv3), _scoring(rng)
        weight = rng.choice((2, 3, 5, 5, 10))
        fields = dict(explanation=explanation, scoring_rule=scoring, remark=remark or None, weight=Decimal(weight))
        hist = []
        for y, (hc, hn, hu) in ((year - 2, h2), (year - 1, h1)):
            if rng.random() < 0.15:
                hist.append("")
                continue
            hist.append(hn)
            rec = _value_truth("annual", y, (lv1, lv2, lv3), hn, "=" if hc else None, hn, unit, **fields)
            if hc and unit is None:
                rec["unit"] = None
            rec["basis"] = basis
            truth["indicators"].append(rec)
        sign = ("=" if cmp == "=" else _SYM[cmp]) if cmp else rng.choice(("", "定性"))
        entries.append(("item", lv3, [hist[0], hist[1], sign, num, unit or "", basis, remark, explanation, scoring,
                                      str(weight)]))
        rec = _value_truth("annual", year, (lv1, lv2, lv3), num, cmp, num, unit, **fields)
        rec["basis"] = basis
        truth["indicators"].append(rec)
    return build_form_hubei_grid(year, department, rows, truth["texts"], entries)
