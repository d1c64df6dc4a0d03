"""Fixtures for the dashboard's browser tests: real logs written by ``NetVizWriter``,
a real ``tensorboard`` process serving them, and Debian's headless Chromium driven
by Python Playwright. A missing Chromium is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.browser import netviz_logs
from tests.tb_server import TensorBoardServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
VIEWPORT = {"width": 1400, "height": 1000}
# The demo's runs (python -m demo --quick): see test_demo_screenshot.py.
DEMO_RUNS = ("torch_vanishing_mlp", "torch_exploding_lr", "lightning_reversal")


@pytest.fixture(scope="session")
def logdir(tmp_path_factory) -> Path:
    """The log directory: the ``deep``, ``long`` and ``growing`` runs."""
    root = netviz_logs.write_logdir(tmp_path_factory.mktemp("netviz-logs"))
    netviz_logs.write_growing_run(root / "growing", steps=range(0, 50, 10))
    return root


@pytest.fixture(scope="session")
def tensorboard(logdir):
    """A real tensorboard process over ``logdir`` with its default loader and sampling."""
    with TensorBoardServer(logdir) as server:
        server.wait_for(
            lambda: b'"growing"' in server.get("/data/plugin/netviz/runs")[1], "the netviz runs to load"
        )
        status, _, _ = server.get("/data/plugin/netviz/static/index.js")
        assert status == 200, (
            "TensorBoard does not serve the dashboard (/data/plugin/netviz/static/index.js answered "
            f"{status}): the plugin cannot find the frontend files"
        )
        yield server


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's package); fails when it is not installed."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.fail(
            f"Chromium is required for the browser tests: {CHROMIUM} is missing (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page plus what it did that a test may need to assert never happened.

    ``errors`` collects uncaught exceptions, console errors other than failed
    resource loads (Chromium logs one for the favicon TensorBoard does not serve
    at the iframe's path), and every netviz route that answered with an error.
    """

    def __init__(self, page):
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response) -> None:
        if "/data/plugin/netviz/" in response.url and response.status >= 400:
            self.errors.append(f"{response.status} {response.url}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def new_page(browser):
    """Open pages in fresh contexts (light theme unless asked); closes them after the test."""
    contexts = []

    def open_page(color_scheme: str = "light", refresh_ms: int | None = None) -> Watched:
        context = browser.new_context(viewport=VIEWPORT, color_scheme=color_scheme)
        if refresh_ms is not None:
            context.add_init_script(f"window.NETVIZ_REFRESH_MS = {int(refresh_ms)};")
        contexts.append(context)
        return Watched(context.new_page())

    yield open_page
    for context in contexts:
        context.close()


def open_dashboard(watched: Watched, server: TensorBoardServer, run: str | None = None):
    """Load the plugin's iframe document directly (what TensorBoard's tab embeds); wait until ready."""
    page = watched.page
    page.goto(f"{server.url}/data/plugin_entry.html?name=netviz")
    page.wait_for_function("document.body.dataset.netvizPhase === 'ready'", timeout=30_000)
    if run is not None and page.locator("#nv-run").input_value() != run:
        page.select_option("#nv-run", run)
        page.wait_for_function(
            "run => document.body.dataset.netvizPhase === 'ready'"
            " && document.querySelector('#nv-run').value === run",
            arg=run,
            timeout=30_000,
        )
    return page


@pytest.fixture
def dashboard(new_page, tensorboard):
    """The dashboard of the ``deep`` run, loaded and ready."""
    watched = new_page()
    open_dashboard(watched, tensorboard, "deep")
    return watched


def netviz_frame(page, timeout_ms: int = 60_000):
    """The plugin iframe TensorBoard creates for the NetViz tab, once it has navigated to the plugin.

    The iframe element exists before its frame has the plugin's URL, so the frame is polled for.
    """
    page.wait_for_selector("iframe[src*='plugin_entry.html?name=netviz']", timeout=timeout_ms)
    for _ in range(timeout_ms // 100):
        frame = next((f for f in page.frames if "plugin_entry.html?name=netviz" in f.url), None)
        if frame is not None:
            return frame
        page.wait_for_timeout(100)
    raise AssertionError("TensorBoard's NetViz iframe never loaded the plugin's page")


def save_artifact(target, name: str) -> Path:
    """Save a screenshot of a page or element under test-artifacts/browser/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    target.screenshot(path=str(path))
    return path


@pytest.fixture(scope="session")
def demo_logdir(tmp_path_factory) -> Path:
    """The demo's runs: NETVIZ_DEMO_LOGDIR when set, else written now by the quick demo."""
    existing = os.environ.get("NETVIZ_DEMO_LOGDIR")
    if existing:
        root = Path(existing)
        missing = [run for run in DEMO_RUNS if not (root / run).is_dir()]
        assert not missing, f"NETVIZ_DEMO_LOGDIR={root} lacks the demo runs {missing}"
        return root
    root = tmp_path_factory.mktemp("demo-logs")
    command = [sys.executable, "-m", "demo", "--quick", "--only", "vanishing", "exploding", "lightning"]
    result = subprocess.run(
        [*command, "--logdir", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, f"the demo failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return root


@pytest.fixture(scope="session")
def demo_tensorboard(demo_logdir):
    """TensorBoard over the demo's runs, keeping every logged step."""
    with TensorBoardServer(demo_logdir, extra_args=["--samples_per_plugin=netviz=0"]) as server:

        def all_runs_loaded() -> bool:
            runs = json.loads(server.get("/data/plugin/netviz/runs")[1])["runs"]
            names = {run["run"] for run in runs}
            return set(DEMO_RUNS) <= names and all(run["gradient_flow"] for run in runs)

        server.wait_for(all_runs_loaded, "the demo's runs to load")
        yield server
