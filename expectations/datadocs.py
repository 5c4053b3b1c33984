"""Great Expectations Data Docs of every run: a file-backed GX context under the data directory.

The checks validate through an ephemeral context (expectations.gxrun: no files touched while checking).
After a run, `build` stores that run's validation results in the file context at `<data dir>/gx`
(GX keeps them per run: `uncommitted/validations/<suite>/<run id>/<time>/`), saves the suites, and
renders the Data Docs site for the new results plus its index, which lists every run's results:

    <data dir>/gx/uncommitted/data_docs/local_site/index.html

Only the new results are rendered (GX keeps the pages of earlier runs), so the cost stays flat as runs
accumulate: about 0.2 s for a run once GX is imported. Runs that build at the same time take turns (a
lock file beside the context).

GX's pages load their styles and scripts from CDNs: without a network a result page still shows every
expectation and observed value (unstyled), but GX's index lists nothing (its table is drawn by scripts).
So the site also gets `runs.html`, plain HTML written here: every run, newest first, with each suite's
outcome and a link to its page (kept in `runs.json` beside it, one entry per run).

Where they are built (PIFU_DATA_DOCS): `background` (the default) hands the run's checked frames to a
detached process (`python -m expectations.datadocs <folder>`) that imports GX, validates them and builds
the pages: the run itself never imports GX (4 s), its checks are decided by expectations.fast; the
process waits until the run has let go of the lake (its run lock), so it never competes with the run's
own steps for the CPU, and the pages appear a few seconds after the run. `inline` validates and builds
in the run (as before). `off` skips them. A background build that fails leaves its folder under
<data dir>/gx/pending/ with `error.log`.
"""
from __future__ import annotations

import fcntl
import functools
import html
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

GX_DIR = "gx"
SITE = "local_site"


@dataclass
class DataDocs:
    index: Path  # the site's index.html
    pages: dict[str, str] = field(default_factory=dict)  # suite -> file:// URL of this run's result page
    seconds: float = 0.0
    pending: bool = False  # handed to a background build (see the module doc): pages come later

    @property
    def runs(self) -> Path:
        """The offline list of every run's results (see the module doc)."""
        return self.index.with_name("runs.html")

    @property
    def url(self) -> str:
        return self.index.as_uri()


def index_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / GX_DIR / "uncommitted" / "data_docs" / SITE / "index.html"


PENDING = "pending"
MODES = ("background", "inline", "off")


def mode() -> str:
    value = os.environ.get("PIFU_DATA_DOCS", "background").strip().lower() or "background"
    if value not in MODES:
        raise ValueError(f"PIFU_DATA_DOCS must be one of {', '.join(MODES)}, not {value!r}")
    return value


class Pending:
    """The run's checked frames for a background build: `pending(suite, frame)` writes one as soon as the
    checks have it (run_checks(frames=pending): no frame is kept in memory), `start(run_time)` writes the
    run's record and starts the detached builder. `after`: a run lock file (pifu.locks.lake_lock_path) the
    builder waits on before it imports GX, so its ~4 CPU s never compete with the rest of the run."""

    def __init__(self, data_dir: Path | str, run_id: str, after: Path | str | None = None):
        self.root, self.run_id, self.suites, self.seconds = Path(data_dir), run_id, [], 0.0
        self.after = after
        self.folder = self.root / GX_DIR / PENDING / run_id
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, suite: str, frame) -> None:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        started = time.perf_counter()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        with pa.OSFile(str(self.folder / f"{suite}.arrow"), "wb") as sink, ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
        if suite not in self.suites:  # a suite written again replaces its file: validated once
            self.suites.append(suite)
        self.seconds += time.perf_counter() - started

    def start(self, run_time: datetime) -> DataDocs:
        started = time.perf_counter()
        if run_time.tzinfo is None:
            run_time = run_time.replace(tzinfo=timezone.utc)
        (self.folder / "run.json").write_text(json.dumps({
            "run_id": self.run_id, "run_time": run_time.isoformat(), "data_dir": str(self.root),
            "suites": self.suites}), encoding="utf-8")
        with open(self.folder / "builder.log", "ab") as log:
            argv = [sys.executable, "-m", "expectations.datadocs", str(self.folder)]
            if self.after:
                argv += ["--after", str(self.after)]
            self.process = subprocess.Popen(argv,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True, close_fds=True,
                                            cwd=str(Path(__file__).resolve().parents[1]))
        return DataDocs(index_path(self.root), {}, self.seconds + time.perf_counter() - started, pending=True)


def build_later(data_dir: Path | str, frames: dict, run_id: str, run_time: datetime) -> DataDocs:
    """Write the run's checked frames (suite -> DataFrame, from run_checks(frames={})) under
    <data dir>/gx/pending/<run id>/ and start a detached process that builds their Data Docs."""
    pending = Pending(data_dir, run_id)
    for suite, frame in frames.items():
        pending(suite, frame)
    return pending.start(run_time)


