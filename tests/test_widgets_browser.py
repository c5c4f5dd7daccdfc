"""The widgets as a student sees them: a real JupyterLab, a real kernel, headless Chromium.

Each test copies a notebook from ``tests/notebooks/`` into a temporary root,
starts JupyterLab on 127.0.0.1 (random free port, token auth, no browser),
opens the notebook in Debian's Chromium through Playwright, runs all cells and
checks the rendered DOM: the views are drawn, the offer timeline has marks for
both frameworks, a killed agent is red, the replay slider moves time.
Screenshots go to ``test-artifacts/`` for a human to look at.  The server,
the browser and every cluster the notebook started are gone at the end.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .processes import running

CHROMIUM = "/usr/bin/chromium"
HERE = Path(__file__).parent
NOTEBOOKS = HERE / "notebooks"
ARTIFACTS = HERE.parent / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree(pid: int) -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if running(pid)}


@contextlib.contextmanager
def jupyterlab(root: Path) -> Iterator[str]:
    """Run JupyterLab serving ``root``; yields its base URL (with the token as a query)."""
    port, token = _free_port(), secrets.token_hex(16)
    settings = root / ".lab-settings"
    # no news/update pop-ups over the screenshots
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    # render every cell, not only those on screen (the dashboards are checked wherever they are)
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}'
    )
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(root / ".lab-ws"))
    log = open(root / ".jupyterlab.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.disable_check_xsrf=False",
            "--LabApp.news_url=",
            "--ServerApp.shutdown_no_activity_timeout=600",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; see {root / '.jupyterlab.log'}") from None
                time.sleep(0.3)
        yield f"{base}|{token}"
    finally:
        # everything the server started: kernels, and the clusters they started (in their own sessions)
        started = _tree(proc.pid)
        # the server, its kernels and whatever they started share the session: end them all
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
        deadline = time.monotonic() + 15
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _alive(started)
        for pid in left:  # do not leave them to the next test, but fail this one
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not left, f"processes outlived JupyterLab and its kernels: {sorted(left)}"


@contextlib.contextmanager
def chromium(user_data: Path) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(user_data),
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
            viewport={"width": 1280, "height": 900},
            device_scale_factor=1,
        )
        try:
            yield context
        finally:
            context.close()


def wait_idle(page, server: str) -> None:
    """Wait until the notebook's kernel exists and is idle, as the server sees it, and the front end agrees.

    The toolbar's indicator alone is not enough: it shows "idle" before any kernel is attached.
    """
    import json

    base, token = server.split("|")
    deadline = time.monotonic() + 90
    while True:
        sessions = json.loads(urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5).read())
        if any((s.get("kernel") or {}).get("execution_state") == "idle" for s in sessions):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"no idle kernel after 90 s: {sessions}")
        time.sleep(0.3)
    page.wait_for_function(
        "() => document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]') !== null",
        timeout=90_000,
    )


def run_all(page, server: str) -> None:
    """Run > Run All Cells, until the first code cell has run.

    Should the front end ask which kernel to use, accept its choice; should
    the request be dropped while the front end settles on its kernel, ask again
    (only while no cell has run, so nothing runs twice).
    """
    ran = "() => /\\[(\\d+|\\*)\\]/.test(document.querySelector('.jp-CodeCell .jp-InputPrompt')?.textContent || '')"
    select = page.locator(".jp-Dialog button", has_text="Select")
    for _ in range(5):
        if select.count():
            select.first.click()
        wait_idle(page, server)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        with contextlib.suppress(Exception):
            page.wait_for_function(ran, timeout=10_000)
            return
    raise AssertionError("the notebook's cells never ran")


def open_and_run(context, server: str, notebook: str):
    """Open ``notebook`` in JupyterLab and run all its cells; returns the page."""
    base, token = server.split("|")
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/lab/tree/{notebook}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    run_all(page, server)
    return page


@contextlib.contextmanager
def evidence(page, name: str) -> Iterator[None]:
    """On failure, keep a full-page screenshot and the browser console next to the other artefacts."""
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{name}-FAILED.png"), full_page=True)
        (ARTIFACTS / f"{name}-FAILED-console.txt").write_text("\n".join(console))
        raise


def shot(page, locator, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path))
    return path


def select_tab(dashboard, view: str) -> None:
    dashboard.locator(f".jm-tab[data-view='{view}']").click()
    dashboard.locator(f".jm-pane[data-view='{view}'] svg, .jm-pane[data-view='{view}'] .jm-empty").first.wait_for()


@pytest.fixture
def lab_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="jmesos-lab-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _copy(name: str, root: Path) -> None:
    shutil.copy(NOTEBOOKS / name, root / name)


def test_replay_dashboard_renders_every_view_and_the_slider_moves_time(lab_root: Path) -> None:
    _copy("replay.ipynb", lab_root)
    with jupyterlab(lab_root) as server, chromium(lab_root / ".chromium") as context:
        page = open_and_run(context, server, "replay.ipynb")
        with evidence(page, "replay"):
            _check_replay(page)


def _dead_card_fill(page) -> str:
    """The fill of the first dashboard's dead agent card, found and read in one script.

    A redraw replaces the cards; between a locator's two steps the card it found may be gone, and
    a detached element's computed style is empty.
    """
    return page.evaluate(
        "() => { const card = document.querySelector('.jm-root .jm-agent.dead .jm-card');"
        " return card ? getComputedStyle(card).fill : 'no dead agent card'; }"
    )


def _check_replay(page) -> None:
    dash = page.locator(".jm-root").first
    dash.wait_for(timeout=120_000)
    dash.locator(".jm-agent").first.wait_for()
    assert dash.locator(".jm-agent.dead").count() == 1, "agent-2 dies in the sample run and must be drawn red"
    fill = _dead_card_fill(page)
    assert fill.replace(" ", "") == "rgb(253,236,234)", fill
    back = dash.locator('.jm-agent.dead[data-agent="agent-2"]')
    assert "back as agent-5" in back.text_content(), "a removed agent that registered again names its new id"
    assert "was agent-2" in dash.locator('.jm-agent[data-agent="agent-5"]').get_attribute("data-tip")
    shot(page, dash, "replay-cluster.png")
    select_tab(dash, "offers")
    dash.locator(".jm-offer").first.wait_for()  # the pane may draw once before the offers arrive
    fws = set(dash.locator(".jm-offer").evaluate_all("els => els.map(e => e.dataset.fw)"))
    assert {"analytics", "web-batch"} <= fws
    outcomes = set(dash.locator(".jm-offer").evaluate_all("els => els.map(e => e.dataset.outcome)"))
    assert {"accepted", "declined", "timed_out"} <= outcomes
    shot(page, dash, "replay-offers.png")
    for view in ("allocation", "tasks", "locality", "trace"):
        select_tab(dash, view)
        shot(page, dash, f"replay-{view}.png")
    assert dash.locator(".jm-task").count() > 10
    assert dash.locator(".jm-task.bad").count() >= 1
    # the slider: going back to t=5s shows the state then (agent-2 not dead yet)
    select_tab(dash, "cluster")
    slider = dash.locator(".jm-slider")
    slider.evaluate("(s) => { s.value = 5; s.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.wait_for_function("() => document.querySelectorAll('.jm-root .jm-agent.dead').length === 0", timeout=30_000)
    shot(page, dash, "replay-at-5s.png")


def _offer_frameworks(dash) -> set[str]:
    return set(dash.locator(".jm-offer").evaluate_all("els => els.map(e => e.dataset.fw)"))


def test_live_dashboard_shows_two_frameworks_and_a_killed_agent_turns_red(lab_root: Path) -> None:
    """The issue's scenario: %mesos start, two frameworks, the dashboard live, an agent killed.

    Shutting JupyterLab down at the end must take the kernel's cluster with it (checked in ``jupyterlab``).
    """
    _copy("live.ipynb", lab_root)
    with jupyterlab(lab_root) as server, chromium(lab_root / ".chromium") as context:
        page = open_and_run(context, server, "live.ipynb")
        with evidence(page, "live"):
            dash = page.locator(".jm-root").first
            dash.wait_for(timeout=120_000)
            dash.scroll_into_view_if_needed()
            page.wait_for_function(
                "() => document.querySelector('.jm-root').querySelectorAll('.jm-agent').length >= 3", timeout=60_000
            )
            # both frameworks registered and running tasks: the header lists them
            page.wait_for_function(
                "() => document.querySelector('.jm-root').querySelectorAll('.jm-fws .jm-fw').length >= 2",
                timeout=60_000,
            )
            page.wait_for_function(
                "() => document.querySelector('.jm-root').querySelectorAll('.jm-task-edge').length >= 2", timeout=60_000
            )
            shot(page, dash, "live-cluster-running.png")
            select_tab(dash, "offers")
            page.wait_for_function(
                "() => new Set([...document.querySelector('.jm-root').querySelectorAll('.jm-offer')]"
                ".map(e => e.dataset.fw)).size >= 2",
                timeout=60_000,
            )
            assert {"analytics", "web-batch"} <= _offer_frameworks(dash)
            shot(page, dash, "live-offers.png")
            # the notebook kills agent-3 a few seconds in; missed health checks make it dead
            select_tab(dash, "cluster")
            page.wait_for_selector(".jm-root .jm-agent.dead[data-agent='agent-3']", timeout=60_000)
            fill = _dead_card_fill(page)
            assert fill.replace(" ", "") == "rgb(253,236,234)", fill
            shot(page, dash, "live-cluster-agent-killed.png")
            for view in ("allocation", "tasks", "locality", "trace"):
                select_tab(dash, view)
                time.sleep(0.5)
                shot(page, dash, f"live-{view}.png")
            assert dash.locator(".jm-task").count() > 5
            assert dash.locator(".jm-locality-row[data-fw='analytics']").count() == 1
            # the second, smaller dashboard (two views) of the last cell is live too
            second = page.locator(".jm-root").nth(1)
            second.locator(".jm-tab[data-view='allocation']").click()
            second.locator(".jm-allocation").wait_for()
            shot(page, second, "live-two-views.png")
            # `cluster` as a cell's last expression: LocalCluster._repr_mimebundle_ -> a third, full dashboard
            third = page.locator(".jm-root").nth(2)
            third.wait_for()
            assert third.locator(".jm-tab").count() == 6
            third.locator(".jm-agent.dead[data-agent='agent-3']").wait_for()


def test_notebook7_renders_the_dashboard(lab_root: Path) -> None:
    """Notebook 7 shares JupyterLab's widget manager; the same view must render there."""
    _copy("replay.ipynb", lab_root)
    with jupyterlab(lab_root) as server, chromium(lab_root / ".chromium") as context:
        base, token = server.split("|")
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{base}/notebooks/replay.ipynb?token={token}")
        with evidence(page, "notebook7"):
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            run_all(page, server)
            dash = page.locator(".jm-root").first
            dash.wait_for(timeout=120_000)
            dash.locator(".jm-agent.dead").wait_for()
            shot(page, dash, "notebook7-replay.png")


