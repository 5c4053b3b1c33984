from decimal import Decimal as D

import pytest

from pifu import values


@pytest.mark.parametrize("raw,expected", [
    ("≥23人", (">=", D(23), "人")),
    ("≤100％", ("<=", D(100), "%")),
    ("100%", ("=", D(100), "%")),
    ("０", ("=", D(0), None)),
    ("≥1,000人次", (">=", D(1000), "人次")),
    ("＞90%", (">", D(90), "%")),
    ("<5%", ("<", D(5), "%")),
    ("3.5万元", ("=", D("3.5"), "万元")),
    ("不低于95%", (">=", D(95), "%")),
    ("90%以上", (">=", D(90), "%")),
    ("≧８０．５％", (">=", D("80.5"), "%")),
    ("健全", (None, None, None)),
    ("完全相符", (None, None, None)),
    ("90%-100%", (None, None, None)),
    ("", (None, None, None)),
])
def test_parse_target(raw, expected):
    t = values.parse_target(raw)
    assert (t.comparator, t.value, t.unit) == expected and t.raw == raw


@pytest.mark.parametrize("cell,expected", [
    ("998.71", D("998.71")), ("1,058.85", D("1058.85")), ("９９８．７１", D("998.71")),
    ("-", D(0)), ("—", D(0)), ("0", D(0)), ("－12.5", D("-12.5")), ("1,05.8", None), ("12%", None), ("abc", None),
])
def test_parse_amount(cell, expected):
    assert values.parse_amount(cell) == expected


def test_parse_share_and_year():
    assert values.parse_share("49.96%") == D("49.96") and values.parse_share("100％") == D(100)
    assert values.parse_share("49.96") is None
    assert values.parse_year("2023年") == 2023 and values.parse_year("２０２４年") == 2024
    assert values.parse_year("2023") is None and values.parse_year("截止2025年") is None


def test_digits_and_region():
    assert [values.digits(D(x)) for x in ("399.3", "100", "0.05", "1058.85")] == [1, 0, 2, 2]
    assert values.region_of("鄂州市总工会") == "鄂州市"
    assert values.region_of("梁子湖区教育局") == "梁子湖区"
    assert values.region_of("阳新县财政局") == "阳新县"
    assert values.region_of("武汉市江岸区教育局") == "武汉市"
    assert values.region_of("总工会") is None
