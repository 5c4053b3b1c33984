"""The parse pool's hand-off (workers stage their own batches; the next batch goes out before the caller
takes the last one) and routing by the title's year."""
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from pifu import ingest, staging
from pifu.generate import generate
from pifu.normalize import with_source_mtime


def _inputs(paths):
    by_year, _ = ingest.plan([str(p) for p in paths], set())
    return sorted((f for files in by_year.values() for f in files), key=lambda f: f.path)


def test_workers_stage_their_batches_and_the_run_adopts_the_same_tables(tmp_path):
    paths = generate(5, tmp_path / "box", seed=21, errors=0.5)
    (tmp_path / "box" / "empty.txt").write_bytes(b"")
    files = _inputs([*paths, tmp_path / "box" / "empty.txt"])
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    returned = list(ingest.parse_stream(files, batch=2, loaded_at=when, executor=ingest.LocalExecutor(1)))
    stage = tmp_path / "stage"
    spilled = list(ingest.parse_stream(files, batch=2, loaded_at=when,
                                       executor=ingest.LocalExecutor(1, spill=stage / staging.SPILL)))

    assert all(p.staged and not p.tables for p in spilled)
    assert sum(len(p.quarantined) for p in spilled) == 1  # the empty file, sent back as a record
    for number, part in enumerate(spilled, 1):
        staging.adopt_batch(stage, number, part.staged, {})
    assert not list((stage / staging.SPILL).iterdir())  # every folder a worker wrote was adopted
    mtimes = {f.path: f.mtime_ns for f in files}
    for name in ("fact_document", "fact_funding", "fact_indicator_value", "fact_problem", "dim_indicator"):
        parts = [p.tables[name] for p in returned]
        if name == "fact_document":
            parts = [with_source_mtime(t, mtimes) for t in parts]
        expected = sorted(map(repr, [r for t in parts for r in t.to_pylist()]))
        staged = staging.read(stage, [name])[name]
        assert sorted(map(repr, staged.to_pylist())) == expected, name
        assert staged.num_rows == sum(p.rows[name] for p in spilled)


def test_a_worker_gets_its_next_batch_before_the_caller_has_the_last_one(tmp_path, monkeypatch):
    files = _inputs(generate(3, tmp_path / "box", seed=22))
    given = []
    real_give = ingest._Worker.give

    def give(self, batch, loaded_at, spill=""):
        given.append(len(batch))
        real_give(self, batch, loaded_at, spill)

    monkeypatch.setattr(ingest._Worker, "give", give)
    seen = []
    for part in ingest.parse_stream(files, batch=1, executor=ingest.LocalExecutor(1)):
        seen.append(len(given))  # batches handed out when the caller received this one
    assert seen == [2, 3, 3]