def build_pending(folder: Path | str) -> DataDocs:
    """Validate the frames a run left in `folder` with GX and build their Data Docs; remove the folder."""
    import pyarrow as pa

    from expectations import runner
    from expectations.gxrun import unexpected_rows

    folder = Path(folder)
    meta = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    modules = {m.TABLE: m for m in _suites_modules()}
    validations = []
    for suite in meta["suites"]:
        with pa.memory_map(str(folder / f"{suite}.arrow")) as source:
            frame = pa.ipc.open_file(source).read_all().to_pandas()
        unexpected_rows(runner._suite(modules[suite]), frame, validations)
    docs = build(meta["data_dir"], validations, meta["run_id"], datetime.fromisoformat(meta["run_time"]))
    shutil.rmtree(folder, ignore_errors=True)
    return docs


def build(data_dir: Path | str, validations: list, run_id: str, run_time: datetime) -> DataDocs:
    """Store `validations` (GX suite validation results, from run_checks(validations=[])) as run `run_id`
    and render their pages and the index. Returns where they are and how long it took."""
    started = time.perf_counter()
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    if run_time.tzinfo is None:
        run_time = run_time.replace(tzinfo=timezone.utc)
    with _locked(root / f".{GX_DIR}.lock"):
        context = gx.get_context(mode="file", project_root_dir=str(root))
        for suite in _suites():
            context.suites.add_or_update(suite)
        run = RunIdentifier(run_name=run_id, run_time=run_time)
        keys = []
        for result in validations:
            result.meta["run_id"] = run  # what the pages show as the run's name and time
            result.meta["validation_time"] = run_time
            key = ValidationResultIdentifier(ExpectationSuiteIdentifier(name=result.suite_name), run,
                                             batch_identifier=result.suite_name)
            context.validation_results_store.set(key, result)
            keys.append(key)
        context.build_data_docs(site_names=[SITE], resource_identifiers=keys)
        pages = {}
        for key in keys:
            urls = context.get_docs_sites_urls(resource_identifier=key, site_name=SITE)
            if urls and urls[0].get("site_url"):
                pages[key.expectation_suite_identifier.name] = urls[0]["site_url"]
        _write_runs(index_path(root).parent, run_id, run_time, validations, pages)
    return DataDocs(index_path(root), pages, time.perf_counter() - started)


def _write_runs(site: Path, run_id: str, run_time: datetime, validations: list, pages: dict[str, str]) -> None:
    ledger = site / "runs.json"
    runs = json.loads(ledger.read_text(encoding="utf-8")) if ledger.exists() else []
    runs = [r for r in runs if r["run_id"] != run_id]
    runs.append({"run_id": run_id, "time": run_time.isoformat(), "suites": [
        {"suite": v.suite_name, "success": bool(v.success), "evaluated": v.statistics["evaluated_expectations"],
         "failed": v.statistics["unsuccessful_expectations"],
         "page": Path(pages[v.suite_name].removeprefix("file://")).relative_to(site).as_posix()
         if v.suite_name in pages else None} for v in validations]})
    runs.sort(key=lambda r: r["time"], reverse=True)
    _atomic(ledger, json.dumps(runs, ensure_ascii=False, indent=1))
    e = html.escape
    rows = []
    for r in runs:
        cells = []
        for s in r["suites"]:
            label = (f"{e(s['suite'])}: {'passed' if s['success'] else 'failed'} "
                     f"({s['evaluated'] - s['failed']} of {s['evaluated']} expectations met)")
            cells.append(f'<a href="{e(s["page"])}">{label}</a>' if s["page"] else label)
        rows.append(f"<tr><td>{e(r['time'])}</td><td>{e(r['run_id'])}</td><td>{'<br>'.join(cells)}</td></tr>")
    _atomic(site / "runs.html", (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>pifu: GX validation results by run</title>'
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}</style>"
        "</head><body><h1>GX validation results by run</h1><p>Newest first. The same pages as GX's "
        '<a href="index.html">index</a>, which needs a network for its scripts.</p>'
        "<table><tr><th>checked at (UTC)</th><th>Dagster run</th><th>suites</th></tr>"
        + "".join(rows) + "</table></body></html>"))


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@functools.cache
def _suites_modules():
    from expectations import documents, funding, indicators

    return funding, indicators, documents


def _suites():
    return [m.suite() for m in _suites_modules()]


@contextmanager
def _locked(path: Path):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    try:  # pages nobody waits for: yield the CPU to runs (this build imports GX, ~20 CPU s on a busy machine)
        os.nice(10)
    except OSError:
        pass
    try:
        if argv[1:2] == ["--after"]:  # not while the run that started us still works (Pending's `after`)
            from pifu.locks import wait_for_release

            print(f"waiting for the run to let go of {argv[2]}", flush=True)
            wait_for_release(argv[2])
        build_pending(folder)
    except BaseException:  # noqa: BLE001 (detached: nobody else would see it)
        (folder / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
