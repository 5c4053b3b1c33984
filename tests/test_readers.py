import codecs

import pytest

from pifu import readers
from pifu.model import DocumentError

TEXT = "2025年部门整体绩效目标批复\n部门（单位）名称\t\t鄂州市总工会\n"


@pytest.mark.parametrize("encoding,bom,name", [
    ("utf-8", b"", "utf-8"), ("utf-8", codecs.BOM_UTF8, "utf-8"), ("gb18030", b"", "gb18030"),
    ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"), ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16"),
])
def test_encodings(encoding, bom, name):
    sheet = readers.read(bom + TEXT.encode(encoding), "x")
    assert sheet.encoding == name
    assert sheet.grid[1] == ["部门（单位）名称", "", "鄂州市总工会"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings_and_cell_stripping(newline):
    grid = readers.to_grid(newline.join(["a\t b \t\u3000c\u3000", "", "d"]))
    assert grid == [["a", "b", "c"], [""], ["d"]]


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"), (b"  \n\n", "empty"), (b"\x00\x01\x02binary", "binary"),
    (b"PK\x03\x04rest", "unreadable"), (b"%PDF-1.7", "unreadable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "unreadable"), ("批复".encode()[:-1], "truncated"),
    (b"\xff\xfe\x00\xd8", "undecodable"),
])
def test_bad_input_has_a_reason(data, reason):
    with pytest.raises(DocumentError) as e:
        readers.read(data, "f.txt")
    assert e.value.reason == reason and str(e.value).startswith("f.txt: ") and "\n" not in str(e.value)


def test_too_large(monkeypatch):
    monkeypatch.setattr(readers, "MAX_BYTES", 10)
    with pytest.raises(DocumentError, match="too_large"):
        readers.read(b"x" * 11, "f")


@pytest.mark.parametrize("name", ["ezhou-trade-union-2025.docx", "ezhou-trade-union-2025.xlsx"])
def test_a_container_directory_is_read_once_per_file(name, monkeypatch):
    """The safety check, the sniffer and the reader share one ZipFile (pifu.safety.zip_of), and it is
    let go once the reader is done."""
    import zipfile
    from pathlib import Path

    from pifu import safety

    data = (Path(__file__).resolve().parents[1] / "samples" / name).read_bytes()
    opened = []
    real = zipfile.ZipFile._RealGetContents
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", lambda self: (opened.append(self), real(self))[1])
    sheet = readers.read(data, name)
    assert sheet.format == name.rsplit(".", 1)[1] and len(opened) == 1
    assert safety._opened is None
