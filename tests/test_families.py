"""Every template family round-trips (issue 10): the generated forms of Hubei 2021, Hunan 2023, Fujian 2019
and the Hubei software's grid read back as their truth, every new field included, as text exports and as
forms that keep their merged cells (the grid a reader of xlsx/xls/docx/html/pdf produces). Once a format's
renderer exists (pifu.generate.render.<fmt>), each family also goes through it."""
from __future__ import annotations

import json
import os
import random
from decimal import Decimal

import pytest

import pifu
from pifu import jsonio, layout
from pifu.generate import FAMILIES, dumps_truth, generate, generate_document
from pifu.generate.form import Form, grid_of
from pifu.model import Source

NEW = ("hubei2021", "hunan2023", "fujian2019", "hubei_grid")
N = 1000 if os.environ.get("PIFU_SLOW") == "1" else 120  # per family and export
N_FORMAT = 1000 if os.environ.get("PIFU_SLOW") == "1" else 50  # per family and rendered format
KEYS = ("department", "fiscal_year", "agency_code", "filed_on", "funding", "indicators", "texts", "duty_targets")


def _num(v):
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        return format(Decimal(v).normalize(), "f")
    return v


def full(d: dict) -> dict:
    """Every field the contract names, rows as sorted JSON texts (order is not a fact; values are)."""
    rows = lambda key: sorted(json.dumps({k: _num(v) for k, v in x.items()}, sort_keys=True, ensure_ascii=False)
                              for x in d.get(key, []))
    out = {k: d.get(k) for k in KEYS}
    out["funding"], out["indicators"] = rows("funding"), rows("indicators")
    out["duty_targets"] = [json.dumps({k: _num(v) for k, v in x.items()}, sort_keys=True, ensure_ascii=False)
                           for x in d.get("duty_targets", [])]
    return out


def merges_of(form: Form) -> tuple:
    return tuple((r, c, r + cell.rowspan - 1, c + cell.colspan - 1)
                 for r, row in enumerate(form.rows) for c, cell in enumerate(row)
                 if cell and (cell.rowspan > 1 or cell.colspan > 1))


@pytest.mark.parametrize("family", NEW)
def test_family_text_exports_read_back_as_their_truth(family, tmp_path):
    paths = generate(N, tmp_path, seed=20251125, family=family)
    mismatches, private = [], []
    for path in paths:
        truth = jsonio.loads(path.with_name(path.stem + ".truth.json").read_text(encoding="utf-8"))
        assert truth["family"] == family
        doc = pifu.parse(path)
        got, want = full(doc.to_dict()), full(truth)
        mismatches += [(path.name, key) for key in KEYS if got[key] != want[key]]
        out = jsonio.dumps(doc.to_dict())
        private += [(path.name, p) for p in truth.get("personal", []) if p in out]
        assert not [p for p in doc.problems if p.severity == "error"], path.name
    assert len(paths) == N
    assert mismatches == []
    assert private == []


@pytest.mark.parametrize("family", NEW)
def test_family_forms_read_back_as_their_truth(family, grid_renderer):
    mismatches = []
    for i in range(N):
        data, truth = generate_document(random.Random(f"form:{family}:{i}"), fmt="grid", family=family)
        form = grid_renderer["form"]
        doc = layout.read_document(grid_of(form), Source(f"f{i}", "", "grid", None), None, merges_of(form))
        got, want = full(doc.to_dict()), full(jsonio.loads(dumps_truth(truth)))
        mismatches += [(i, key) for key in KEYS if got[key] != want[key]]
    assert mismatches == []


@pytest.mark.parametrize("fmt", ("xlsx", "xls", "docx", "html", "pdf"))
@pytest.mark.parametrize("family", NEW)
def test_family_in_every_rendered_format(family, fmt, tmp_path):
    pytest.importorskip(f"pifu.generate.render.{fmt}")
    paths = generate(N_FORMAT, tmp_path, seed=7, family=family, fmt=fmt)
    mismatches = []
    for path in paths:
        truth = jsonio.loads(path.with_name(path.stem + ".truth.json").read_text(encoding="utf-8"))
        doc = pifu.parse(path)
        assert doc.source.format == fmt
        got, want = full(doc.to_dict()), full(truth)
        mismatches += [(path.name, key) for key in KEYS if got[key] != want[key]]
    assert mismatches == []


def test_families_exercise_their_quirks(tmp_path):
    damage = set()
    for family in NEW:
        for path in generate(60, tmp_path / family, seed=3, family=family):
            damage |= set(jsonio.loads(path.with_name(path.stem + ".truth.json").read_text("utf-8"))["damage"])
    assert {"history_blank", "unit_conflict", "unit_on_qualitative", "percent_format_lost", "basis_in_value",
            "budget_across"} <= damage


def test_unknown_family_is_refused(tmp_path):
    assert "hubei" in FAMILIES
    with pytest.raises(ValueError, match="unknown family"):
        generate(1, tmp_path, family="shanghai")
