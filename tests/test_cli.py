import subprocess
import sys

import pytest
from decimal import Decimal as D

from pifu import jsonio
from pifu.cli import main


def test_parse_json_matches_the_contract(sample_path, capsys):
    assert main(["parse", str(sample_path), "--json"]) == 0
    out = jsonio.loads(capsys.readouterr().out)
    assert set(out) == {"source", "department", "fiscal_year", "funding", "indicators", "texts", "problems",
                        "agency_code", "filed_on", "duty_targets"}
    assert set(out["source"]) >= {"path", "sha256", "format", "encoding"}
    assert out["funding"][0] == {"flow": "income", "item": "财政拨款", "year": 2025, "amount": D("998.71"),
                                 "share_pct": 100, "item_class": "fiscal_appropriation"}
    ind = next(i for i in out["indicators"] if i["lv3"] == "市级生活困难劳模帮扶人数" and i["horizon"] == "long_term")
    assert ind == {"horizon": "long_term", "year": None, "lv1": "履职效能", "lv2": "劳模帮扶",
                   "lv3": "市级生活困难劳模帮扶人数", "raw": "≥23人", "comparator": ">=", "value": 23, "unit": "人",
                   "basis": "计划标准", "category": "绩效基本型", "lv1_class": "effectiveness", "value_type": None,
                   "explanation": None, "scoring_rule": None, "remark": None, "weight": None, "extra": None}
    assert set(out["problems"][0]) == {"code", "severity", "where", "message"}


def test_json_numbers_are_the_digits_of_the_file(sample_path, capsys):
    main(["parse", str(sample_path), "--json", "--indent", "0"])
    text = capsys.readouterr().out
    assert '"amount": 399.3,' in text and '"share_pct": 40.95}' in text and '"amount": 1058.85,' in text

@pytest.mark.parametrize("content,reason", [
    (b"", "empty"), (b"\x00\x01\x02\x03", "binary"), ("2025年项目支出绩效目标表\n".encode(), "not_a_document"),
])
def test_bad_files_exit_2_with_one_line(tmp_path, content, reason):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    p = subprocess.run([sys.executable, "-m", "pifu.cli", "parse", str(f), "--json"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and str(f) in p.stderr and reason in p.stderr
    assert "Traceback" not in p.stderr


def test_missing_file_and_directory(tmp_path, capsys):
    assert main(["parse", str(tmp_path / "nope.txt")]) == 2
    assert main(["parse", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "unreadable" in err[0] and "directory" in err[1]
