"""Issue 12: a run accounts for its time by stage, hashes each file once, and does not import GX."""
from __future__ import annotations

import io
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
