"""The document generator: determinism, truths that add up, damage that stays recoverable.

`_read` below is a deliberately small reader written from the generator's reading rules only (drop
empty cells, ignore a leading section label, basis/category last, labels fill lv1/lv2/lv3 from the
right, carry the rest; complete cut labels; put a moved lv2 back from the annual section). If it
recovers the truth, the damage is recoverable by content; it is not pifu.parse.
"""
from __future__ import annotations

import html
import random
import re
from collections import Counter
from decimal import Decimal

import pytest

from pifu import jsonio
from pifu.generate import DAMAGE_CODES, PLANTED_CHECKS, dumps_truth, generate, generate_document
from pifu.generate.vocab import QUALITATIVE

N = 300


def _docs(n=N, errors=0.0, seed=0):
    rng_seeds = [f"test:{seed}:{i}" for i in range(n)]
    return [generate_document(random.Random(s), errors) for s in rng_seeds]


@pytest.fixture(scope="module")
def docs():
    return _docs()


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        return data.decode("utf-16"), "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("gb18030"), "gb18030"


# ------------------------------------------------------------------ a rules-only reader

_YEAR = re.compile(r"^(\d{4})年$")
_FOLD = str.maketrans("０１２３４５６７８９．％，", "0123456789.%,")
_ITEMS = {"财政拨款": "income", "财政专户管理资金": "income", "单位资金": "income",
          "人员类项目支出": "expenditure", "运转类项目支出": "expenditure", "特定目标类项目支出": "expenditure"}
_CMP = (("≥", ">="), ("≧", ">="), (">=", ">="), ("≤", "<="), ("≦", "<="), ("<=", "<="),
        (">", ">"), ("＞", ">"), ("<", "<"), ("＜", "<"))
_TEXT_LABELS = {"部门职能概述": "functions", "年度工作任务": "annual_tasks"}


def _amount(cell: str) -> Decimal:
    t = cell.translate(_FOLD).replace(",", "")
    return Decimal(0) if t in ("-", "—") else Decimal(t)


def _target(raw: str):
    t = raw.translate(_FOLD)
    cmp = "="
    for sym, c in _CMP:
        if t.startswith(sym):
            cmp, t = c, t[len(sym):]
            break
    m = re.match(r"^(\d[\d,]*(?:\.\d+)?)(.*)$", t)
    if not m:
        return None, None, None
    return cmp, Decimal(m.group(1).replace(",", "")), m.group(2) or None


def text_items(cell: str, tag: str = "") -> list[str]:
    """The text rule: strip tags, unescape, collapse whitespace; split `1. … 2. …` numbering."""
    t = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]*>", tag, cell))).strip()
    if not t:
        return []
    if not re.match(r"1[.．、]", t):
        return [t]
    cuts, n, pos = [0], 2, 2
    while m := re.compile(rf"(?:(?<=\s)|(?<=[；;。，,])){n}[.．、]").search(t, pos):
        cuts.append(m.start())
        n, pos = n + 1, m.end()
    parts = [t[a:b] for a, b in zip(cuts, cuts[1:] + [len(t)])]
    return [re.sub(r"^\d+[.．、]", "", p).strip().rstrip("；;，, \u3000\xa0") for p in parts]


