"""Errors of the machine a run works on, not of the files it reads: each says what to do, in one line.

`pifu run` exits 4 on an EnvironmentFault (warehouse unreachable, lake not writable, disk full) and 3
on LockBusy (`--no-wait` and another run holds the lake or the warehouse).
"""
from __future__ import annotations

import errno
import os
import sys

from pifu.model import PifuError


class EnvironmentFault(PifuError):
    """Something outside pifu's input is wrong; fixing it and running again completes the run."""

    reason = "environment"


class LakeError(EnvironmentFault):
    reason = "lake_unwritable"


class WarehouseError(EnvironmentFault):
    reason = "warehouse_unreachable"


class LockBusy(PifuError):
    """Another run holds the lake or the warehouse (raised only when told not to wait)."""

    reason = "busy"


def os_fault(cls: type[EnvironmentFault], where: str, e: OSError, doing: str) -> EnvironmentFault:
    """`e` as one actionable line: disk full and permissions say what to free or fix."""
    full = e.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(e)  # Arrow: no errno
    if full:
        hint = "the disk is full: free space there and run again (nothing was published)"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "not writable by this user: fix its permissions or choose another place (--lake / --warehouse)"
    elif e.errno in (errno.ENOTDIR, errno.EEXIST):
        hint = "a file is in the way of that directory: move it or choose another place (--lake / --warehouse)"
    else:
        hint = "run again once it is fixed"
    return cls(where, f"{doing}: {e.strerror or e}; {hint}", reason="disk_full" if full else None)


def pause_at(point: str) -> None:
    """Test hook: with PIFU_TEST_PAUSE_AT=<point>, print `PAUSED <point>` and wait for a line on stdin.

    Crash tests SIGKILL the run on this marker instead of guessing with a timer. Points: parse (files
    parsed, nothing staged), lake (the snapshot is written but not current), load (rows inserted, not
    committed), publish (the warehouse committed, the lake snapshot not yet current).
    """
    if os.environ.get("PIFU_TEST_PAUSE_AT") == point:
        print(f"PAUSED {point}", flush=True)
        sys.stdin.readline()
