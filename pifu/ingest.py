"""From files and folders to documents and quarantine records: discovery, hashing, parsing in a pool.

Every file found ends up in exactly one of: parsed documents, quarantine records, or skipped because
its content (sha256) was already loaded or quarantined.
"""
from __future__ import annotations

import codecs
import gc
import hashlib
import html
import json
import multiprocessing
import os
import re
import signal
import stat
import time
import uuid
from collections import deque
from concurrent.futures import Future
from multiprocessing.connection import wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyarrow as pa

from pifu import safety
from pifu.model import Document, DocumentError, PifuError
from pifu.normalize import combine, normalize, unfit_reason, with_source_mtime
from pifu.readers import MAX_BYTES

SKIP_SUFFIXES = (".truth.json",)  # the generator's answers, written beside its documents
UNKNOWN_YEAR = "unknown"  # the partition of files whose title names no fiscal year
# The codecs routing may need, looked up (imported) here: a plan runs in a thread beside the caller's imports.
for _codec in ("gb18030", "utf-16"):
    codecs.lookup(_codec)
# The year may be written in full-width digits (２０２４): matched as written (\d is Unicode), folded after.
_TITLE_YEAR = re.compile(r"((?:[1１][9９]|[2２][0０])\d{2})\s*年(?:度)?[^\n]{0,20}?部门整体绩效目标")


@dataclass(frozen=True)
class InputFile:
    path: str
    sha256: str
    size: int
    refused: str = ""  # "reason: detail" when the file is refused without being opened (see `plan`)
    mtime_ns: int | None = None  # when fingerprinted: orders two versions of a document found in one run
    ctime_ns: int | None = None  # with size and mtime_ns: the file a worker opens is still the one hashed

    def hashed(self) -> tuple[tuple[int, int, int], str] | None:
        """(size, mtime_ns, ctime_ns) and the sha256 they vouch for, for `pifu.api.parse`; None when not
        hashed whole."""
        if not self.sha256 or self.size < 0 or self.mtime_ns is None or self.ctime_ns is None:
            return None
        return (self.size, self.mtime_ns, self.ctime_ns), self.sha256