def _read(data: bytes, join: str = "\n", tag: str = "") -> dict:
    text, _ = _decode(data)
    rows = [line.split("\t") for line in re.split(r"\r\n|\r|\n", text)]
    out = {"funding": [], "texts": {}, "indicators": []}
    year = section = flow = prev_item = None
    hist_years = None
    sections = {"long_term": [], "annual": []}
    i = 0
    while i < len(rows):
        row = rows[i]
        cells = [c for c in row if c]
        i += 1
        if not cells:
            continue
        head = cells[0]
        if m := re.match(r"^(\d{4})年部门整体绩效目标批复$", head):
            year = int(m.group(1))
            hist_years = [year - 2, year - 1]
        elif head == "部门（单位）名称":
            out["department"] = cells[1]
        elif head == "部门总体资金情况":
            section = "funding"
        elif head in _TEXT_LABELS or head.startswith("长期目标") or head.startswith("年度目标"):
            key = _TEXT_LABELS.get(head) or ("long_term_goal" if head.startswith("长期") else "annual_goal")
            parts = [row[1] if len(row) > 1 else ""]
            while i < len(rows) and rows[i][0].startswith("<"):
                parts.append(rows[i][0])
                i += 1
            out["texts"][key] = text_items(join.join(parts), tag)
            section = None
        elif head in ("长期绩效指标", "年度绩效指标") and len(cells) > 1 and cells[1] == "一级指标":
            section = "long_term" if head == "长期绩效指标" else "annual"
        elif section == "funding":
            if all(_YEAR.match(c) for c in cells):
                hist_years = [int(_YEAR.match(c).group(1)) for c in cells]
                continue
            cells = [c for c in cells if c not in ("收入构成", "支出构成")]
            item, amount, share, *hist = cells
            flow = _ITEMS.get(item, flow)
            out["funding"].append({"flow": flow, "item": item, "year": year, "amount": _amount(amount),
                                   "share_pct": _amount(share.translate(_FOLD).rstrip("%"))})
            if not _YEAR.match(hist[0]):
                for y, c in zip(hist_years, hist):
                    out["funding"].append({"flow": flow, "item": item, "year": y, "amount": _amount(c),
                                           "share_pct": None})
        elif section in sections:
            if cells[0] in ("长期绩效指标", "年度绩效指标"):
                cells = cells[1:]
            if cells[0] == "近两年指标值":
                continue
            if all(_YEAR.match(c) for c in cells):
                continue
            sections[section].append(cells)
    lt_known = {c for cells in sections["long_term"] for c in cells[:-3]}
    parsed = {}
    for horizon, body_rows in sections.items():
        carried = [None, None, None]
        recs = []
        for cells in body_rows:
            basis, cat, body = cells[-2], cells[-1], cells[:-2]
            if horizon == "long_term":
                labels, values = body[:-1], body[-1:]
            else:
                k = 0
                while k < len(body) and body[k] in lt_known:
                    k += 1
                labels, values = (body[:-3], body[-3:]) if len(body) - k >= 3 else (body[:k], body[k:])
            explicit = [False, False, True]
            lv = list(carried)
            for level, label in zip(range(3 - len(labels), 3), labels):
                lv[level], explicit[level] = label, True
            carried = lv
            years = [None] if horizon == "long_term" else [year - 2, year - 1, year][-len(values):]
            recs.append((lv, explicit, [(y, v) for y, v in zip(years, values)], basis, cat))
        parsed[horizon] = recs
    # complete labels cut short: a strict prefix of exactly one label of its level
    for level in range(3):
        seen = {r[0][level] for recs in parsed.values() for r in recs}
        for recs in parsed.values():
            for r in recs:
                longer = [x for x in seen if x != r[0][level] and x.startswith(r[0][level])]
                if len(longer) == 1:
                    r[0][level] = longer[0]
    # an lv2 carried in the long-term section yields to the annual row that names it
    annual_named = {r[0][2]: r[0] for r in parsed["annual"] if r[1][1]}
    for r in parsed["long_term"]:
        named = annual_named.get(r[0][2])
        if not r[1][1] and named and named[0] == r[0][0]:
            r[0][1] = named[1]
    for horizon, recs in parsed.items():
        for lv, _, values, basis, cat in recs:
            for y, raw in values:
                cmp, value, unit = _target(raw)
                out["indicators"].append({
                    "horizon": horizon, "year": y, "lv1": lv[0], "lv2": lv[1], "lv3": lv[2], "raw": raw,
                    "comparator": cmp, "value": value, "unit": unit, "basis": basis, "category": cat})
    out["fiscal_year"] = year
    return out


def _comparable(truth: dict) -> dict:
    return {k: v for k, v in truth.items() if k not in ("damage", "planted")}


# ------------------------------------------------------------------ tests

