"""Hostile containers and resource limits: what pifu refuses before a reader sees the bytes.

A reader never inflates a zip member or parses XML that has not passed `check(data, path)`:

- Zip containers (.xlsx, .docx, and anything else starting with `PK`) are judged from the end record
  and the central directory alone, before anything is inflated: member count, directory size, total
  uncompressed size, per-member compression ratio, member names (absolute, `..`), encryption, the
  compression method, nested archives. Any of these gives `DocumentError(reason="unsafe_archive")`.
- The XML members of a zip are scanned with a bounded inflate for a document type declaration
  (`<!DOCTYPE`, and with it `<!ENTITY`): an XXE attempt or an entity bomb gives `unsafe_xml`. The
  message never quotes member content, so nothing of a referenced file can reach a message, the lake or
  the warehouse.

The rule for every XML parser in pifu (readers in other modules follow it too): never resolve entities,
never load a DTD, never touch the network. openpyxl parses with defusedxml when it is installed (a
dependency of pifu; `openpyxl_is_defused()` says whether it took effect); lxml-based readers
(python-docx, HTML) parse with `safe_lxml_parser()` / `safe_html_parser()` from here, or pass
`resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False` themselves.

Limits on a process (`limit_memory`, `file_alarm`) are here too: the parse workers and `pifu parse`
apply them, so no single file can exhaust the machine or hold a run forever.
"""
from __future__ import annotations

import codecs
import io
import os
import re
import resource
import signal
import struct
import zipfile
import zlib
from contextlib import contextmanager

from pifu.model import DocumentError

# Limits for a zip container. A real approval workbook is ~20 KB with ~10 members and inflates to less
# than 1 MB; these leave two orders of magnitude of room and still refuse every bomb at once.
MAX_MEMBERS = 1_000  # an .xlsx has ~10-40 members (one per sheet, style, theme, relationship part)
MAX_DIRECTORY_BYTES = 1 << 20  # the central directory of 1,000 members with long names; zipfile builds an
#                                object per entry it finds there, whatever the end record claims
MAX_TOTAL_UNCOMPRESSED = 100 * 1024 * 1024  # 100x a real workbook's inflated size; more is a bomb or not a form
MAX_RATIO = 200  # XML deflates 5-20x, a sheet of empty styled cells ~100x; a bomb deflates ~1000x
RATIO_FLOOR = 1024 * 1024  # members smaller than this are harmless whatever their ratio (a blank part)
PROLOG_LIMIT = 64 * 1024  # bytes of an XML member read to get past its prolog (normally ~60 bytes)
_NESTED_SUFFIXES = (".zip", ".xlsx", ".xlsm", ".xltx", ".docx", ".docm", ".pptx", ".jar", ".gz", ".tgz",
                    ".bz2", ".xz", ".7z", ".rar", ".cab")
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
# Encodings whose markup bytes are ASCII (so `<!` in the bytes is `<!` in the text, and the reverse),
# plus UTF-16, handled apart. OOXML is UTF-8 or UTF-16; anything else (UTF-7, EBCDIC) could hide a DTD.
_ASCII_COMPATIBLE = re.compile(r"^(utf-?8|us-?ascii|ascii|iso-?8859-\d+|latin-?1|windows-125\d|cp125\d|gb2312|gbk|"
                               r"gb18030|big5|shift_jis|euc-(jp|kr|cn))$", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")


def check(data: bytes, path: str) -> None:
    """Refuse hostile containers before any reader opens them. Not-a-zip content passes untouched."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        check_zip(data, path)


def check_zip(data: bytes, path: str) -> None:
    global _opened
    _check_end_record(data, path)
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error):
        return  # not a readable zip: the sniffer refuses it as unreadable, with its own words
    members = book.infolist()
    _check_directory(members, path)
    for info in members:
        _check_content(book, info, path, data)
    _opened = (data, book)


# The container check_zip passed last, for the sniffer and the reader of the same bytes (zip_of): the
# directory of a form's ~10-17 members is read once per file instead of three times.
_opened: tuple[bytes, zipfile.ZipFile] | None = None


def zip_of(data: bytes) -> zipfile.ZipFile:
    """A ZipFile over `data`: the one check_zip opened when it is these very bytes, else a new one."""
    opened = _opened
    if opened is not None and opened[0] is data and opened[1].fp is not None:
        return opened[1]
    return zipfile.ZipFile(io.BytesIO(data))


def forget(data: bytes) -> None:
    """Drop the container kept for `data` (pifu.readers.read, once its reader is done)."""
    global _opened
    if _opened is not None and _opened[0] is data:
        _opened = None


def _unsafe_archive(path: str, why: str) -> DocumentError:
    return DocumentError(path, f"zip container refused before inflating: {why}", "unsafe_archive")


def _check_end_record(data: bytes, path: str) -> None:
    """The member count and directory size from the end record, before zipfile reads the directory."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if at < 0 or len(data) < at + 22:
        return  # no end record: zipfile cannot open it either
    _, _, _, count, size, _, _ = struct.unpack("<4s4H2LH", data[at:at + 22])[:7]
    if count == 0xFFFF or size == 0xFFFFFFFF:  # ZIP64: counts are in the ZIP64 end record
        count, size = _zip64_counts(data, at) or (count, size)
    if count > MAX_MEMBERS:
        raise _unsafe_archive(path, f"{count:,} members (at most {MAX_MEMBERS:,})")
    if size > MAX_DIRECTORY_BYTES:
        raise _unsafe_archive(path, f"a {size:,}-byte directory (at most {MAX_DIRECTORY_BYTES:,})")


def _zip64_counts(data: bytes, end_at: int) -> tuple[int, int] | None:
    locator = end_at - 20
    if locator < 0 or data[locator:locator + 4] != b"PK\x06\x07":
        return None
    (record,) = struct.unpack("<Q", data[locator + 8:locator + 16])
    if data[record:record + 4] != b"PK\x06\x06" or len(data) < record + 56:
        return None
    count, size = struct.unpack("<QQ", data[record + 32:record + 48])
    return count, size


def _check_directory(members: list[zipfile.ZipInfo], path: str) -> None:
    """Everything the central directory alone says: no member is inflated here."""
    if len(members) > MAX_MEMBERS:
        raise _unsafe_archive(path, f"{len(members):,} members (at most {MAX_MEMBERS:,})")
    total = 0
    for info in members:
        name = info.filename
        if _escapes(name):
            raise _unsafe_archive(path, f"a member named outside the archive ({_shown(name)})")
        if info.flag_bits & 0x1:
            raise _unsafe_archive(path, f"an encrypted member ({_shown(name)})")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # zipfile inflates bzip2/LZMA members without an output bound; OOXML uses deflate only
            raise _unsafe_archive(path, f"compression method {info.compress_type} ({_shown(name)})")
        if name.lower().endswith(_NESTED_SUFFIXES):
            raise _unsafe_archive(path, f"a nested archive ({_shown(name)})")
        size = info.file_size
        if size > RATIO_FLOOR and size > MAX_RATIO * max(info.compress_size, 1):
            raise _unsafe_archive(path, f"member {_shown(name)} inflates {size // max(info.compress_size, 1):,}x "
                                        f"(at most {MAX_RATIO}x)")
        total += size
        if total > MAX_TOTAL_UNCOMPRESSED:
            raise _unsafe_archive(path, f"more than {MAX_TOTAL_UNCOMPRESSED:,} bytes uncompressed")


def _escapes(name: str) -> bool:
    parts = re.split(r"[/\\]", name)
    return (name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) is not None or ".." in parts
            or "\x00" in name)


