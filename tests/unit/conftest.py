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
