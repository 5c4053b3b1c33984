"""Files pifu has never seen, written by another tool: LibreOffice turns the real text export into a
workbook (.xlsx, .xls), an HTML page, a Word document and a PDF (laid out by Writer, pages and all).
Each parses to the same facts as the text export it came from.

LibreOffice comes from Debian's packages (libreoffice-calc-nogui, libreoffice-writer-nogui and a CJK
font); .ci/run installs them. Without it these tests are skipped, saying so.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import pifu
from test_roundtrip import canonical

SOFFICE = shutil.which("soffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed; .ci/run installs it")
# Tab-separated, '"' quotes, UTF-8, from line 1, every column text: Calc would otherwise turn 100% into a
# number shown as 100.00% (its default percent format), a different form from the one exported.
CSV = "CSV:9,34,76,1," + "/".join(f"{c}/2" for c in range(1, 11))


def _convert(src: Path, target: str, out: Path, profile: Path, infilter: str | None = None) -> Path:
    cmd = [SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore"]
    if infilter:
        cmd.append(f"--infilter={infilter}")
    subprocess.run(cmd + ["--convert-to", target, "--outdir", str(out), str(src)], check=True,
                   capture_output=True, timeout=180)
    made = out / f"{src.stem}.{target.split(':')[0]}"
    assert made.exists(), f"LibreOffice wrote no {made.name}"
    return made


@pytest.fixture(scope="module")
def foreign(tmp_path_factory, sample_path) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("foreign")
    profile = tmp / "profile"
    csv = tmp / "calc.csv"
    shutil.copy(sample_path, csv)
    files = {fmt: _convert(csv, fmt, tmp, profile, CSV) for fmt in ("xlsx", "xls", "html")}
    # Writer lays the table out with its own fonts, wrapping and page breaks; ruled, as printed forms are,
    # and as wide as the page (Calc's column widths would run the long text columns off its edge).
    html = files["html"].read_text(encoding="utf-8").replace('border="0"', 'border="1" width="100%"')
    html = re.sub(r'(<td[^>]*?) width="\d+"', r"\1", re.sub(r"<colgroup[^>]*>", "<colgroup>", html))
    page = tmp / "writer.html"
    page.write_text(html, encoding="utf-8")
    files["docx"] = _convert(page, "docx:MS Word 2007 XML", tmp, profile)
    files["pdf"] = _convert(files["docx"], "pdf", tmp, profile)
    return files


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "html", "docx", "pdf"])
def test_a_file_written_by_libreoffice_gives_the_facts_of_its_text_export(foreign, sample_path, fmt):
    want = canonical(pifu.parse(sample_path).to_dict())
    doc = pifu.parse(foreign[fmt])
    assert doc.source.format == fmt
    got = canonical(doc.to_dict())
    for key in want:
        assert got[key] == want[key], key
