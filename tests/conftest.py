"""Shared fixtures: every test that starts processes checks that none are left behind.

Nor any files: the run gets a temporary directory of its own, and it fails if a
cluster's work directory (``jmesos-*``) is still there at the end.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import tempfile
import time

import psutil
import pytest

from .processes import cmdlines, running


def _descendants() -> set[int]:
    try:
        return {p.pid for p in psutil.Process(os.getpid()).children(recursive=True)}
    except psutil.Error:
        return set()


#: inherited by every process a test starts, so leak checks find them even once orphaned,
#: and never count another test run's processes on the same machine
_MARK = f"{os.getpid()}-{os.urandom(4).hex()}"
os.environ["JMESOS_TEST_RUN"] = _MARK

#: where this run's processes (and their children, which inherit TMPDIR) make temporary files
_TMP = tempfile.mkdtemp(prefix="jmesos-test-run-")
os.environ["TMPDIR"] = _TMP
tempfile.tempdir = None
# removed last of all, after what IPython shells and kernels write there at their own exit
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = sorted(glob.glob(os.path.join(_TMP, "jmesos-*")))
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"work directories left behind: {left}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _jmesos_processes() -> set[int]:
    found = set()
    for proc in psutil.process_iter(["pid"]):
        if proc.info["pid"] == os.getpid():
            continue
        try:
            if proc.environ().get("JMESOS_TEST_RUN") == _MARK:
                found.add(proc.info["pid"])
        except psutil.Error:
            continue
    return found


@pytest.fixture
def no_leaks():
    """Fail the test if it leaves any child process or jmesos supervisor running (waits up to 10 s)."""
    before_children, before_jmesos = _descendants(), _jmesos_processes()
    yield
    deadline = time.monotonic() + 10.0
    while True:
        leaked = (_descendants() - before_children) | (_jmesos_processes() - before_jmesos)
        leaked = {pid for pid in leaked if running(pid)}
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not leaked, f"processes left behind: {cmdlines(leaked)}"