def discover(sources: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named, and files below folders named (hidden ones and generator truth files left out), sorted."""
    return [Path(p) for p in _discover(sources)]


def _discover(sources: Iterable[str | os.PathLike]) -> list[str]:
    """`discover` as strings, in the same order: 10,000 Path objects and their sorting cost more than the
    walk itself."""
    found: set[str] = set()
    for source in sources:
        p = Path(source)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                base = str(Path(root))  # as Path(root) / f prints it: normalized, "." dropped
                prefix = "" if base == "." else base.rstrip("/") + "/"
                found.update(prefix + f for f in files if not f.startswith(".") and not f.endswith(SKIP_SUFFIXES))
        else:
            found.add(str(p))  # a missing file is quarantined with its reason, not skipped
    return sorted(found, key=_path_order)


def _path_order(path: str) -> str:
    """The order of the Paths' parts, as sorting Path objects gives ("/" stands for the root), as one string:
    each separator made NUL, which sorts before any character a name can hold, so comparing the strings
    compares the parts in turn (a part before its longer namesakes). A list of parts a path cost 0.47 s to
    build and sort at 100,000 files, against ~0.1 s."""
    key = path.replace("/", "\0")
    return "/" + key if key.startswith("\0") else key


def fingerprint(path: str | Path, roots: Iterable[Path] = (), cache: dict | None = None) -> InputFile:
    """Hash and size; or, for a file that must not be opened (a symlink leaving the folder it was found
    in, a pipe or a device), a refusal keyed by its path. `cache` (see `HashCache`): the hash of a file
    whose size, mtime, ctime, inode and device are those recorded with it is taken from there, and
    what is hashed is recorded."""
    known = _known_or_refused(path, roots, cache)
    if known is not None:
        return known
    item, _, entry = _hash_file(str(path), year=False)
    if cache is not None and entry:
        cache[str(path)] = entry
    return item


def _known_or_refused(path: str | Path, roots: Iterable[Path], cache: dict | None) -> InputFile | None:
    """What one lstat (and the cache) can tell without reading the file, or None: it must be hashed."""
    st = _own_stat(path)
    refusal = _refusal(Path(path), roots) if st is None else _kind_refusal(st)
    if refusal:
        return InputFile(str(path), _sha_of_text(str(path)), -1, refusal)
    if cache is not None:
        try:
            st = st or os.stat(path)
        except OSError:
            return InputFile(str(path), "", -1)
        signature = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        known = cache.get(str(path))
        if known and known[:5] == signature:
            return InputFile(str(path), known[5], st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns)
    return None


def _hash_file(path: str, known: set[str] | None = None, year: bool = True) -> tuple[InputFile, str | None, list | None]:
    """The file read once: its InputFile; its routing year from the same bytes, as `sniff_year` reads
    them (with `year`, and unless its hash is in `known`; else None); its HashCache entry (None unless
    hashed whole)."""
    h = hashlib.sha256()
    size, parts = 0, []
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                if year:
                    parts.append(chunk)
                if size > MAX_BYTES:
                    break
    except OSError:
        return InputFile(path, "", -1), None, None
    sha = h.hexdigest()
    whole = size == st.st_size  # hashed whole; a change since shows in ctime
    entry = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, sha] if whole else None
    routed = None
    if year and (known is None or sha not in known):
        routed = _year_of(b"".join(parts), path) if stat.S_ISREG(st.st_mode) else UNKNOWN_YEAR
    # ctime only for a file hashed whole: a worker must not take a cut-short hash for the file's
    return InputFile(path, sha, size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns if whole else None), \
        routed, entry


class HashCache(dict):
    """path -> [size, mtime_ns, ctime_ns, inode, device, sha256] of files hashed before, kept between runs,
    so a run over a large inbox hashes only files new or changed since (a file's ctime changes with any
    write and cannot be set back). A missing or unreadable file is an empty cache.

    Kept as a JSON object (`path`) and a log of the entries set since it was written (`path` + ".log", a JSON
    array a line): a run that adds ten files appends ten lines instead of rewriting every entry (0.24 s at
    100,000 files, every sensor tick that finds something). The log is folded into the object once it holds
    more than a quarter of the entries. A line cut short by a killed run is skipped: its file is hashed again.
    Entries are set one by one (`cache[path] = entry`), which tells `save` what changed."""

    def __init__(self, path: str | os.PathLike):
        super().__init__()
        self.path = Path(path)
        self.log = self.path.with_name(self.path.name + ".log")
        try:
            super().update(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
        self.logged = 0
        try:
            with open(self.log, encoding="utf-8") as lines:
                for line in lines:
                    try:
                        key, entry = json.loads(line)
                    except ValueError:
                        continue
                    super().__setitem__(key, entry)
                    self.logged += 1
        except OSError:
            pass
        self.dirty: set[str] = set()

    def __setitem__(self, path: str, entry: list) -> None:
        if self.get(path) != entry:
            self.dirty.add(path)
            super().__setitem__(path, entry)

    def save(self) -> None:
        """Record the entries set since the cache was read, if any: appended to the log, or the whole
        cache written anew when the log would outgrow a quarter of it. A run over files all seen before
        leaves both files as they are."""
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if (self.logged + len(self.dirty)) * 4 > len(self):
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
                tmp.write_text(json.dumps(self), encoding="utf-8")
                os.replace(tmp, self.path)  # holds every logged entry: the log can go
                self.log.unlink(missing_ok=True)
                self.logged = 0
            else:
                with open(self.log, "a", encoding="utf-8") as log:
                    log.write("".join(json.dumps([k, self[k]]) + "\n" for k in sorted(self.dirty)))
                self.logged += len(self.dirty)
            self.dirty.clear()
        except OSError:
            pass  # a cache: the next run hashes again


def sniff_year(path: str | os.PathLike) -> str:
    """The fiscal year from the title near the start of a file, without parsing: it routes a file to its
    partition. Cheap and safe for every format (bounded reads; a zip is checked by `pifu.safety` and only
    the head of its strings part inflated); never raises. Files without a readable title go to the
    `unknown` partition and are parsed there: the document's own fiscal year always comes from parsing."""
    try:
        return _sniff_year(Path(path))
    except BaseException as e:  # routing must never stop a run (or a sensor tick), whatever the file is
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return UNKNOWN_YEAR


def _sniff_year(path: Path) -> str:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
        return UNKNOWN_YEAR  # the parse says why; a FIFO is never opened
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
        if head.startswith(b"PK\x03\x04"):  # a container: its title is inside; the whole file is <= MAX_BYTES
            return _container_year(head + f.read(), str(path))
        if _HTML_START.match(head):  # a portal page may print its title past its styles and navigation
            head += f.read(_HTML_HEAD_BYTES - len(head))
    return _year_in_head(head)


def _year_of(data: bytes, path: str) -> str:
    """`sniff_year` of a file read whole (up to just past MAX_BYTES): the same bytes, the same answer."""
    try:
        if len(data) > MAX_BYTES:
            return UNKNOWN_YEAR
        head = data[:_HEAD_BYTES]
        if head.startswith(b"PK\x03\x04"):
            return _container_year(data, path)
        if _HTML_START.match(head):
            head = data[:_HTML_HEAD_BYTES]
        return _year_in_head(head)
    except BaseException as e:  # as sniff_year: routing never stops a run
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return UNKNOWN_YEAR


def _container_year(data: bytes, path: str) -> str:
    safety.check_zip(data, path)  # a bomb or an XXE is refused here too, before any member is inflated
    part = safety.peek_member(data, _TITLE_PARTS, _PEEK_BYTES)
    if not part:
        return UNKNOWN_YEAR
    text = part.decode("utf-8", "ignore")
    # one paragraph or shared string per line, so the title is not glued to the next cell
    text = _XML_TAG.sub("", _XML_BREAK.sub("\n", text))
    return _year_in_text(html.unescape(text))  # writers may store every character as &#NNNN;


def _year_in_head(head: bytes) -> str:
    """`_year_in_text(_decoded(head))`, decoding a UTF-8 head only up to the end of its first title phrase
    when that suffices (decoding the whole 4 KB was a fifth of planning 10,000 new files).

    Why the answer is the same: a prefix cut right after a whole UTF-8 character decodes to the prefix of
    the whole head's text, and the phrase's bytes in the head mean the head is read as UTF-8, not
    GB18030. A match needs a title phrase within 20 characters of its 年 on the same line, and the regex
    ends a match at the first phrase it can reach; so a match found in the prefix is also the leftmost of
    the whole text (any match starting earlier could reach the prefix's last phrase, and would end there).
    An HTML head (tags and entities are rewritten over the whole head), a UTF-16 one, and a prefix with
    no match take the whole decode."""
    end = -1 if head[:2] in _UTF16_BOMS else head.find(_TITLE_UTF8)
    if end >= 0:
        text = head[:end + len(_TITLE_UTF8)].decode("utf-8", errors="ignore")
        if not _is_markup(text):
            year = _year_in_text(text)
            if year != UNKNOWN_YEAR:
                return year
    return _year_in_text(_decoded(head))


def _is_markup(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n").startswith("<")


def _decoded(head: bytes) -> str:
    if head[:2] in _UTF16_BOMS:
        text = head.decode("utf-16", errors="ignore")
    else:
        # Without 绩's bytes the UTF-8 text has no 绩 (a character decoded is its own bytes, and what cannot
        # be decoded is dropped), so it is GB18030: decoding mostly invalid UTF-8 first cost as much again.
        text = head.decode("utf-8", errors="ignore") if _TITLE_WORD_UTF8 in head else ""
        if not _TITLE_WORD in text:
            text = head.decode("gb18030", errors="ignore")
    if _is_markup(text):  # an HTML export: its cells are between tags
        text = html.unescape(_XML_TAG.sub("", _XML_BREAK.sub("\n", _HIDDEN.sub("", text))))
    return text


def _year_in_text(text: str) -> str:
    # Folding only the match, not the whole head: amounts and shares in full-width digits (１００％)
    # are common, and str.translate of 4 KB cost more than the rest of routing a file.
    m = _TITLE_YEAR.search(text)
    return m.group(1).translate(_WIDE_DIGITS) if m else UNKNOWN_YEAR


_WIDE_DIGITS = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})
_HEAD_BYTES = 4096  # the title is on the first lines of a text export
_HTML_HEAD_BYTES = 256 * 1024  # a page's title comes before its form, after whatever the portal puts first
_HTML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<", re.ASCII)
_HIDDEN = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_PEEK_BYTES = 64 * 1024  # the head of a workbook's shared strings (the title is the first string) or a document
_TITLE_PARTS = ("xl/sharedStrings.xml", "xl/worksheets/sheet1.xml", "word/document.xml")
_TITLE_WORD = "绩效目标"
_TITLE_WORD_UTF8 = _TITLE_WORD[0].encode()
_TITLE_UTF8 = "部门整体绩效目标".encode()  # what every title match ends with (_TITLE_YEAR)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_XML_BREAK = re.compile(r"</(?:si|row|w:p|p|tr|div|h\d|title)>|<br\s*/?>", re.IGNORECASE)
_XML_TAG = re.compile(r"<[^>]*>")




