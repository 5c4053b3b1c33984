"""What `pifu run` prints: per fiscal year a line, then files loaded, quarantined with reasons, checks
that found something, rows per warehouse table."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from pifu import staging


class Summary:
    def __init__(self, out):
        self.out = out
        self.loaded = 0
        self.quarantined: list[dict] = []
        self.failed_runs: list[str] = []
        self.checks = Counter()  # check -> documents failing
        self.check_severity: dict[str, str] = {}
        self.table_rows: dict[str, int] = {}
        self.warehouse = ""

    def add(self, year: str, result) -> None:
        parsed = _output(result, "parsed_documents") or {}
        q = staging.read(Path(parsed["stage"]), ["quarantine"]).get("quarantine") if parsed.get("stage") else None
        quarantined = q.to_pylist() if q is not None else []
        self.loaded += parsed.get("parsed", 0) if result.success else 0
        self.quarantined += quarantined
        state = "ok" if result.success else "FAILED"
        print(f"  fiscal year {year}: run {result.run_id[:8]} {state}: {parsed.get('parsed', 0)} documents, "
              f"{len(quarantined)} quarantined", file=self.out)
        if not result.success:
            self.failed_runs.append(result.run_id)
            for event in result.all_events:
                if event.is_step_failure:
                    err = event.event_specific_data.error
                    print(f"    step {event.step_key} failed: {err.message.strip().splitlines()[-1]}", file=self.out)
        for e in result.get_asset_check_evaluations():
            if not e.passed:
                failing = e.metadata.get("documents_failing")
                self.checks[e.check_name] += int(failing.value) if failing else 1
                self.check_severity[e.check_name] = e.severity.value.lower()
        for event in result.get_asset_materialization_events():
            mat = event.materialization
            if mat.asset_key.to_user_string() == "warehouse_tables":
                self.warehouse = mat.metadata["warehouse"].value
                self.table_rows = {k[5:]: v.value for k, v in mat.metadata.items() if k.startswith("rows_")}

    def finish(self) -> int:
        out = self.out
        print(f"loaded: {self.loaded} documents", file=out)
        print(f"quarantined: {len(self.quarantined)} files", file=out)
        for row in self.quarantined[:50]:
            print(f"  {row['source_path']}: {row['reason']}: {row['detail'].split(': ', 2)[-1]}", file=out)
        if len(self.quarantined) > 50:
            print(f"  … and {len(self.quarantined) - 50} more (table quarantine)", file=out)
        if self.checks:
            print("checks failed (documents; details in table dq_result):", file=out)
            for name, n in sorted(self.checks.items()):
                print(f"  {name}: {n} ({self.check_severity[name]})", file=out)
        else:
            print("checks failed: none", file=out)
        if self.warehouse:
            print(f"warehouse {self.warehouse}:", file=out)
            for table, n in sorted(self.table_rows.items()):
                print(f"  {table:22} {n:>10,}", file=out)
        if self.failed_runs:
            print(f"{len(self.failed_runs)} run(s) failed: {', '.join(self.failed_runs)}", file=out)
        return 1 if self.failed_runs else 0


def _output(result, node):
    try:
        return result.output_for_node(node)
    except Exception:  # the step did not run
        return None
