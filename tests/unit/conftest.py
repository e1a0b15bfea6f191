"""Make the checkout importable as ansible_collections.reaper.systemd for plain pytest runs."""

import os
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS = os.path.join(REPO, "build", "pytest-collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "reaper", "systemd")

if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(REPO, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)


import pytest
from hypothesis import settings

# Property tests check what a value does, not how fast the machine is: Hypothesis's default
# 200 ms per example failed a test on a loaded 2-core machine (DeadlineExceeded), so no deadline.
settings.register_profile("reaper", deadline=None)
settings.load_profile("reaper")


@pytest.fixture(autouse=True)
def host_lock(request, monkeypatch):
    """The host-wide cleanup lock (cleanup_lock.LOCK_PATH) of each test, in its scratch directory.

    Only the host's lock is accepted as lock_path (two locks would let two cleanups run at
    once); tests point it at tmp_path/run/lock, where they also look for it.
    """
    if "tmp_path" not in request.fixturenames:
        return
    from ansible_collections.reaper.systemd.plugins.module_utils import cleanup_lock

    tmp_path = request.getfixturevalue("tmp_path")
    monkeypatch.setattr(cleanup_lock, "LOCK_PATH", str(tmp_path / "run" / "lock"))


# ---------------------------------------------------------------- the bad input sweep's count
# tests/unit/test_bad_input.py runs one test per (surface, option, bad value); the session
# ends with how many of them were refused as they must be (the number issue 20 asks for).
_SWEEP = {"total": 0, "refused": 0}


def _is_sweep_case(nodeid):
    name = nodeid.split("::")[-1]
    return "test_bad_input.py::" in nodeid and "[" in name and name.split("[")[0].endswith(("_refuses", "_refused"))


def pytest_runtest_logreport(report):
    if not _is_sweep_case(report.nodeid):
        return
    if report.when == "setup" and report.failed:
        _SWEEP["total"] += 1
    elif report.when == "call":
        _SWEEP["total"] += 1
        _SWEEP["refused"] += 1 if report.passed else 0


def pytest_terminal_summary(terminalreporter):
    if _SWEEP["total"]:
        terminalreporter.write_line(
            "bad input sweep: %d of %d bad values refused with the option named, nothing written or signalled"
            % (_SWEEP["refused"], _SWEEP["total"])
        )
