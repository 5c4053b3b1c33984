import os
from pathlib import Path

import pytest

# Data Docs are built by a detached process after each run; tests that look at them ask for them inline.
os.environ.setdefault("PIFU_DATA_DOCS", "off")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "ezhou-trade-union-2025.txt"


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return SAMPLE


_exit_status = None


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config):
    """Leave without interpreter teardown: duckdb 2.0's bindings report their module-level objects as
    "leaked" at exit, pages of noise after pytest's summary line."""
    import os
    import sys

    if _exit_status is not None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:  # its writer may buffer apart from sys.stdout: the closing line must get out
            reporter._tw.flush()
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(_exit_status)


@pytest.fixture
def grid_renderer(monkeypatch):
    """A stand-in renderer that hands over the form itself (the grid and merges a format reader yields)."""
    import sys
    import types

    seen = {}
    module = types.ModuleType("pifu.generate.render.grid")
    module.render = lambda form, rng, damage: (seen.__setitem__("form", form), (b"", ".grid"))[1]
    monkeypatch.setitem(sys.modules, "pifu.generate.render.grid", module)
    return seen