_BUSY_NOTEBOOK = [
    "%load_ext jmesos",
    "%mesos start --agents 2",
    "import time, jmesos\n"
    "\n"
    "class Tiny(jmesos.Scheduler):\n"
    "    def __init__(self):\n"
    "        self.launched = self.done = 0\n"
    "    def resource_offers(self, driver, offers):\n"
    "        need = jmesos.Resources(cpus=0.1, mem='16MiB')\n"
    "        for offer in offers:\n"
    "            tasks = []\n"
    "            while self.launched < 3 and need <= offer.resources:\n"
    "                self.launched += 1\n"
    "                tasks.append(jmesos.TaskInfo(name=f'tiny-{self.launched}', resources=need, fn=abs, args=(-1,)))\n"
    "            driver.launch_tasks([offer.id], tasks)\n"
    "    def status_update(self, driver, status):\n"
    "        if status.is_terminal:\n"
    "            self.done += 1\n"
    "            if self.done == 3:\n"
    "                driver.stop()\n"
    "\n"
    "cluster.run(Tiny(), name='tiny')\n"
    "print('TINY-DONE')\n"
    "time.sleep(90)",
]


def _notebook(path: Path, cells: list[str]) -> None:
    import json

    path.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "id": f"c{i}",
                        "metadata": {},
                        "execution_count": None,
                        "outputs": [],
                        "source": src,
                    }
                    for i, src in enumerate(cells)
                ],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )


