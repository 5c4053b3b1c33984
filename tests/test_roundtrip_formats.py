"""Every format round-trips: documents rendered as xlsx, xls, docx, html and pdf from the same truth
read back as that truth, with `source.format` sniffed from the content and problems placed in the
format's own terms. 50 documents per format here; PIFU_SLOW=1 runs 1,000 per format."""
import os

import pytest

import pifu
from pifu import jsonio
from pifu.generate import generate
from test_roundtrip import canonical

FORMATS = ("xlsx", "xls", "docx", "html", "pdf")
N = 1000 if os.environ.get("PIFU_SLOW") == "1" else 50


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_rendered_document_reads_back_as_its_truth(fmt, tmp_path):
    pytest.importorskip(f"pifu.generate.render.{fmt}")
    paths = generate(N, tmp_path, seed=20251125, errors=0.2, fmt=fmt)
    mismatches, misplaced = [], []
    for path in paths:
        truth = jsonio.loads(path.with_name(path.stem + ".truth.json").read_text(encoding="utf-8"))
        doc = pifu.parse(path)
        assert doc.source.format == fmt, path.name
        got, want = canonical(doc.to_dict()), canonical(truth)
        mismatches += [(path.name, key, truth["damage"]) for key in want if got[key] != want[key]]
        misplaced += [(path.name, p.where) for p in doc.problems if p.where.startswith("line ")]
    assert len(paths) == N
    assert mismatches == []
    assert misplaced == [], "a problem names the cell in the format's own terms, not a text line"