def _shown(name: str) -> str:
    """A member name fit for a one-line message: printable, short. Names come from the directory, never
    from member content."""
    clean = "".join(c if c.isprintable() else "?" for c in name)
    return repr(clean[:80] + ("…" if len(clean) > 80 else ""))


def _check_content(book: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, data: bytes | None = None) -> None:
    """A bounded peek into one member: XML parts must have no DTD, other parts must not be archives."""
    if info.is_dir() or info.file_size == 0:
        return
    name = info.filename
    xml = _is_xml(name)
    want = _FIRST_PEEK if xml else 8
    if data is not None:
        # Inflating just the bytes looked at usually settles it: they are the start of what the read below
        # would look at (or it finds the member damaged and passes it). Only a member found fine here is
        # passed: anything else is read again below, with zipfile's first read.
        head = _peek(data, info, want, want)
        if head is not None and not (xml_prolog_problem(head, complete=len(head) >= info.file_size) if xml
                                     else head.startswith(_ARCHIVE_MAGIC)):
            return
    head = None if data is None else _peek(data, info, want)
    if head is not None:
        problem = xml_prolog_problem(head, complete=len(head) >= info.file_size) if xml else None
        if problem == _LONG_PROLOG and len(head) < info.file_size:
            head = None  # read on through zipfile, below
    if head is None:
        head, problem = _peek_with_zipfile(book, info, xml)
        if head is None:
            return  # a damaged member: the reader refuses it (unreadable); nothing was expanded
    if not xml:
        if head.startswith(_ARCHIVE_MAGIC):
            raise _unsafe_archive(path, f"a nested archive ({_shown(name)})")
        return
    if problem:
        raise DocumentError(path, f"XML part {_shown(name)} refused: {problem}", "unsafe_xml")


