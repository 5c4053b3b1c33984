"""The format of a file from its content: magic bytes, zip member names, markup. Never the extension:
portals serve HTML named .xls, and users rename files."""
from __future__ import annotations

import codecs
import re
import zipfile

from pifu.model import DocumentError
from pifu.safety import zip_of

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
# Markup that opens an HTML page (or a bare table saved as .xls), after a BOM, white space and comments.
_HTML_START = re.compile(rb"^(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|meta|body|table|title|style)\b",
                         re.IGNORECASE | re.DOTALL)


def sniff(data: bytes, path: str = "<bytes>") -> str:
    """One of pifu.readers.FORMATS, or DocumentError(unsupported_format) for a container we know is not a form."""
    if data.startswith(_ZIP):
        return _zip_kind(data, path)
    if data.startswith(_OLE2):
        return "xls"  # the xls reader tells a workbook from a .doc or an encrypted OOXML file
    if b"%PDF-" in data[:1024]:  # the header may follow up to 1 KB of junk
        return "pdf"
    if _HTML_START.match(_head_text(data).lstrip().encode("utf-8", "ignore")):
        return "html"
    return "text"


def _zip_kind(data: bytes, path: str) -> str:
    """OOXML by its members. Only the central directory is read here: nothing is inflated."""
    try:
        names = zip_of(data).namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise DocumentError(path, f"a zip container that cannot be opened ({e}): truncated or damaged",
                            "unreadable") from None
    if any(n.startswith("xl/") for n in names):
        return "xlsx"
    if any(n.startswith("word/") for n in names):
        return "docx"
    raise DocumentError(path, "a zip archive that is neither an .xlsx workbook nor a .docx document",
                        "unsupported_format")


def _head_text(data: bytes) -> str:
    head = data[:2048]
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom):].decode(enc, "ignore")
    return head.decode("latin-1")  # markup is ASCII in every encoding we meet