def test_generate_is_deterministic_for_a_seed(tmp_path):
    a = generate(25, tmp_path / "a", seed=7, errors=0.2)
    b = generate(25, tmp_path / "b", seed=7, errors=0.2)
    c = generate(25, tmp_path / "c", seed=8, errors=0.2)
    assert [p.name for p in a] == [f"doc-{i:05d}.txt" for i in range(1, 26)]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
        ta, tb = (p.with_suffix("").with_suffix(".truth.json") for p in (pa, pb))
        assert ta.read_text(encoding="utf-8") == tb.read_text(encoding="utf-8")
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]


def test_worker_processes_write_the_same_files(tmp_path):
    one = generate(30, tmp_path / "one", seed=5, errors=0.3, workers=1)
    two = generate(30, tmp_path / "two", seed=5, errors=0.3, workers=2)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir())
    for a, b in zip(one, two):
        assert a.read_bytes() == b.read_bytes()
        assert a.with_name(a.stem + ".truth.json").read_bytes() == b.with_name(b.stem + ".truth.json").read_bytes()


def test_truth_file_round_trips_through_jsonio(tmp_path):
    for p in generate(5, tmp_path, seed=3, errors=0.5):
        truth = jsonio.loads((tmp_path / f"{p.stem}.truth.json").read_text(encoding="utf-8"))
        assert set(truth) == {"department", "fiscal_year", "funding", "indicators", "texts", "damage", "planted"}
        assert _comparable(truth) == _comparable(_read(p.read_bytes())) | {"department": truth["department"]}


def test_truth_is_written_exactly_as_jsonio_writes_it(docs):
    for _, truth in docs[:40]:
        assert dumps_truth(truth) == jsonio.dumps(truth, indent=1)


def test_files_decode_and_name_their_document(docs):
    encodings = Counter()
    for data, truth in docs:
        text, enc = _decode(data)
        encodings[enc] += 1
        assert f"{truth['fiscal_year']}年部门整体绩效目标批复" in text
        assert truth["department"] in text
        if enc == "gb18030":
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
    assert set(encodings) == {"utf-8", "utf-8-sig", "gb18030", "utf-16"}


def test_every_damage_code_occurs(docs):
    seen = Counter(code for _, truth in docs for code in truth["damage"])
    assert set(seen) == set(DAMAGE_CODES), set(DAMAGE_CODES) - set(seen)
    assert all(not truth["planted"] for _, truth in docs)


def test_damage_is_recoverable_under_the_reading_rules(docs):
    for n, (data, truth) in enumerate(docs):
        for join, tag in (("\n", ""), ("", " ")):
            got = _read(data, join, tag)
            want = _comparable(truth)
            for key in ("department", "fiscal_year", "texts", "funding"):
                assert got[key] == want[key], (n, key, truth["damage"])
            assert got["indicators"] == want["indicators"], (n, truth["damage"])


def _funding(truth):
    return {(f["flow"], f["item"], f["year"]): f for f in truth["funding"]}


def test_clean_truth_is_internally_consistent(docs):
    for _, truth in docs:
        y = truth["fiscal_year"]
        fund = _funding(truth)
        for flow in ("income", "expenditure"):
            items = [k for k in fund if k[0] == flow and k[2] == y and k[1] != "合计"]
            total = fund[(flow, "合计", y)]["amount"]
            assert sum(fund[k]["amount"] for k in items) == total
            assert total > 0
            for k in items:
                exact = fund[k]["amount"] * 100 / total
                assert abs(fund[k]["share_pct"] - exact) <= Decimal("0.005")
            assert abs(sum(fund[k]["share_pct"] for k in items) - 100) <= Decimal("0.015")
            assert fund[(flow, "合计", y)]["share_pct"] == 100
            for hy in (y - 2, y - 1):
                hist = [k for k in fund if k[0] == flow and k[2] == hy and k[1] != "合计"]
                if len(hist) == 3:
                    assert sum(fund[k]["amount"] for k in hist) == fund[(flow, "合计", hy)]["amount"]
                assert all(fund[k]["share_pct"] is None for k in hist)
        assert fund[("income", "合计", y)]["amount"] == fund[("expenditure", "合计", y)]["amount"]
        for f in truth["funding"]:
            assert f["amount"] >= 0 and f["amount"] == f["amount"].quantize(Decimal("0.01"))
        for rec in truth["indicators"]:
            if rec["unit"] == "%":
                assert 0 <= rec["value"] <= 100, rec
            if rec["value"] is not None:
                assert rec["value"] >= 0


