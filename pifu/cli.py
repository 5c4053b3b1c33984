"""`pifu parse | run | generate`. Errors are one line on stderr, never a traceback.

Exit status: 0 done; 1 the run finished but something needs attention (a step failed, a check
blocked); 2 bad input or usage; 3 another run holds the lake or the warehouse (`run --no-wait`);
4 the environment is at fault (warehouse unreachable, lake not writable, disk full); 70 a bug in pifu
(the traceback is written to a file under the data directory, the line says which).
"""
from __future__ import annotations

import argparse
import os
import sys

from pifu.faults import EnvironmentFault, LockBusy
from pifu.model import PifuError

EXIT_BUSY, EXIT_ENVIRONMENT, EXIT_INTERNAL = 3, 4, 70


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except LockBusy as e:
        print(f"pifu: {e}", file=sys.stderr)
        return EXIT_BUSY
    except EnvironmentFault as e:
        print(f"pifu: {e}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except PifuError as e:
        print(f"pifu: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pifu: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # the last resort: one line here, the traceback in a file
        print(f"pifu: internal error: {type(e).__name__}: {_one_line(e)} ({_save_traceback()})", file=sys.stderr)
        return EXIT_INTERNAL


def _one_line(e: BaseException) -> str:
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[0][:300] if lines else "(no message)"


def _save_traceback() -> str:
    """Write the current exception's traceback under <data dir>/logs; where it went, for the user."""
    import traceback
    from datetime import datetime, timezone

    text = traceback.format_exc()
    name = f"pifu-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{os.getpid()}.log"
    for folder in (os.path.join(os.environ.get("PIFU_DATA_DIR") or "data", "logs"),
                   os.path.join(os.environ.get("TMPDIR") or "/tmp", "pifu-logs")):
        try:
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(os.path.abspath(folder), name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            return f"traceback in {path}"
        except OSError:
            continue
    return "the traceback could not be written"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pifu", description="部门整体绩效目标批复 exports -> Parquet lake -> warehouse")
    sub = p.add_subparsers(dest="command", required=True)

    parse = sub.add_parser("parse", help="read one export and print the document")
    parse.add_argument("file")
    parse.add_argument("--json", action="store_true", help="print the contract's JSON object (the default)")
    parse.add_argument("--indent", type=int, default=1)
    parse.set_defaults(func=_cmd_parse)

    run = sub.add_parser("run", help="run the pipeline (the Dagster job the UI runs) over files and folders")
    run.add_argument("sources", nargs="*", help="files or folders (default: $PIFU_INBOX)")
    run.add_argument("--warehouse", help="SQLAlchemy URL (default: $PIFU_WAREHOUSE_URL or a DuckDB file)")
    run.add_argument("--lake", help="lake directory or s3://bucket/prefix (default: $PIFU_LAKE_DIR or data/lake)")
    run.add_argument("--workers", type=int, default=None, help="parse processes (default: CPU count)")
    run.add_argument("--dask", metavar="ADDRESS",
                     help="parse on this Dask scheduler, e.g. tcp://scheduler:8786 (default: $PIFU_DASK_SCHEDULER; "
                          "unset: the local process pool)")
    run.add_argument("--region", help="load into this region's lake, warehouse and run locks, beside the other "
                                      "regions' runs (default: $PIFU_REGION; docs/scaling.md)")
    run.add_argument("--no-wait", action="store_true",
                     help="exit 3 at once when another run holds the lake or the warehouse (default: wait for it)")
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="write one static HTML page of the warehouse: charts and findings")
    report.add_argument("--warehouse", help="SQLAlchemy URL (default: $PIFU_WAREHOUSE_URL or a DuckDB file)")
    report.add_argument("--out", help="directory for report.html (default: $PIFU_DATA_DIR/report)")
    report.add_argument("--region", help="the region's warehouse (default: $PIFU_REGION)")
    report.set_defaults(func=_cmd_report)

    ui = sub.add_parser("ui", help="open the Dagster UI on the instance `pifu run` records into")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=_cmd_ui)

    gen = sub.add_parser("generate", help="write realistic damaged exports with their true documents beside them")
    gen.add_argument("--count", type=int, required=True)
    gen.add_argument("--out", required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--errors", type=float, default=0.0, help="share of documents with planted data errors")
    gen.add_argument("--family", default="hubei",
                     choices=("hubei", "hubei2021", "hunan2023", "fujian2019", "hubei_grid"),
                     help="template family (default: hubei, today's Hubei 批复)")
    gen.add_argument("--format", dest="fmt", default="text", choices=("text", "xlsx", "xls", "docx", "html", "pdf"),
                     help="text: a damaged text export (default); the others keep the form's merged cells")
    gen.set_defaults(func=_cmd_generate)
    return p


def _cmd_parse(args) -> int:
    """One file under the same limits as a parse worker: whatever it holds, a document or one line."""
    from pifu import jsonio, safety
    from pifu.api import parse
    from pifu.model import DocumentError

    try:
        with safety.limited(safety.worker_memory_mb(), safety.file_timeout_s()):
            text = jsonio.dumps(parse(args.file).to_dict(), indent=args.indent or None)
    except MemoryError:
        raise DocumentError(args.file, "needs more memory than a parse may use (PIFU_WORKER_MEMORY_MB)",
                            "too_much_memory") from None
    except safety.FileTimeout:
        raise DocumentError(args.file, f"still parsing after {safety.file_timeout_s():g} s (PIFU_FILE_TIMEOUT_S)",
                            "timeout") from None
    sys.stdout.write(text + "\n")
    return 0


def _cmd_run(args) -> int:
    import gc

    # Until the job starts, the run imports some 2,000 modules and plans: no garbage cycles to find, yet the
    # collector would walk the new modules' objects again and again (a fifth of the imports' time).
    # pipelines.run freezes what is there and turns it back on before the job.
    gc.disable()
    try:
        return _run_cli(args)
    finally:
        gc.enable()


def _run_cli(args) -> int:
    from pipelines.run import run_pipeline

    if args.region:
        os.environ["PIFU_REGION"] = args.region
    sources = args.sources or _inbox()
    if not sources:
        print("pifu: nothing to run: name files or folders, or set PIFU_INBOX", file=sys.stderr)
        return 2
    if args.dask:
        os.environ["PIFU_DASK_SCHEDULER"] = args.dask
    os.environ.setdefault("PIFU_PROGRESS", "1")  # long runs print a progress line (rate, ETA) on stderr
    return run_pipeline(sources, warehouse_url=args.warehouse, lake_dir=args.lake, workers=args.workers,
                        wait=not args.no_wait)


def _inbox() -> list[str]:
    """$PIFU_INBOX, or with PIFU_INBOX_REGIONS=1 the region's folder of it; none when unset."""
    if not os.environ.get("PIFU_INBOX"):
        return []
    from pipelines.resources import PifuSettings  # imports Dagster: only when the inbox is the source

    return [str(PifuSettings().inbox_path())]


def _cmd_report(args) -> int:
    from pifu.report import build_report
    from pipelines.resources import PifuSettings, WarehouseResource

    settings = PifuSettings(region=args.region or "")  # as the run's report step places it
    url = WarehouseResource(url=args.warehouse or "", settings=settings).resolved_url()
    built = build_report(url, args.out or settings.data_path() / "report")
    print(f"report: {built.path} ({built.documents} department-years, {built.findings} findings, "
          f"{built.seconds:.1f} s)")
    return 0


def _cmd_ui(args) -> int:
    from pipelines.instance import ROOT, open_instance

    with open_instance():  # the same DAGSTER_HOME and dagster.yaml as `pifu run`, its storages created once
        pass
    os.chdir(ROOT)  # where pyproject's [tool.dagster] names the code location
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    os.execv(dagster, [dagster, "dev", "-h", args.host, "-p", str(args.port)])


def _cmd_generate(args) -> int:
    from pifu.generate import generate

    paths = generate(args.count, args.out, seed=args.seed, errors=args.errors, family=args.family, fmt=args.fmt)
    print(f"wrote {len(paths)} documents (and their .truth.json) to {args.out}")
    return 0


def entry() -> None:
    """The console script. After a run, skip interpreter teardown: duckdb 2.0's bindings report their
    module-level objects as "leaked" at exit, pages of noise after a clean run."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