def _own_stat(path: str | Path) -> os.stat_result | None:
    """The file's stat from one lstat when it is not a symlink (then lstat and stat agree); None for a
    symlink or an error, which take the full check of `_refusal`. One system call a file, not three."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return None if stat.S_ISLNK(st.st_mode) else st


def _kind_refusal(info: os.stat_result) -> str:
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        return "not_a_regular_file: a pipe, socket or device, not a file: not opened"
    return ""


def _refusal(path: Path, roots: Iterable[Path]) -> str:
    """Why a file found below a source folder must not be opened, or "".

    Symlinks: followed only when they stay inside the source folder they were found in; one pointing
    elsewhere (/etc/passwd, another user's files) is refused unopened. A file named on the command line
    is the user's explicit choice and is followed. Pipes, sockets and devices would block or never end.
    """
    try:
        info = path.stat()
    except OSError:
        return ""  # missing or unreadable: the parse says so (unreadable)
    refusal = _kind_refusal(info)
    if refusal:
        return refusal
    if path.is_symlink():  # os.walk does not descend into symlinked folders, so only the file itself can be one
        target = path.resolve()
        if not any(_inside(target, root.resolve()) for root in _roots_of(path, roots)):
            return "symlink_outside_sources: a symbolic link to a file outside the folder it was found in: not opened"
    return ""


def _roots_of(path: Path, roots: Iterable[Path]) -> list[Path]:
    return [r for r in roots if _inside(path.absolute(), r.absolute())]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def plan(sources: Iterable[str | os.PathLike], known: set[str] | Future, timings: dict | None = None,
         cache: dict | None = None) -> tuple[dict[str, list[InputFile]], dict]:
    """New files by fiscal-year partition, and counts of what was passed over. `timings`: a dict that
    receives the seconds spent finding files ("discover") and fingerprinting and routing them ("hash").
    `cache`: hashes of files seen before (`HashCache`), updated with the files hashed now.
    `known` may be a Future of the set, so that files are found and hashed while the caller is still
    reading what is known: until it is there, every file read is routed too (~4 µs a file); the counts and
    the plan are decided with the set, waited for once every file is read (not counted as "hash")."""
    started = time.perf_counter()
    sources = list(sources)
    roots = [Path(s) for s in sources if Path(s).is_dir()]
    found = _discover(sources)
    listed = time.perf_counter()
    files: list[InputFile | None] = [_known_or_refused(p, roots, cache) for p in found]
    todo = [i for i, f in enumerate(files) if f is None]
    years: dict[int, str] = {}
    for i in todo:  # read once: the hash, and the routing year of a file not known yet
        item, year, entry = _hash_file(found[i], _known_now(known))
        files[i] = item
        if year is not None:
            years[i] = year
        if cache is not None and entry:
            cache[item.path] = entry
    waited = time.perf_counter()
    if isinstance(known, Future):
        known = known.result()
    waited = time.perf_counter() - waited
    by_year: dict[str, list[InputFile]] = {}
    seen: set[str] = set()
    stats = {"found": len(files), "already_seen": 0, "same_content": 0}
    for i, f in enumerate(files):
        if f.sha256 and f.sha256 in known:
            stats["already_seen"] += 1
        elif f.sha256 and f.sha256 in seen:
            stats["same_content"] += 1
        else:
            seen.add(f.sha256)
            year = UNKNOWN_YEAR if f.refused else years[i] if i in years else sniff_year(f.path)
            by_year.setdefault(year, []).append(f)
    if timings is not None:
        timings["discover"] = timings.get("discover", 0.0) + listed - started
        timings["hash"] = timings.get("hash", 0.0) + time.perf_counter() - listed - waited
    return by_year, stats


def _known_now(known: set[str] | Future) -> set[str] | None:
    """The known set, or None (route every file read) while its Future is not done."""
    if not isinstance(known, Future):
        return known
    return known.result() if known.done() else None


# ---- parsing: batches of files in long-lived worker processes, one file never stops the others ----

_GRACE_S = 2.0  # after the in-worker alarm, how long the parent waits before killing a worker stuck in C code
_MAX_START_FAILURES = 3  # workers dying before their first file: the environment is broken, not a file
_HEADROOM = 64 * 1024 * 1024  # the least a worker needs beyond what it maps at start to parse anything
_EX_CONFIG = 78  # sysexits.h: configuration error


@dataclass(frozen=True)
class Limits:
    """Per-worker limits; from PIFU_FILE_TIMEOUT_S and PIFU_WORKER_MEMORY_MB (read in the parent: forkserver
    workers inherit the environment of the server's start, not of this call). The crash/hang hooks exist
    for tests only: a file whose path contains the substring makes its worker die or hang."""

    timeout_s: float = safety.DEFAULT_FILE_TIMEOUT_S
    memory_mb: int = safety.DEFAULT_WORKER_MEMORY_MB
    crash_on: str = ""
    hang_on: str = ""
    hang_in_c_on: str = ""
    dask_die_once: str = ""  # a marker path: the first Dask task kills its Dask worker (and creates it)
    dask_die_on: str = ""  # a Dask task holding a file whose name contains this kills its Dask worker

    @classmethod
    def from_env(cls) -> "Limits":
        env = os.environ.get
        return cls(timeout_s=safety.file_timeout_s(), memory_mb=safety.worker_memory_mb(),
                   crash_on=env("PIFU_TEST_CRASH_ON", ""), hang_on=env("PIFU_TEST_HANG_ON", ""),
                   hang_in_c_on=env("PIFU_TEST_HANG_IN_C_ON", ""))


def _quarantine(item: InputFile, reason: str, message: str, when: datetime) -> dict:
    message = " ".join(message.split())  # one line, whatever a file name or an exception holds
    return {"source_path": item.path, "sha256": item.sha256 or _sha_of_text(item.path), "reason": reason,
            "detail": f"{item.path}: {reason}: {message}", "quarantined_at": when}


def _parse_one(item: InputFile, when: datetime) -> Document | dict:
    """A document, or its quarantine record. Only FileTimeout (the alarm) leaves this function."""
    # The parser is imported by the workers' server (its preload), not by the run's process, which plans
    # and never parses (pifu.layout alone is 20 ms of the run's start).
    from pifu.api import exception_detail, parse

    try:
        doc = parse(item.path, item.hashed())  # the plan's hash, unless the file changed since
    except DocumentError as e:
        return _quarantine(item, e.reason, e.detail, when)
    except MemoryError:
        return _quarantine(item, "too_much_memory", "parsing needed more memory than a worker may use "
                           "(PIFU_WORKER_MEMORY_MB)", when)
    except Exception as e:  # a parser bug must quarantine one file, not stop the run
        return _quarantine(item, "parser_error", exception_detail(e), when)
    unfit = unfit_reason(doc)
    if unfit:
        return _quarantine(item, "unfit", unfit, when)
    return doc


@dataclass(frozen=True)
class Parsed:
    """What a batch of files became: the star-schema tables, quarantine records, and per document a
    line for operators (path, department, fiscal year, funding rows, indicator rows, problem codes)."""

    tables: dict[str, pa.Table]
    quarantined: list[dict]
    documents: list[tuple[str, str, int, int, int, tuple[str, ...]]]
    # Staged by the worker (see `LocalExecutor`): the folder of its tables' Arrow files, with their
    # source_mtime set, and their row counts; `tables` is then empty.
    staged: str = ""
    rows: dict[str, int] = field(default_factory=dict)


def _parse_batch(items: list[InputFile], loaded_at: datetime, limits: Limits, state=None) -> Parsed:
    """In a worker: each file under the alarm; `state` tells the parent which file is being parsed since
    when (so it can blame the right file if this process dies or hangs)."""
    docs, quarantined = [], []
    for i, item in enumerate(items):
        if state is not None:
            state[0], state[1] = i, time.monotonic()
        result = _parse_guarded(item, loaded_at, limits)
        (docs if isinstance(result, Document) else quarantined).append(result)
    if state is not None:
        state[0], state[1] = len(items), time.monotonic()  # normalizing: a death now is the batch's
    lines = [(d.source.path, d.department, d.fiscal_year, len(d.funding), len(d.indicators),
              tuple(f"{p.code} ({p.severity})" for p in d.problems)) for d in docs]
    return Parsed(normalize(docs, loaded_at, checked=True), quarantined, lines)  # _parse_one checked each


def _parse_guarded(item: InputFile, when: datetime, limits: Limits) -> Document | dict:
    if item.refused:
        reason, _, message = item.refused.partition(": ")
        return _quarantine(item, reason, message, when)
    safety.file_alarm(limits.timeout_s)
    try:
        _test_hooks(item.path, limits)
        return _parse_one(item, when)
    except safety.FileTimeout:
        return _quarantine(item, "timeout", f"still parsing after {limits.timeout_s:g} s (PIFU_FILE_TIMEOUT_S)",
                           when)
    finally:
        safety.file_alarm(0)


def _test_hooks(path: str, limits: Limits) -> None:
    """Deterministic stand-ins for a segfault, a Python-level hang and a hang in C code (tests only)."""
    name = os.path.basename(path)
    if limits.crash_on and limits.crash_on in name:
        os.kill(os.getpid(), signal.SIGSEGV)
    if limits.hang_on and limits.hang_on in name:
        while True:
            time.sleep(3600)  # interrupted by the alarm
    if limits.hang_in_c_on and limits.hang_in_c_on in name:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # as if stuck inside a C call
        signal.sigwait({signal.SIGUSR2})


# Allocations (net) between the collector's youngest passes in a worker. A batch keeps its 250 documents
# alive until it is normalized, and at Python's default (700) the collector walks them again and again:
# 7-15% of a worker's CPU on text batches. Cycles are still collected, 20,000 allocations later at most.
WORKER_GC_THRESHOLD = (20_000, 20, 100)


def worker_collector() -> None:
    """The cyclic collector as a parse worker runs it (`pifu.bench` measures parsing the same way)."""
    # What the server imported (the parser, pyarrow, pandas) lives as long as the worker: kept out of the
    # collector's generations, which it would otherwise walk in every full collection (3% of a
    # document's instructions).
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLD)


def _worker_main(conn, state, limits: Limits) -> None:
    """A parse worker: limits first, then batches until told to stop (None) or the parent is gone."""
    worker_collector()
    if limits.memory_mb and safety.mapped_bytes() + _HEADROOM > limits.memory_mb * 1024 * 1024:
        os._exit(_EX_CONFIG)  # a limit below what the worker already maps would quarantine every file
    safety.limit_memory(limits.memory_mb)
    safety.install_alarm()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        items, loaded_at, spill = task
        try:
            part = _parse_batch(items, loaded_at, limits, state)
            conn.send(_staged(part, items, spill) if spill else part)
        except BaseException:  # e.g. MemoryError normalizing: the parent retries the files one by one
            os._exit(70)


def _staged(part: Parsed, items: list[InputFile], spill: str) -> Parsed:
    """In a worker: the batch's tables written as Arrow files under `spill` (a folder of their own), so
    only their name and counts go back through the pipe, not the tables pickled and written again by
    the parent. The parent adopts the folder (`staging.adopt_batch`); one a worker wrote before dying is
    never adopted. If the files cannot be written the tables go back as before, and the parent's write
    reports what the disk says."""
    from pifu import staging

    tables = dict(part.tables)
    tables["fact_document"] = with_source_mtime(tables["fact_document"], {f.path: f.mtime_ns for f in items})
    folder = Path(spill) / uuid.uuid4().hex
    try:
        staging.write(folder, tables)
    except PifuError:
        return part
    return replace(part, tables={}, staged=str(folder), rows={k: v.num_rows for k, v in tables.items()})


def parse_files(items: list[InputFile], workers: int | None = None, batch: int | None = None,
                progress: Callable[[int, int], None] | None = None, limits: Limits | None = None,
                executor: "Executor | None" = None) -> Parsed:
    """Parse and normalize `items`, all at once: the batches of `parse_stream` combined (for small runs
    and tests; a long run consumes `parse_stream` batch by batch instead, so its memory stays bounded)."""
    loaded_at = datetime.now(timezone.utc)
    parts = list(parse_stream(items, workers=workers, batch=batch, progress=progress, limits=limits,
                              executor=executor, loaded_at=loaded_at))
    tables = combine([p.tables for p in parts]) if parts else normalize([], loaded_at)
    return Parsed(tables, [q for p in parts for q in p.quarantined], [d for p in parts for d in p.documents])


def parse_stream(items: list[InputFile], workers: int | None = None, batch: int | None = None,
                 progress: Callable[[int, int], None] | None = None, limits: Limits | None = None,
                 executor: "Executor | None" = None, loaded_at: datetime | None = None) -> Iterator[Parsed]:
    """Each batch of `items` parsed and normalized, yielded as it is done (in completion order): the
    workers hand back Arrow tables, not document objects, so memory stays bounded and pickling cheap.

    `executor` decides where batches run: the local process pool (the default, `LocalExecutor`) or a
    Dask cluster (`DaskExecutor`, see `executor_from`). Either way every file ends up in exactly one
    batch's documents or quarantine records, whatever dies on the way.
    """
    limits = limits or Limits.from_env()
    batch = batch or int(os.environ.get("PIFU_PARSE_BATCH") or 0) or 250
    executor = executor or LocalExecutor(workers)
    loaded_at = loaded_at or datetime.now(timezone.utc)
    batches = [items[i:i + batch] for i in range(0, len(items), batch)]
    done = 0
    for part in executor.run(batches, loaded_at, limits):
        done += len(part.documents) + len(part.quarantined)
        if progress:
            progress(done, len(items))
        yield part


class Executor:
    """Where parse batches run. `run` yields one Parsed per batch (or per piece of a batch it had to
    split), as each completes; every file of every batch is in exactly one of them."""

    def run(self, batches: list[list[InputFile]], loaded_at: datetime, limits: Limits) -> Iterator[Parsed]:
        raise NotImplementedError


class LocalExecutor(Executor):
    """Long-lived forkserver worker processes on this machine (no process per file). Isolation: a file
    that raises, times out or runs out of memory is quarantined by its worker; a worker that dies or
    hangs is replaced by the parent, the file it was on quarantined (`worker_crashed`, `timeout`) and the
    rest of its batch parsed again. Even one batch runs in a child process, so the same limits hold for a
    one-file run (and a crash never takes the caller, e.g. the Dagster step, down)."""

    def __init__(self, workers: int | None = None, spill: str | os.PathLike | None = None):
        """`spill`: a folder where workers stage each batch's tables themselves (`Parsed.staged`)."""
        self.workers = workers or int(os.environ.get("PIFU_WORKERS") or 0) or os.cpu_count() or 1
        self.spill = str(spill) if spill else ""

    def run(self, batches: list[list[InputFile]], loaded_at: datetime, limits: Limits) -> Iterator[Parsed]:
        if not batches:
            return
        lost: list[dict] = []  # files whose worker died or hung on them
        with _Pool(min(self.workers, len(batches)), limits, loaded_at, self.spill) as pool:
            for part in pool.run(deque(batches), lost):
                if lost:
                    part, lost = _with_lost(part, lost), []
                yield part
        if lost:
            yield _with_lost(Parsed(normalize([], loaded_at), [], []), lost)


def _with_lost(part: Parsed, lost: list[dict]) -> Parsed:
    return replace(part, quarantined=part.quarantined + lost)


class DaskExecutor(Executor):
    """Batches as tasks on a Dask cluster (`--dask tcp://scheduler:8786` or PIFU_DASK_SCHEDULER).

    Each task runs its batch through a one-worker `LocalExecutor` inside the Dask worker, so the per-file
    isolation (memory limit, alarm, a crash or hang costing one file) is the same as on one machine.
    A Dask worker that dies mid-task is the scheduler's to handle: it reruns the task elsewhere (up to
    `distributed.scheduler.allowed-failures`); a batch that still fails is split into single files and,
    if one file alone keeps failing, that file is quarantined (`worker_crashed`). At most `in_flight`
    batches are out at once, and results are yielded as they complete, so memory stays bounded here too.
    """

    def __init__(self, address: str | None = None, client=None, in_flight: int | None = None):
        self.address, self.client, self.in_flight = address, client, in_flight

    def run(self, batches: list[list[InputFile]], loaded_at: datetime, limits: Limits) -> Iterator[Parsed]:
        from distributed import Client, as_completed

        client = self.client or Client(self.address, set_as_default=False)
        try:
            in_flight = self.in_flight or max(2, 2 * sum(w.get("nthreads", 1) for w in
                                                         client.scheduler_info()["workers"].values()))
            todo = deque(batches)
            pending = as_completed()
            owner: dict = {}

            def submit() -> None:
                while todo and len(owner) < in_flight:
                    items = todo.popleft()
                    future = client.submit(_dask_parse_batch, items, loaded_at, limits, pure=False,
                                           key=f"pifu-parse-{uuid.uuid4().hex}")
                    owner[future] = items
                    pending.add(future)

            submit()
            while owner:
                future = next(pending)
                items = owner.pop(future)
                try:
                    part = future.result()
                except Exception as e:  # noqa: BLE001  KilledWorker, a lost connection: not a file's fault yet
                    future.release()
                    if len(items) > 1:
                        todo.extendleft([f] for f in reversed(items))
                    else:
                        yield Parsed(normalize([], loaded_at), [_quarantine(
                            items[0], "worker_crashed", f"the Dask worker parsing it died every time "
                            f"({type(e).__name__}: {e})", loaded_at)], [])
                    submit()
                    continue
                future.release()
                submit()
                yield part
        finally:
            if self.client is None:
                client.close()


def _dask_parse_batch(items: list[InputFile], loaded_at: datetime, limits: Limits) -> Parsed:
    """In a Dask worker: the batch through a one-worker local pool (full isolation)."""
    import multiprocessing as mp

    me = mp.current_process()
    if me.daemon:  # Dask runs its workers as daemons, and daemons may not start processes: ours are
        me._config["daemon"] = False  # waited for or killed by the pool itself, never orphaned
    if limits.dask_die_once and not os.path.exists(limits.dask_die_once):  # tests only
        open(limits.dask_die_once, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    if limits.dask_die_on and any(limits.dask_die_on in os.path.basename(f.path) for f in items):
        os.kill(os.getpid(), signal.SIGKILL)
    parts = list(LocalExecutor(1).run([items], loaded_at, limits))
    tables = combine([p.tables for p in parts]) if len(parts) > 1 else parts[0].tables
    return Parsed(tables, [q for p in parts for q in p.quarantined], [d for p in parts for d in p.documents])


def executor_from(dask: str | None = None, workers: int | None = None,
                  spill: str | os.PathLike | None = None) -> Executor:
    """`--dask ADDRESS` or PIFU_DASK_SCHEDULER: a DaskExecutor; else the local pool (its workers stage
    their tables under `spill` when given; Dask workers may be on other machines and hand them back)."""
    address = dask or os.environ.get("PIFU_DASK_SCHEDULER")
    return DaskExecutor(address) if address else LocalExecutor(workers, spill)


class _Worker:
    def __init__(self, ctx, limits: Limits):
        self.conn, child = ctx.Pipe()
        self.state = ctx.RawArray("d", [-1.0, 0.0])  # file index in the batch, monotonic start time
        self.process = ctx.Process(target=_worker_main, args=(child, self.state, limits), daemon=True,
                                   name="pifu-parse")
        self.process.start()
        child.close()
        self.batch: list[InputFile] | None = None

    def give(self, batch: list[InputFile], loaded_at: datetime, spill: str = "") -> None:
        self.batch = batch
        self.state[0], self.state[1] = -1.0, time.monotonic()
        self.conn.send((batch, loaded_at, spill))

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class _Pool:
    """A few workers and a watchdog; `run` yields each batch's Parsed as it arrives."""

    def __init__(self, size: int, limits: Limits, loaded_at: datetime, spill: str = ""):
        self.ctx, self.size, self.limits, self.loaded_at = _pool_context(), size, limits, loaded_at
        self.spill = spill
        self.workers: list[_Worker] = []
        self._start_failures = 0

    def __enter__(self) -> "_Pool":
        return self

    def __exit__(self, *exc) -> None:
        for w in self.workers:
            if w.batch is not None:  # interrupted mid-batch: do not wait for it
                w.process.kill()
            w.stop()

    def run(self, batches: deque, lost: list[dict]) -> Iterable[Parsed]:
        while batches or any(w.batch is not None for w in self.workers):
            self._feed(batches)
            busy = [w for w in self.workers if w.batch is not None]
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=self._poll()))
            for w in busy:
                if w.conn in ready or w.process.sentinel in ready:
                    part = self._collect(w, batches, lost)
                    # The worker's next batch before the caller gets this one: whatever the caller does
                    # with it (staging it: tens of ms a batch) would otherwise leave the worker idle.
                    self._feed(batches)
                    if part is not None:
                        yield part
                elif self._overdue(w):
                    self._fail(w, batches, lost, "timeout", f"still parsing after {self.limits.timeout_s:g} s "
                               "(PIFU_FILE_TIMEOUT_S); its worker was stopped")

    def _feed(self, batches: deque) -> None:
        self.workers = [w for w in self.workers if w.process.is_alive() or w.batch is not None]
        while batches and len(self.workers) < self.size:
            self.workers.append(_Worker(self.ctx, self.limits))
        for w in list(self.workers):
            if batches and w.batch is None:
                batch = batches.popleft()
                try:
                    w.give(batch, self.loaded_at, self.spill)
                except OSError:  # it died while idle: the batch waits for a fresh worker
                    w.batch = None
                    batches.appendleft(batch)
                    self.workers.remove(w)

    def _poll(self) -> float:
        return max(0.05, min(1.0, self.limits.timeout_s / 4))

    def _collect(self, w: _Worker, batches: deque, lost: list[dict]) -> Parsed | None:
        try:
            part = w.conn.recv()
        except (EOFError, OSError):  # the worker died (segfault, os._exit, the OOM killer)
            w.process.join(5)
            self._fail(w, batches, lost, "worker_crashed", f"the parse worker died ({_exit_text(w.process)})")
            return None
        w.batch = None
        return part

    def _overdue(self, w: _Worker) -> bool:
        started = w.state[1]
        return w.state[0] >= 0 and time.monotonic() - started > self.limits.timeout_s + _GRACE_S

    def _fail(self, w: _Worker, batches: deque, lost: list[dict], reason: str, message: str) -> None:
        """Blame the file the worker was on; parse the rest of its batch again in a fresh worker."""
        batch, at = w.batch or [], int(w.state[0])
        if w.process.is_alive():
            w.process.kill()
            w.process.join()
        w.conn.close()
        w.batch = None
        self.workers.remove(w)
        if at < 0:  # died before its first file: no file's fault (a broken environment, a limit too low)
            self._start_failures += 1
            if self._start_failures > _MAX_START_FAILURES:
                hint = (" (PIFU_WORKER_MEMORY_MB is below what a worker maps at start)"
                        if w.process.exitcode == _EX_CONFIG else "")
                raise PifuError("parse workers", f"cannot start: {message}{hint}", "worker_start_failed")
            batches.appendleft(batch)
        elif at < len(batch):
            lost.append(_quarantine(batch[at], reason, message, self.loaded_at))
            rest = batch[:at] + batch[at + 1:]
            if rest:
                batches.appendleft(rest)
        elif len(batch) > 1:  # died normalizing the batch: find the file by parsing them one by one
            batches.extendleft([f] for f in reversed(batch))
        else:
            lost.append(_quarantine(batch[0], reason, message, self.loaded_at))


def _exit_text(process) -> str:
    code = process.exitcode
    if code is None:
        return "no exit status"
    if code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (" — out of memory?" if name == "SIGKILL" else "")
    return f"exit status {code}"


def start_workers_early() -> None:
    """Start the workers' fork server now: it imports the parser (pifu.ingest and what it needs, ~0.5 s)
    while the caller goes on (planning, Dagster's run creation), instead of when the first batch waits
    for it. Best effort: the pool starts it anyway when it is not running."""
    try:
        import multiprocessing.forkserver as forkserver

        _pool_context()
        forkserver.ensure_running()
    except Exception:  # noqa: BLE001 (the pool starts it again and reports what is wrong)
        pass


def _pool_context():
    # Workers forked from a clean server process: not from the caller, whose threads and signal handlers
    # (Dagster's interrupt handling) a plain fork would copy.
    # pandas: pyarrow imports it the first time it builds an array from a list (normalize does), ~0.2 s;
    # once in the server, not once in every worker.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["pifu.ingest", "pifu.api", "pifu.normalize", "pandas"])
    return ctx


def _sha_of_text(path: str) -> str:
    # An unreadable file has no content hash; key its quarantine row by its path instead.
    return "path:" + hashlib.sha256(path.encode()).hexdigest()
