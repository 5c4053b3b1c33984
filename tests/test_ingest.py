"""The parse pool's hand-off (workers stage their own batches; the next batch goes out before the caller
takes the last one) and routing by the title's year."""
from datetime import datetime, timezone

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


def test_a_batch_adopted_again_replaces_the_one_a_first_attempt_staged(tmp_path):
    import pyarrow as pa

    stage = tmp_path / "stage"
    for rows in (3, 1):  # a re-executed step stages batch 1 again
        folder = stage / staging.SPILL / f"w{rows}"
        staging.write(folder, {"dim_department": pa.table({"department_id": [str(i) for i in range(rows)]})})
        staging.adopt_batch(stage, 1, folder, {})
    assert staging.read(stage, ["dim_department"])["dim_department"].num_rows == 1
