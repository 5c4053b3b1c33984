"""A bad-input corpus, built by the tests themselves (no committed binaries): every kind of file a real
inbox or an attacker can hold, each with the outcome pifu owes it.

`build(box, sample, outside)` writes the corpus below `box` and returns {relative path: expected}, where
expected is None for a file that must load, or the exact quarantine reason code.
"""
from __future__ import annotations

import io
import os
import random
import struct
import zipfile
from pathlib import Path

SHEET = "xl/worksheets/sheet1.xml"
SECRET = "PIFU-SECRET-7f3a9c"  # the content of the file the XXE points at: must never appear anywhere
SQL_NAME = "'; DROP TABLE fact_document; --.txt"
SQL_DEPARTMENT = "鄂州市'; DROP TABLE dim_department; --\"总工会"
HUGE_SHEET_ROWS = 130_000  # x 4 cells: past the readers' 500,000-cell cap, inside the zip limits

# The reason codes of the files below. The huge sheet: the xlsx reader refuses it as too_large once it
# counts cells as it reads (readers.check_cells); a reader that reads it all finds no form in it.
HUGE_SHEET_OUTCOMES = {"too_large"}  # the xlsx reader counts cells as it reads and stops past the cap


def sample_workbook(text: str) -> bytes:
    """The sample as an .xlsx (openpyxl writes the strings inline, in the sheet)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for r, line in enumerate(text.split("\n"), 1):
        for c, cell in enumerate(line.split("\t"), 1):
            if cell:
                sheet.cell(row=r, column=c, value=cell)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rezip(data: bytes, replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = (),
          add: dict[str, bytes] | None = None) -> bytes:
    """A copy of a zip with members replaced, dropped or added (fresh entries, so sizes and CRCs are right)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in src.namelist():
            if name in drop:
                continue
            z.writestr(name, (replace or {}).get(name, src.read(name)))
        for name, content in (add or {}).items():
            z.writestr(name, content)
    return out.getvalue()


def xxe_workbook(book: bytes, target: Path) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(book))
    dtd = f'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file://{target}">]>\n'.encode()
    sheet = src.read(SHEET)
    # the entity used in a cell, so a parser that expanded it would put the file's content in the grid
    sheet = sheet.replace("鄂州市总工会".encode(), b"&e;", 1)
    return rezip(book, {"xl/workbook.xml": dtd + src.read("xl/workbook.xml"), SHEET: dtd + sheet})


def billion_laughs_workbook(book: bytes) -> bytes:
    lol = ['<!ENTITY lol "lol">'] + [f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 or "")) * 10}">' for i in range(1, 10)]
    dtd = ("<?xml version=\"1.0\"?><!DOCTYPE lolz [" + "".join(lol) + "]>").encode()
    sheet = zipfile.ZipFile(io.BytesIO(book)).read(SHEET)
    return rezip(book, {SHEET: dtd + sheet.replace(b"<t>", b"<t>&lol9;", 1)})


def zip_bomb(book: bytes) -> bytes:
    """The lead's check: a sheet of b"<" + 200 MB of "a", deflated (~200 KB on disk, ratio ~1000)."""
    return rezip(book, {SHEET: b"<" + b"a" * 200_000_000})


def huge_sheet_workbook(book: bytes) -> bytes:
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}"><v>{r * 7}</v></c>'
                   f'<c r="C{r}"><v>{r * 13}</v></c><c r="D{r}"><v>{r * 31}</v></c></row>'
                   for r in range(1, HUGE_SHEET_ROWS + 1))
    sheet = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             f"{rows}</sheetData></worksheet>").encode()
    return rezip(book, {SHEET: sheet})


def no_sheet_workbook(book: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(book))
    workbook = src.read("xl/workbook.xml")
    start, end = workbook.index(b"<sheets>"), workbook.index(b"</sheets>") + len(b"</sheets>")
    return rezip(book, {"xl/workbook.xml": workbook[:start] + b"<sheets/>" + workbook[end:]},
                 drop=(SHEET,))