def test_indicator_truth_matches_its_raw_text_and_tree_rules(docs):
    for _, truth in docs:
        y = truth["fiscal_year"]
        recs = truth["indicators"]
        for rec in recs:
            cmp, value, unit = _target(rec["raw"])
            if rec["comparator"] is None:
                assert rec["raw"] in QUALITATIVE and rec["value"] is None and rec["unit"] is None
            else:
                assert (cmp, value, unit) == (rec["comparator"], rec["value"], rec["unit"]), rec
            if rec["horizon"] == "long_term":
                assert rec["year"] is None
            else:
                assert rec["year"] in (y - 2, y - 1, y)
        annual = {}
        for rec in recs:
            if rec["horizon"] == "annual":
                annual.setdefault(rec["lv3"], []).append(rec["year"])
        assert all(years[-1] == y and years == sorted(years) for years in annual.values())
        paths = {(r["lv1"], r["lv2"], r["lv3"]) for r in recs}
        by_level = [sorted({p[i] for p in paths}) for i in range(3)]
        lv3 = [p[2] for p in paths]
        assert len(lv3) == len(set(lv3))
        assert len(set().union(*map(set, by_level))) == sum(map(len, by_level))
        for labels in by_level:
            for a in labels:
                assert a not in QUALITATIVE
                assert not any(b != a and b.startswith(a) for b in labels)
        lv1s = len(by_level[0])
        assert 4 <= lv1s <= 7


def test_text_items_never_hold_a_stray_number(docs):
    stray = re.compile(r"(?:^|[\s；;。，,])\d+[.．、]")
    for _, truth in docs:
        for items in truth["texts"].values():
            for item in items:
                assert not stray.search(item), item
                assert item == item.strip() and "\t" not in item


def test_planted_errors_only_when_asked_and_each_one_shows():
    clean = _docs(100, errors=0.0, seed=1)
    assert all(t["planted"] == [] for _, t in clean)
    dirty = _docs(200, errors=1.0, seed=2)
    kinds = Counter()
    for _, truth in dirty:
        assert 1 <= len(truth["planted"]) <= 2
        fund = _funding(truth)
        y = truth["fiscal_year"]
        for p in truth["planted"]:
            d = p["detail"]
            kinds[d["kind"]] += 1
            assert p["check"] == PLANTED_CHECKS[d["kind"]]
            if d["kind"] == "share_mismatch":
                f = fund[(d["flow"], d["item"], y)]
                exact = f["amount"] * 100 / fund[(d["flow"], "合计", y)]["amount"]
                assert abs(f["share_pct"] - exact) >= Decimal("0.49")
            elif d["kind"] == "total_mismatch":
                items = [k for k in fund if k[:1] == (d["flow"],) and k[2] == d["year"] and k[1] != "合计"]
                assert len(items) == 3
                total = fund[(d["flow"], "合计", d["year"])]["amount"]
                assert abs(sum(fund[k]["amount"] for k in items) - total) >= 1
            elif d["kind"] == "income_expenditure_mismatch":
                inc, exp = fund[("income", "合计", y)]["amount"], fund[("expenditure", "合计", y)]["amount"]
                assert inc != exp
                items = [k for k in fund if k[0] == "expenditure" and k[2] == y and k[1] != "合计"]
                assert sum(fund[k]["amount"] for k in items) == exp
            else:
                hits = [r for r in truth["indicators"] if r["lv3"] == d["lv3"] and r["year"] == y]
                assert hits and hits[0]["unit"] == "%" and hits[0]["value"] > 100
    assert set(kinds) == set(PLANTED_CHECKS)
    some = _docs(300, errors=0.1, seed=3)
    share = sum(bool(t["planted"]) for _, t in some) / 300
    assert 0.03 < share < 0.2


def test_planted_docs_still_read_back():
    for data, truth in _docs(100, errors=1.0, seed=4):
        got = _read(data)
        want = _comparable(truth)
        assert got["funding"] == want["funding"]
        assert got["indicators"] == want["indicators"]