def test_a_tab_clicked_while_a_cell_runs_draws_and_a_framework_of_a_few_ms_is_marked(lab_root: Path) -> None:
    """A cell that blocks (cluster.run, time.sleep) holds the tab click in the kernel's queue until it ends.

    The tab must draw anyway; and a framework that ran three tiny tasks and left within a pixel of time must
    still be findable in the allocation chart (a marker, and its name in the legend), not a hairline.
    """
    _notebook(lab_root / "busy.ipynb", _BUSY_NOTEBOOK)
    with jupyterlab(lab_root) as server, chromium(lab_root / ".chromium") as context:
        page = open_and_run(context, server, "busy.ipynb")
        with evidence(page, "busy"):
            page.wait_for_function("() => document.body.innerText.includes('TINY-DONE')", timeout=120_000)
            dash = page.locator(".jm-root").first
            dash.scroll_into_view_if_needed()
            for view in ("tasks", "allocation"):  # the cell sleeps for 90 s: these must not wait for it
                dash.locator(f".jm-tab[data-view='{view}']").click()
                dash.locator(f".jm-pane[data-view='{view}'] svg").wait_for(timeout=15_000)
            shot(page, dash, "busy-allocation.png")
            legend = dash.locator("svg.jm-allocation text.jm-sub", has_text="tiny (left)")
            legend.wait_for(timeout=15_000)
            # once the run is long enough for the framework to be under 4 px wide, it gets a marker
            dash.locator("svg.jm-allocation .jm-brief[data-fw='tiny']").wait_for(timeout=60_000)
            shot(page, dash, "busy-allocation-brief.png")
