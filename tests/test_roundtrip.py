"""parse(file) == truth for 500 generated documents, each with its own mix of export damage."""
from collections import Counter

import pytest

import pifu
from pifu import jsonio
from pifu.generate import generate

N = 500
# damage the parser must say it repaired (the others need no repair worth a word: encodings, blank lines)
SAID = {"page_break": "page_break", "truncated_label": "label_completed", "wrong_row_label": "hierarchy_reassigned",
        "fewer_values": "missing_values", "year_header_in_row": "year_header_in_row",
        "year_header_absent": "inferred_year", "annual_year_header_absent": "inferred_year",
        "shift_left": "row_shifted", "shift_right": "row_shifted"}


def canonical(d: dict):
    funding = sorted((f["flow"], f["item"], f["year"], f["amount"], f["share_pct"] is None, f["share_pct"] or 0)
                     for f in d["funding"])
    indicators = sorted((i["horizon"], i["lv1"], i["lv2"], i["lv3"], i["year"] or 0, i["raw"], str(i["comparator"]),
                         str(i["value"]), str(i["unit"]), str(i["basis"]), str(i["category"])) for i in d["indicators"])
    return {"department": d["department"], "fiscal_year": d["fiscal_year"], "funding": funding,
            "indicators": indicators, "texts": d["texts"]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    return generate(N, out, seed=20251124, errors=0.2)


def test_every_generated_document_reads_back_as_its_truth(corpus):
    mismatches = []
    damage_seen, unsaid = Counter(), Counter()
    for path in corpus:
        truth = jsonio.loads(path.with_name(path.name.replace(".txt", ".truth.json")).read_text(encoding="utf-8"))
        doc = pifu.parse(path)
        got, want = canonical(doc.to_dict()), canonical(truth)
        for key in want:
            if got[key] != want[key]:
                mismatches.append((path.name, key, truth["damage"]))
        codes = {p.code for p in doc.problems}
        for damage in truth["damage"]:
            damage_seen[damage] += 1
            if damage in SAID and SAID[damage] not in codes:
                unsaid[damage] += 1
    assert len(corpus) == N
    assert mismatches == []
    assert set(SAID) <= set(damage_seen), "the corpus should exercise every kind of damage"
    assert unsaid == Counter(), "every repair is listed under problems"


def test_generated_corpus_reads_with_no_error_problems(corpus):
    errors = [(p.name, pr) for p in corpus[:200] for pr in pifu.parse(p).problems if pr.severity == "error"]
    assert errors == []