def _peek(data: bytes, info: zipfile.ZipInfo, want: int, inflate: int = 0) -> bytes | None:
    """The first `want` bytes of a member exactly as zipfile's first read gives them, for a member stored
    or deflated plainly (local header agreeing with the directory, data all there); None for anything
    else, which zipfile then reads with its own checks and errors. zipfile's objects cost ~15 µs a
    member, and a form has 10-17 of them. With `inflate` (>= want), at most that many bytes are inflated
    instead of zipfile's first read: the same first bytes, but the CRC is checked only when they are
    the whole member."""
    at = info.header_offset
    if data[at:at + 4] != b"PK\x03\x04" or len(data) < at + 30 or info.flag_bits & 0x61:  # encrypted, patched
        return None
    flags, method = struct.unpack_from("<HH", data, at + 6)
    name_length, extra_length = struct.unpack_from("<HH", data, at + 26)
    if method != info.compress_type or method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    try:
        name = info.orig_filename
        name = name.encode("utf-8" if flags & 0x800 or name.isascii() else "cp437")  # (ASCII: the same bytes)
    except UnicodeEncodeError:
        return None
    start = at + 30 + name_length
    if data[at + 30:start] != name:
        return None
    start += extra_length
    if len(data) < start + info.compress_size:
        return None
    # zipfile's first read takes up to MIN_READ_SIZE compressed bytes and inflates up to as many; when
    # that reaches the member's end it checks the CRC (a mismatch: BadZipFile, left to zipfile here)
    first = data[start:start + min(info.compress_size, _MIN_READ)]
    if method == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            return None
        chunk = first
    else:
        try:
            chunk = zlib.decompressobj(-15).decompress(first, inflate or _MIN_READ)
        except zlib.error:
            return None
    if len(chunk) >= info.file_size:
        if len(chunk) != info.file_size or zlib.crc32(chunk) != info.CRC:
            return None
    elif len(chunk) < want:
        return None  # zipfile would read on
    return chunk[:want]


_MIN_READ = zipfile.ZipExtFile.MIN_READ_SIZE


def _peek_with_zipfile(book: zipfile.ZipFile, info: zipfile.ZipInfo, xml: bool) -> tuple[bytes | None, str | None]:
    """(head, problem) read through zipfile; (None, None) for a member zipfile cannot read."""
    problem = None
    try:
        with book.open(info) as member:
            # zipfile inflates at most about as many bytes as are read. A prolog is ~60 bytes: the first
            # KB decides unless the prolog runs past it, and only then is the rest of the limit read (the
            # answer on a longer head is the same whenever the short one already decides).
            head = member.read(_FIRST_PEEK if xml else 8)
            problem = xml_prolog_problem(head, complete=len(head) >= info.file_size) if xml else None
            if problem == _LONG_PROLOG and len(head) < info.file_size:
                head += member.read(PROLOG_LIMIT - len(head))
                problem = xml_prolog_problem(head, complete=len(head) >= info.file_size)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError, struct.error,
            zlib.error):
        return None, None
    return head, problem


_FIRST_PEEK = 1024  # bytes of an XML member read first; PROLOG_LIMIT only when its prolog is longer
_LONG_PROLOG = f"a prolog longer than {PROLOG_LIMIT:,} bytes"


def _is_xml(name: str) -> bool:
    return name.lower().endswith(_XML_SUFFIXES)


def xml_prolog_problem(head: bytes, complete: bool) -> str | None:
    """Why the start of an XML document is unsafe, or None.

    A document type declaration (the only place entities can be declared, `<!ENTITY`) may only stand in
    the prolog, before the root element; a parser meeting one later stops with an error. So reading the
    prolog (declaration, comments, processing instructions) is enough to know the parse cannot expand
    an entity or fetch a file. No content is quoted in the answer.
    """
    text = _decoded_head(head)
    if text is None:
        return "an encoding that is neither UTF-8 nor UTF-16 nor ASCII-compatible"
    i = 1 if text.startswith("\ufeff") else 0
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        rest = text[i:i + 4]
        if len(rest) < 4 and not complete:
            return _LONG_PROLOG
        if rest.startswith("<?"):
            end = text.find("?>", i + 2)
        elif rest.startswith("<!--"):
            end = text.find("-->", i + 4)
        elif rest.startswith("<!"):
            return "a document type declaration (<!DOCTYPE or <!ENTITY): entities are never expanded"
        else:
            return None  # the root element (or junk the parser refuses): past the prolog
        if end < 0:
            return None if complete else _LONG_PROLOG
        i = end + 2 if rest.startswith("<?") else end + 3