def test_the_title_year_is_found_in_full_width_digits_beside_full_width_amounts(tmp_path):
    texts = {
        "wide.txt": "２０２４年部门整体绩效目标批复\n部门（单位）名称\t某局\n合计\t１００％\n",
        "mixed.txt": "２0２3年度部门整体绩效目标批复\n",
        "ascii.txt": "2022年部门整体绩效目标批复\n财政拨款\t１５１８９．１２\t１００％\n",
        "none.txt": "１００％ 部门整体绩效目标批复\n",
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    years = {name: ingest.sniff_year(tmp_path / name) for name in texts}
    assert years == {"wide.txt": "2024", "mixed.txt": "2023", "ascii.txt": "2022", "none.txt": ingest.UNKNOWN_YEAR}


def _whole_text_year(head: bytes) -> str:
    """The routing rule as first written: the whole head decoded (UTF-16 by its BOM, else UTF-8, else
    GB18030 when the UTF-8 text has no 绩效目标), an HTML head's tags made breaks, then the title's year."""
    import html
    import re

    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = head.decode("utf-16", errors="ignore")
    else:
        text = head.decode("utf-8", errors="ignore")
        if "绩效目标" not in text:
            text = head.decode("gb18030", errors="ignore")
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        breaks = re.compile(r"</(?:si|row|w:p|p|tr|div|h\d|title)>|<br\s*/?>", re.IGNORECASE)
        hidden = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
        text = html.unescape(re.sub(r"<[^>]*>", "", breaks.sub("\n", hidden.sub("", text))))
    return ingest._year_in_text(text)


def test_a_head_is_routed_from_its_first_title_as_from_its_whole_text():
    """The year read from the text up to a UTF-8 head's first title phrase, or from GB18030 without a
    UTF-8 decode first, is the year of the whole head's text, whatever precedes, follows or breaks the
    phrase."""
    import random

    title = "部门整体绩效目标"
    pieces = [title, title[:4], title[4:], "2024", "２０２３", "20٢٤", "1999", "2025年", "年", "年度", "度",
              " ", "\u3000", "\n", "\t", "批复", "某局", "说明", "x" * 15, "<p>", "</p>", "<br>", "&#24180;", "<",
              "１００％", "\ufeff"]
    raw = [b"\xff", b"\xe4\xb8", b"\xe5", b"\x80", "绩".encode(), "2021年部门整体绩效目标".encode("gb18030"),
           "绩效目标".encode("gb18030"), "年".encode("gb18030"), "<script>2020年</script>".encode()]
    cases = [
        "2024年度某局部门整体绩效目标批复\n".encode(),
        "\ufeff2022年部门整体绩效目标批复".encode(),
        "部门整体绩效目标说明\n2023年部门整体绩效目标批复".encode(),  # the first phrase has no year
        ("2021年" + "x" * 21 + "部门整体绩效目标 2026年部门整体绩效目标").encode(),  # the first is too far
        "2021年\n部门整体绩效目标 2020年部门整体绩效目标".encode(),
        "2024年部门整体".encode() + b"\xff" + "绩效目标".encode(),  # the phrase joined once decoded
        "2021年部门".encode() + b"\xff" + "整体绩效目标 2022年部门整体绩效目标".encode(),
        "<p>2024年</p><p>部门整体绩效目标</p>".encode(),  # HTML: tags become breaks
        "  <div>2024年度</div>部门整体绩效目标".encode(),
        "2023年部门整体绩效目标".encode("gb18030"),
        "2023年部门整体绩效目标".encode("utf-16"),
        "2024\u3000年部门整体绩效目标".encode(),
        ("注：\n" * 1400 + "2021年部门整体绩效目标").encode()[:4096],  # cut inside the phrase
        b"\xff\xfe" + "2024年部门整体绩效目标".encode(),  # a UTF-16 BOM: read as UTF-16, whatever follows
    ]
    rng = random.Random(12)
    for _ in range(4000):
        parts = [rng.choice(raw) if rng.random() < 0.15 else rng.choice(pieces).encode() for _ in range(rng.randint(1, 14))]
        cases.append(b"".join(parts))
    for head in cases:
        assert ingest._year_in_head(head) == _whole_text_year(head), head
    years = [ingest._year_in_head(h) for h in cases[:14]]
    assert years == ["2024", "2022", "2023", "2026", "2020", "2024", "2021", "unknown", "unknown", "2023", "2023",
                     "2024", "unknown", "unknown"]


def test_a_batch_adopted_again_replaces_the_one_a_first_attempt_staged(tmp_path):
    import pyarrow as pa

    stage = tmp_path / "stage"
    for rows in (3, 1):  # a re-executed step stages batch 1 again
        folder = stage / staging.SPILL / f"w{rows}"
        staging.write(folder, {"dim_department": pa.table({"department_id": [str(i) for i in range(rows)]})})
        staging.adopt_batch(stage, 1, folder, {})
    assert staging.read(stage, ["dim_department"])["dim_department"].num_rows == 1


def _every_kind_of_input(box):
    """A folder of every format, a copy (same content), an empty file, a file past MAX_BYTES, a file
    without a title, a symlink inside the folder and one leaving it."""
    import os

    paths = []
    for i, fmt in enumerate(("text", "xlsx", "xls", "docx", "html")):
        paths += generate(2, box / fmt, seed=40 + i, fmt=fmt, errors=0.5)
    (box / "copy.txt").write_bytes(paths[0].read_bytes())
    (box / "empty.txt").write_bytes(b"")
    (box / "untitled.txt").write_text("财政拨款\t100\n", encoding="utf-8")
    title = "2021年部门整体绩效目标批复\n"
    (box / "late.txt").write_text("注：\n" * 500 + title, encoding="utf-8")  # the title ~3 KB in
    (box / "gbk.txt").write_text(title, encoding="gb18030")
    (box / "wide.txt").write_text(title, encoding="utf-16")
    with open(box / "huge.txt", "wb") as f:
        f.truncate(ingest.MAX_BYTES + 10)
    os.symlink(paths[1], box / "inside.txt")
    os.symlink("/etc/hostname", box / "outside.txt")


def test_planning_reads_each_file_once_and_routes_it_as_sniff_year_does(tmp_path):
    """Hashing and routing from one read: every file in the partition sniff_year gives it, the hashes and
    the cache as fingerprint gives them, and a second plan from the cache the same."""
    box = tmp_path / "box"
    _every_kind_of_input(box)
    cache = {}
    by_year, stats = ingest.plan([str(box)], set(), cache=cache)
    again = ingest.plan([str(box)], set(), cache=dict(cache))
    assert again == (by_year, stats)
    for files in by_year.values():
        for f in files:
            assert f == ingest.fingerprint(f.path, [box]), f.path
    assert stats == {"found": 19, "already_seen": 0, "same_content": 2}  # the copy and the symlink inside
    routed = {f.path: year for year, files in by_year.items() for f in files}
    assert len(routed) == 17 and len(set(by_year) - {ingest.UNKNOWN_YEAR}) >= 2
    for path, year in routed.items():
        expected = ingest.UNKNOWN_YEAR if path.endswith("outside.txt") else ingest.sniff_year(path)
        assert year == expected, path
    assert routed[str(box / "untitled.txt")] == routed[str(box / "huge.txt")] == ingest.UNKNOWN_YEAR
    assert {routed[str(box / n)] for n in ("late.txt", "gbk.txt", "wide.txt")} == {"2021"}
    refused = {f.path for files in by_year.values() for f in files if f.refused}
    assert refused == {str(box / "outside.txt")}


def test_files_already_known_are_hashed_but_not_routed(tmp_path, monkeypatch):
    box = tmp_path / "box"
    paths = generate(3, box, seed=48)
    sha = ingest.fingerprint(paths[0]).sha256
    routed = []
    real = ingest._year_of
    monkeypatch.setattr(ingest, "_year_of", lambda data, path: routed.append(path) or real(data, path))
    by_year, stats = ingest.plan([str(box)], {sha})
    assert stats["already_seen"] == 1 and sorted(routed) == sorted(map(str, paths[1:]))


def test_a_plan_reads_the_files_before_the_known_set_is_there_and_decides_with_it(tmp_path, monkeypatch):
    """`known` as a Future: the files are found and hashed at once (routed too, as what is known is not
    there yet), and the plan waits for the set to decide; the same plan as with the set itself."""
    import threading
    from concurrent.futures import Future, ThreadPoolExecutor

    import pytest

    box = tmp_path / "box"
    _every_kind_of_input(box)
    known_sha = ingest.fingerprint(sorted((box / "text").glob("*.txt"))[0]).sha256
    expected = ingest.plan([str(box)], {known_sha}, cache={})
    known, cache, hashed = Future(), {}, threading.Event()
    real = ingest._hash_file
    monkeypatch.setattr(ingest, "_hash_file", lambda *a, **k: hashed.set() or real(*a, **k))
    with ThreadPoolExecutor(1) as planner:
        planning = planner.submit(ingest.plan, [str(box)], known, cache=cache)
        try:
            early = hashed.wait(60)  # reading files before the known set is there
        finally:
            known.set_result({known_sha})
        assert early and planning.result() == expected
    fresh: dict = {}
    ingest.plan([str(box)], set(), cache=fresh)
    assert cache == fresh and cache  # every file hashed and cached as without a Future

    failed = Future()
    failed.set_exception(LookupError("warehouse"))
    with pytest.raises(LookupError):
        ingest.plan([str(box)], failed)


def test_a_parse_worker_collects_cycles_less_often_but_still_collects_them():
    # In a process of its own: a worker's collector settings must not leak into the test run's.
    code = """
import gc, weakref
from pifu.ingest import WORKER_GC_THRESHOLD, worker_collector
worker_collector()
assert gc.get_threshold() == WORKER_GC_THRESHOLD, gc.get_threshold()
assert gc.get_freeze_count() > 1000  # what the imports made is out of the collector's way
class Node: pass
gc.collect()  # the count starts from nothing
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
keep = [[] for _ in range(WORKER_GC_THRESHOLD[0] - 100)]  # fewer allocations than the threshold
assert gone() is not None
keep += [[] for _ in range(WORKER_GC_THRESHOLD[0] * 2)]  # past it: the young cycle is collected
assert gone() is None
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_a_worker_takes_the_plans_hash_only_for_the_file_the_plan_hashed(tmp_path):
    """Each file hashed once: the worker's document carries the plan's sha256 without hashing again, but a
    file rewritten since the plan (another mtime, another size) is hashed as read."""
    import dataclasses
    import hashlib
    import os

    paths = generate(3, tmp_path / "box", seed=49)
    items = {f.path: f for f in _inputs(paths)}
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    kept, touched, grown = (items[str(p)] for p in paths)
    assert all(f.hashed() for f in items.values())

    # a stand-in hash proves the plan's is the one taken: computing it again would give the real one
    stand_in = "f" * 64
    doc = ingest._parse_one(dataclasses.replace(kept, sha256=stand_in), when)
    assert doc.source.sha256 == stand_in

    # same size, other bytes, the mtime moved on: the content's own hash
    data = bytearray(Path(touched.path).read_bytes())
    data[-1:] = b"\n" if data[-1:] != b"\n" else b" "
    Path(touched.path).write_bytes(bytes(data))
    os.utime(touched.path, ns=(touched.mtime_ns + 10**9, touched.mtime_ns + 10**9))
    doc = ingest._parse_one(dataclasses.replace(touched, sha256=stand_in), when)
    assert doc.source.sha256 == hashlib.sha256(bytes(data)).hexdigest()

    # another size, the old mtime put back (as `cp -p` or rsync -t leave it): hashed again
    Path(grown.path).write_bytes(Path(grown.path).read_bytes() + b"\n")
    os.utime(grown.path, ns=(grown.mtime_ns, grown.mtime_ns))
    doc = ingest._parse_one(dataclasses.replace(grown, sha256=stand_in), when)
    assert doc.source.sha256 == hashlib.sha256(Path(grown.path).read_bytes()).hexdigest()

    # no signature (a hash cut short at the size limit has no ctime): hashed as read
    doc = ingest._parse_one(dataclasses.replace(kept, sha256=stand_in, ctime_ns=None), when)
    assert doc.source.sha256 == hashlib.sha256(Path(kept.path).read_bytes()).hexdigest()


def test_files_are_found_in_the_order_sorting_their_paths_gives(tmp_path):
    """Names with characters that sort before "/" ("-", ".", " ") between a folder and its longer namesakes:
    the order Path objects sort in, part by part, not the paths' text."""
    names = ["a/b.txt", "a-b/c.txt", "a b.txt", "a.txt", "ab/a.txt", "a/b/c.txt", "a/-.txt", "中/x.txt", ".hidden.txt"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    outside = tmp_path / "a-b" / "c.txt"  # also named on its own: found once
    found = ingest.discover([tmp_path, outside])
    expected = sorted(tmp_path / n for n in names if not n.startswith("."))
    assert found == expected
    assert [p.relative_to(tmp_path).as_posix() for p in found][:3] == ["a/-.txt", "a/b/c.txt", "a/b.txt"]
