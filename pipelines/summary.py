"""What `pifu run` prints: files loaded, quarantined with reasons, checks that found something, rows per
warehouse table, all read from the run's events (what the UI shows too)."""
from __future__ import annotations

import re
from collections import Counter


def summarize(result, years: list[str], seconds: float, out) -> int:
    meta = _materializations(result)
    parsed = meta.get("parsed_documents", {})
    print(f"run {result.run_id} over fiscal years {', '.join(years)}: {'ok' if result.success else 'FAILED'} "
          "(make ui -> Runs)", file=out)
    status = 0 if result.success else 1
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                status = max(status, _report_failure(event.step_key, event.event_specific_data.error,
                                                     result.run_id, out))
    loaded = parsed.get("documents_parsed") if "warehouse_tables" in meta else 0
    print(f"loaded: {loaded or 0} documents", file=out)
    quarantined = parsed.get("quarantine_records") or []
    print(f"quarantined: {parsed.get('files_quarantined', 0)} files", file=out)
    for q in quarantined[:50]:
        print(f"  {q['source_path']}: {q['reason']}: {q['detail'].split(': ', 2)[-1]}", file=out)
    if len(quarantined) > 50:
        print(f"  … and {len(quarantined) - 50} more (table quarantine)", file=out)
    failing, severity = Counter(), {}
    for e in result.get_asset_check_evaluations():
        if not e.passed:
            n = e.metadata.get("documents_failing")
            failing[e.check_name] += int(n.value) if n else 1
            severity[e.check_name] = e.severity.value.lower()
    if failing:
        print("checks failed (documents; details in table dq_result):", file=out)
        for name, n in sorted(failing.items()):
            print(f"  {name}: {n} ({severity[name]})", file=out)
    else:
        print("checks failed: none", file=out)
    if "lake_tables" in meta:
        checks = meta["lake_tables"].get("checks_seconds", 0)
        print(f"time: {seconds:.1f} s, of which expectations {checks:.1f} s ({100 * checks / seconds:.0f}%)",
              file=out)
    if meta.get("lake_tables", {}).get("data_docs_path"):
        lt = meta["lake_tables"]
        print(f"data docs: {lt['data_docs_path']} ({lt.get('data_docs_seconds', 0):.1f} s; offline: runs.html)",
              file=out)
    if meta.get("report", {}).get("report_path"):
        rep = meta["report"]
        print(f"report: {rep['report_path']} ({rep.get('report_seconds', 0):.1f} s)", file=out)
    wh = meta.get("warehouse_tables", {})
    if wh:
        print(f"warehouse {wh['warehouse']}:", file=out)
        for key, value in sorted(wh.items()):
            if key.startswith("rows_"):
                print(f"  {key[5:]:22} {value:>10,}", file=out)
    return status


# Failures the operator fixes outside pifu: `pifu run` exits with cli.EXIT_ENVIRONMENT for them.
_ENVIRONMENT = {"EnvironmentFault", "LakeError", "WarehouseError"}


def _report_failure(step: str, error, run_id: str, out) -> int:
    """One line naming the step and the error (the full chain goes to a log file); the exit status."""
    cause = error
    while cause.cause is not None and (cause.cls_name or "").startswith("Dagster"):
        cause = cause.cause  # past Dagster's wrapper, to the error the step raised
    lines = [line for line in (cause.message or "").strip().splitlines() if line.strip()]
    text = re.sub(r"^(?:\w+\.)+(?=\w+:)", "", lines[0] if lines else "")  # pifu.faults.LakeError -> LakeError
    name = cause.cls_name or ""
    if name and not text.startswith(name):
        text = f"{name}: {text}"
    print(f"  step {step} failed: {text} ({_save(error, run_id)})", file=out)
    return 4 if name in _ENVIRONMENT else 1


def _save(error, run_id: str) -> str:
    from pipelines.instance import data_dir

    try:
        folder = data_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"run-{run_id}.log"
        path.write_text(error.to_string(), encoding="utf-8")
        return f"details in {path}"
    except OSError:
        return "details: make ui -> Runs"


def _materializations(result) -> dict[str, dict]:
    """Asset -> its metadata values (the first partition's: a run over a range records the same for each)."""
    out: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        out.setdefault(mat.asset_key.to_user_string(), {k: v.value for k, v in mat.metadata.items()})
    return out
