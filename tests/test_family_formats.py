"""Regressions behind "every family in every format" (issue 10 × issue 9): each test pins one root cause
that the family round-trip tests (tests/test_families.py) would only show as a mismatch."""
from __future__ import annotations

import json
import random

import pytest

from pifu import jsonio, layout
from pifu.generate import dumps_truth, generate_document
from pifu.generate.form import department_of, grid_of, year_of
from pifu.model import Source

FAMILIES = ("hubei", "hubei2021", "hunan2023", "fujian2019", "hubei_grid")


@pytest.fixture
def forms(monkeypatch):
    """Each family's form and truth, taken as the renderer is handed them."""
    import sys
    import types

    seen = {}
    module = types.ModuleType("pifu.generate.render.grid")
    module.render = lambda form, rng, damage: (seen.__setitem__("form", form), (b"", ".grid"))[1]
    monkeypatch.setitem(sys.modules, "pifu.generate.render.grid", module)

    def make(family: str, seed: int = 0):
        _, truth = generate_document(random.Random(f"{family}:{seed}"), fmt="grid", family=family)
        return seen["form"], jsonio.loads(dumps_truth(truth))
    return make


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_form_states_its_year_and_department(family, forms):
    for seed in range(5):
        form, truth = forms(family, seed)
        assert year_of(form) == truth["fiscal_year"]
        assert department_of(form) == truth["department"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_form_none_is_always_covered_by_a_merged_cell(family, forms):
    """Renderers draw a None as the continuation of a merge; an uncovered None (a Hubei-grid group row,
    Fujian's budget across) made docx and html renderers fail."""
    for seed in range(10):
        form, _ = forms(family, seed)
        covered = {(r + i, c + j) for r, row in enumerate(form.rows) for c, cell in enumerate(row) if cell
                   for i in range(cell.rowspan) for j in range(cell.colspan)}
        assert all(len(row) == form.width for row in form.rows)
        assert [(r, c) for r, row in enumerate(form.rows) for c, cell in enumerate(row)
                if cell is None and (r, c) not in covered] == []


def test_duty_table_under_a_heading_is_not_the_functions_section(forms):
    """Word draws 年度履职目标 as a heading paragraph over a table without the section column: its header
    row then starts with 部门职能, which is also a section label (functions)."""
    form, truth = forms("fujian2019", 1)
    grid = grid_of(form)
    at = next(i for i, row in enumerate(grid) if row[0] == "年度履职目标")
    end = form.sections["duty_targets"][1]
    moved = [["年度履职目标"]] + [row[1:] for row in grid[at:end + 1]]
    grid = grid[:at] + moved + grid[end + 1:]
    doc = layout.read_document(grid, Source("f", "", "grid", None), None, ()).to_dict()
    assert doc["texts"]["functions"] == truth["texts"]["functions"]
    dump = lambda rows: sorted(json.dumps(x, sort_keys=True, default=str) for x in rows)
    assert dump(doc["duty_targets"]) == dump(truth["duty_targets"])