def encrypted_member(book: bytes) -> bytes:
    """Bit 0 of the general-purpose flags set on every member, in the local headers and the directory
    (zipfile cannot write encrypted members; Excel's own password protection is not a zip at all)."""
    data = bytearray(book)
    for magic, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(magic)
        while at >= 0:
            (flags,) = struct.unpack_from("<H", data, at + offset)
            struct.pack_into("<H", data, at + offset, flags | 0x1)
            at = data.find(magic, at + 4)
    return bytes(data)


def build(box: Path, sample: Path, outside: Path) -> dict[str, str | None]:
    box.mkdir(parents=True, exist_ok=True)
    text = sample.read_text(encoding="utf-8")
    raw = text.encode("utf-8")
    book = sample_workbook(text)
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.txt"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    rng = random.Random(8)
    cut = raw.index("鄂州市".encode()) + 1  # inside a three-byte character

    files: dict[str, tuple[bytes, str | None]] = {
        "empty.txt": (b"", "empty"),
        "blank.txt": (b"  \n\t\r\n  \n", "empty"),
        "garbage.bin": (bytes(rng.randrange(256) for _ in range(8192)) + b"\x00", "binary"),
        "pk-garbage.xlsx": (b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(4096)), "unreadable"),
        "truncated.txt": (raw[:cut], "truncated"),
        "truncated.xlsx": (book[: len(book) // 2], "unreadable"),
        # encodings we cannot read: UTF-16 without its byte-order mark, UTF-7, bytes valid in no encoding we know
        "utf16-no-bom.txt": (text.encode("utf-16-le"), "binary"),
        "utf7.txt": (text.encode("utf-7"), "not_a_document"),
        "not-gb18030.txt": (text.encode("gb18030").replace(b"\n", b"\n\xff", 1), "undecodable"),
        "workbook-named.txt": (book, None),
        "export-named.pdf": (raw.replace("鄂州市总工会".encode(), "鄂州市妇女联合会".encode()), None),
        "no-sheets.xlsx": (no_sheet_workbook(book), "not_a_document"),
        "xxe.xlsx": (xxe_workbook(book, secret), "unsafe_xml"),
        "laughs.xlsx": (billion_laughs_workbook(book), "unsafe_xml"),
        "bomb.xlsx": (zip_bomb(book), "unsafe_archive"),
        "huge-sheet.xlsx": (huge_sheet_workbook(book), "huge"),
        "encrypted.xlsx": (encrypted_member(book), "unsafe_archive"),
        "traversal.xlsx": (rezip(book, add={"../../evil.xml": b"<a/>"}), "unsafe_archive"),
        "nested.xlsx": (rezip(book, add={"xl/embeddings/inner.zip": rezip(book)}), "unsafe_archive"),
        "over-20mb.txt": (raw + b"\n" * (21 * 1024 * 1024), "too_large"),
        "meeting-notes.txt": ("会议纪要\n今天开会，讨论绩效目标。\n".encode("gb18030"), "not_a_document"),
        SQL_NAME: (raw.replace("鄂州市总工会".encode(), SQL_DEPARTMENT.encode()), None),
        "new\nline \"quoted\".txt": (raw.replace("鄂州市总工会".encode(), "鄂州市科学技术协会".encode()), None),
        "crash-me.txt": (raw.replace("鄂州市总工会".encode(), "鄂州市档案馆".encode()), "worker_crashed"),
        "hang-me.txt": (raw.replace("鄂州市总工会".encode(), "鄂州市地震局".encode()), "timeout"),
    }
    expected: dict[str, str | None] = {}
    for name, (data, outcome) in files.items():
        (box / name).write_bytes(data)
        expected[name] = outcome
    # a folder named like a file: walked like any folder (the document inside loads)
    (box / "report.xlsx").mkdir()
    (box / "report.xlsx" / "inside.txt").write_bytes(raw.replace("鄂州市总工会".encode(), "鄂州市统计局".encode()))
    expected["report.xlsx/inside.txt"] = None
    # a symbolic link leaving the inbox: refused unopened, even though its target is a readable file
    os.symlink(secret, box / "link-out.txt")
    expected["link-out.txt"] = "symlink_outside_sources"
    os.mkfifo(box / "pipe.txt")  # opening it would block the run forever
    expected["pipe.txt"] = "not_a_regular_file"
    return expected