def _decoded_head(head: bytes) -> str | None:
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) or head[:4] in (b"<\0\0\0", b"\0\0\0<"):
        return None  # UTF-32: expat does not read it; refuse rather than guess
    if head.startswith(codecs.BOM_UTF16_LE) or head[:2] == b"<\0":
        return head[:len(head) // 2 * 2].decode("utf-16-le", "replace")
    if head.startswith(codecs.BOM_UTF16_BE) or head[:2] == b"\0<":
        return head[:len(head) // 2 * 2].decode("utf-16-be", "replace")
    declared = _DECLARED_ENCODING.match(head.removeprefix(codecs.BOM_UTF8))
    if declared:
        name = declared.group(1).decode("ascii")
        if not _ASCII_COMPATIBLE.match(name) and name.lower().replace("-", "") != "utf16":
            return None
    return head.decode("latin-1")  # markup is ASCII in every encoding allowed here


def peek_member(data: bytes, names: tuple[str, ...], limit: int) -> bytes | None:
    """The first `limit` bytes of the first of `names` present in a zip that passed `check_zip`, or None.
    Used to route a workbook to its fiscal year without parsing it."""
    try:
        book = zipfile.ZipFile(io.BytesIO(data))
        present = set(book.namelist())
        for name in names:
            if name in present:
                with book.open(name) as member:
                    return member.read(limit)
    except Exception:  # routing is best effort; the parse worker has the last word
        return None
    return None


# ---- XML parsers for readers (lxml): never entities, never a DTD, never the network ----

def safe_lxml_parser(**kwargs):
    """An lxml XML parser that resolves no entities, loads no DTD and fetches nothing."""
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, **kwargs)


def safe_html_parser(**kwargs):
    from lxml import etree

    return etree.HTMLParser(no_network=True, huge_tree=False, **kwargs)


def openpyxl_is_defused() -> bool:
    """True when openpyxl parses workbooks with defusedxml (no DTDs, no entity expansion)."""
    import openpyxl.xml

    return bool(openpyxl.xml.DEFUSEDXML)


# ---- process limits ----

DEFAULT_FILE_TIMEOUT_S = 30.0  # a form parses in milliseconds, the largest sheet allowed (MAX_CELLS) in seconds
# Address space of a parse worker. A worker idles at ~320 MB virtual (Python, pyarrow, openpyxl mapped) and
# ~100 MB resident; a batch of 250 documents and the largest sheet allowed fit well inside. Two workers (one
# per core of a 2-core machine) plus the run's own process stay far below 24 GB, and no worker passes 1 GB.
DEFAULT_WORKER_MEMORY_MB = 1024


def file_timeout_s() -> float:
    return float(os.environ.get("PIFU_FILE_TIMEOUT_S") or DEFAULT_FILE_TIMEOUT_S)


def worker_memory_mb() -> int:
    return int(os.environ.get("PIFU_WORKER_MEMORY_MB") or DEFAULT_WORKER_MEMORY_MB)

class FileTimeout(BaseException):
    """Raised by the alarm inside a worker parsing one file too long. A BaseException, so a reader's own
    `except Exception` cannot swallow it."""


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space (RLIMIT_AS): past it, allocations fail with MemoryError instead
    of the machine swapping or the OOM killer choosing a victim. Never raises the hard limit."""
    if megabytes <= 0:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))


def install_alarm() -> None:
    """SIGALRM raises FileTimeout in the main thread: a file stuck in Python code is stopped."""
    def _raise(signum, frame):
        raise FileTimeout()

    signal.signal(signal.SIGALRM, _raise)


def file_alarm(seconds: float) -> None:
    """Arm (seconds > 0) or disarm (0) the per-file alarm."""
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.0))


@contextmanager
def limited(memory_mb: int, timeout_s: float):
    """Limits around one parse in a process pifu does not own alone (`pifu parse`, possibly called from
    Python): the address space may grow by `memory_mb` over what is mapped now, and SIGALRM raises
    FileTimeout after `timeout_s` (main thread only). Both are restored afterwards."""
    import threading

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    mapped = mapped_bytes()
    if memory_mb > 0 and mapped:
        want = mapped + memory_mb * 1024 * 1024
        if soft == resource.RLIM_INFINITY or want < soft:
            resource.setrlimit(resource.RLIMIT_AS, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    alarm = threading.current_thread() is threading.main_thread() and timeout_s > 0
    previous = signal.getsignal(signal.SIGALRM) if alarm else None
    if alarm:
        install_alarm()
        file_alarm(timeout_s)
    try:
        yield
    finally:
        if alarm:
            file_alarm(0)
            signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def mapped_bytes() -> int:
    """This process's virtual size (Linux /proc), or 0 when unknown (then no memory limit is applied)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
