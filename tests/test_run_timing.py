"""Issue 12: a run accounts for its time by stage, hashes each file once, and does not import GX or the
parser."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys

from pifu import ingest
from pifu.generate import generate

STAGES = ("discover", "hash", "parse", "normalize", "expectations", "lake", "warehouse")


def test_a_cli_run_reports_its_stages_plans_once_and_never_imports_gx(tmp_path):
    generate(4, tmp_path / "in", seed=12, errors=0.5)
    env = {"PIFU_DATA_DIR": tmp_path / "data", "DAGSTER_HOME": tmp_path / "dagster", "PIFU_LAKE_DIR": tmp_path / "lake",
           "PIFU_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}", "PIFU_WORKERS": "1", "PIFU_DATA_DOCS": "off"}
    code = (
        "import io, sys\n"
        "from pipelines.run import run_pipeline\n"
        "import pipelines.summary as s\n"
        "seen = []\n"
        "real = s.summarize\n"
        "s.summarize = lambda result, *a: seen.append(result) or real(result, *a)\n"
        "out = io.StringIO()\n"
        f"status = run_pipeline([{str(tmp_path / 'in')!r}], out=out)\n"
        "print(out.getvalue())\n"
        "r = seen[0]\n"
        "meta = {e.materialization.asset_key.to_user_string(): e.materialization.metadata\n"
        "        for e in r.get_asset_materialization_events()}\n"
        "print('PLANNED_BY', meta['raw_files']['planned_by'].value)\n"
        "print('STAGE_SECONDS', sorted(meta['warehouse_tables']['stage_seconds'].value))\n"
        "print('TAGS', sorted(k for k in r.dagster_run.tags if k.startswith('pifu/seconds/')))\n"
        "from dagster import DagsterInstance\n"
        "with DagsterInstance.get() as i:\n"
        "    print('RUN_TAGS', sorted(k for k in i.get_run_by_id(r.run_id).tags if k.startswith('pifu/seconds/')))\n"
        "print('GX', 'great_expectations' in sys.modules)\n"
        "print('PARSER', 'pifu.layout' in sys.modules)\n"
        "sys.exit(status)\n")
    import os

    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **{k: str(v) for k, v in env.items()}})
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    line = re.search(r"^stages \(s\): (.*)$", out, re.M).group(1)
    assert [w for w in line.split() if w in STAGES] == list(STAGES) and "from process start" in line
    assert "PLANNED_BY pifu run" in out  # raw_files took pifu run's plan: the files were hashed once
    assert f"STAGE_SECONDS {sorted(STAGES)}" in out
    assert "RUN_TAGS " + str(sorted(f"pifu/seconds/{s}" for s in STAGES)) in out
    assert "GX False" in out
    assert "PARSER False" in out  # the workers parse: the run's process never imports the parser
    assert not list((tmp_path / "data" / "staging" / "plans").glob("plan-*.json"))  # taken and removed


def test_the_hash_cache_reads_only_new_or_changed_files(tmp_path):
    paths = generate(3, tmp_path / "in", seed=3)
    cache = ingest.HashCache(tmp_path / "sha.json")
    first, _ = ingest.plan([tmp_path / "in"], set(), cache=cache)
    cache.save()
    assert len(ingest.HashCache(tmp_path / "sha.json")) == 3
    shas = {f.path: f.sha256 for files in first.values() for f in files}
    # the same size and mtime but new content: the ctime shows it
    target = paths[0]
    data = target.read_bytes()
    st = target.stat()
    changed = data.replace(b"2", b"3", 1)
    assert len(changed) == len(data) and changed != data
    target.write_bytes(changed)
    import os

    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = ingest.HashCache(tmp_path / "sha.json")
    second, _ = ingest.plan([tmp_path / "in"], set(), cache=again)
    now = {f.path: f.sha256 for files in second.values() for f in files}
    assert now[str(target)] != shas[str(target)]
    assert {k: v for k, v in now.items() if k != str(target)} == {k: v for k, v in shas.items() if k != str(target)}
    import hashlib

    assert now[str(target)] == hashlib.sha256(changed).hexdigest()


def test_the_hash_cache_is_written_only_when_an_entry_changed(tmp_path):
    paths = generate(3, tmp_path / "in", seed=4)
    where = tmp_path / "sha.json"
    cache = ingest.HashCache(where)
    ingest.plan([tmp_path / "in"], set(), cache=cache)
    cache.save()
    written = where.stat().st_mtime_ns, where.stat().st_ino

    unchanged = ingest.HashCache(where)
    ingest.plan([tmp_path / "in"], set(), cache=unchanged)  # every file as the cache has it
    unchanged.save()
    assert (where.stat().st_mtime_ns, where.stat().st_ino) == written  # not rewritten (a rewrite is a new inode)

    paths[1].write_bytes(paths[1].read_bytes() + b"\n")  # an entry changes: the file is written with it
    changed = ingest.HashCache(where)
    ingest.plan([tmp_path / "in"], set(), cache=changed)
    changed.save()
    assert (where.stat().st_mtime_ns, where.stat().st_ino) != written
    assert ingest.HashCache(where)[str(paths[1])] == changed[str(paths[1])]
    assert changed[str(paths[1])][5] == ingest.fingerprint(paths[1]).sha256

    (tmp_path / "in" / "new.txt").write_bytes(paths[0].read_bytes() + b" ")  # a new file: written too
    added = ingest.HashCache(where)
    ingest.plan([tmp_path / "in"], set(), cache=added)
    added.save()
    assert str(tmp_path / "in" / "new.txt") in ingest.HashCache(where)


def test_the_hash_cache_appends_what_a_run_adds_and_folds_it_in_later(tmp_path):
    paths = generate(12, tmp_path / "in", seed=5)
    where = tmp_path / "sha.json"
    log = tmp_path / "sha.json.log"
    first = ingest.HashCache(where)
    ingest.plan([tmp_path / "in"], set(), cache=first)
    first.save()
    base = where.read_bytes()
    assert not log.exists()

    (tmp_path / "in" / "new-0.txt").write_bytes(paths[0].read_bytes() + b" ")
    added = ingest.HashCache(where)
    ingest.plan([tmp_path / "in"], set(), cache=added)
    added.save()
    assert where.read_bytes() == base  # a new file does not rewrite every entry
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1
    new = str(tmp_path / "in" / "new-0.txt")
    assert ingest.HashCache(where) == added == {**first, new: added[new]}

    with open(log, "a", encoding="utf-8") as f:  # a line cut short by a killed run: skipped, the rest kept
        f.write('["/elsewhere/x.txt", [1, 2')
    assert ingest.HashCache(where) == added

    cache, runs = added, 0
    while log.exists():  # each run adds a file: the log is folded in once it outgrows a quarter of the cache
        runs += 1
        assert runs <= 6
        (tmp_path / "in" / f"new-{runs}.txt").write_bytes(paths[0].read_bytes() + b" " * (runs + 1))
        cache = ingest.HashCache(where)
        ingest.plan([tmp_path / "in"], set(), cache=cache)
        cache.save()
    assert where.read_bytes() != base
    assert json.loads(where.read_text(encoding="utf-8")) == ingest.HashCache(where) == cache
    assert len(cache) == 12 + 1 + runs


def _run_patched(tmp_path, patches: str) -> str:
    """The stdout of `run_pipeline` over two generated files in a fresh process, `patches` (Python
    source) run first: they stop the run where they have seen what they test."""
    import os

    generate(2, tmp_path / "in", seed=5)
    env = {"PIFU_DATA_DIR": tmp_path / "data", "DAGSTER_HOME": tmp_path / "dagster", "PIFU_LAKE_DIR": tmp_path / "lake",
           "PIFU_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}", "PIFU_WORKERS": "1", "PIFU_DATA_DOCS": "off"}
    code = ("import io, sys\n" + patches + "from pipelines.run import run_pipeline\n"
            f"run_pipeline([{str(tmp_path / 'in')!r}], out=io.StringIO())\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, **{k: str(v) for k, v in env.items()}})
    return p.stdout + p.stderr


def test_a_cli_run_checks_and_reads_the_warehouse_through_one_engine_before_its_job(tmp_path):
    out = _run_patched(tmp_path, (
        "import warehouse.engine as we\n"
        "made = []\n"
        "real = we.make_engine\n"
        "we.make_engine = lambda url=None: made.append(str(url)) or real(url)\n"
        "from dagster import JobDefinition\n"
        "def stop(*a, **k):\n"
        "    print('ENGINES', len(made), flush=True)\n"
        "    sys.exit(0)\n"
        "JobDefinition.execute_in_process = stop\n"))
    assert "ENGINES 1\n" in out, out


def test_a_cli_run_finds_and_hashes_files_while_it_reads_what_is_known_before_importing_dagster(tmp_path):
    out = _run_patched(tmp_path, (
        "import threading\n"
        "from pifu import ingest\n"
        "import pipelines.instance as pi\n"
        "import warehouse.load as wl\n"
        "found = threading.Event()\n"
        "real_discover, real_known = ingest._discover, wl.known_sha256\n"
        "def discover(sources):\n"
        "    print('DAGSTER_AT_PLAN', 'dagster' in sys.modules, flush=True)\n"
        "    found.set()\n"
        "    return real_discover(sources)\n"
        "def known(conn):\n"
        "    print('PLAN_STARTED', found.wait(60), flush=True)\n"
        "    return real_known(conn)\n"
        "def stop():\n"
        "    print('STOPPED', flush=True)\n"
        "    sys.exit(0)\n"
        "ingest._discover, wl.known_sha256, pi.open_instance = discover, known, stop\n"))
    assert out.split() == ["DAGSTER_AT_PLAN", "False", "PLAN_STARTED", "True", "STOPPED"], out
