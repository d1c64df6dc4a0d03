"""Real training runs for the browser tests of the probe views, and the helpers those tests share.

``train_digits`` trains a small network on scikit-learn's digits under ``NetViz``: 30
optimizer steps, gradient flow at every one, the probe pass (with the true labels) at
``SAMPLE_STEPS``. ``open_view`` opens the dashboard on a run and waits for a view to draw;
``plugin_json`` reads one of the plugin's routes as the dashboard does; ``screenshot_panels``
saves the views' screenshots under test-artifacts/browser/.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn

from tb_netviz.torch import NetViz
from tests.browser.conftest import Watched, open_dashboard, save_artifact
from tests.tb_server import TensorBoardServer

STEPS = 30
BATCH = 32
SAMPLE_EVERY = 10
SAMPLE_STEPS = [0, 10, 20, 29]  # every SAMPLE_EVERY steps, and the last


def train_digits(run_dir: Path, build: Callable[[], nn.Module], samples: int, probe: int, **options) -> None:
    """Train ``build()`` (made after seeding torch with 0) with Adam on the first ``samples``
    digits (8x8 images ``[N, 1, 8, 8]`` in [0, 1]) in batches of ``BATCH``, writing to ``run_dir``
    with ``NetViz``: the first ``probe`` digits and their labels are the probe batch; ``options``
    are more ``NetViz`` options (``gradcam=True``...)."""
    digits = load_digits()
    x = torch.tensor(digits.images[:samples, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target[:samples])
    torch.manual_seed(0)
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    with NetViz(
        model,
        run_dir,
        sample_batch=x[:probe],
        sample_labels=y[:probe],
        log_every_n_steps=1,
        sample_every_n_steps=SAMPLE_EVERY,
        **options,
    ) as viz:
        for step in range(STEPS):
            start = (step * BATCH) % (samples - BATCH)
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[start : start + BATCH]), y[start : start + BATCH]).backward()
            viz.log_gradients(step)
            optimizer.step()
            viz.log_sample(step)


def plugin_json(server: TensorBoardServer, route: str, **params) -> dict:
    """The JSON answer of the plugin's ``route`` with query ``params``; it must be a 200."""
    status, body, _ = server.get(f"/data/plugin/netviz/{route}?{urllib.parse.urlencode(params)}")
    assert status == 200, body
    return json.loads(body)


def screenshot_panels(watched: Watched, scheme: str, width: int, panels: dict[str, str]) -> None:
    """Save ``<name>_<width>_<scheme>.png`` of each panel (``{name: selector}``), checking first
    that the page has that theme and that the panel fits the viewport (no horizontal overflow)."""
    page = watched.page
    assert page.evaluate("document.documentElement.dataset.theme") == scheme
    for name, selector in panels.items():
        panel = page.locator(selector)
        panel.scroll_into_view_if_needed()
        assert panel.bounding_box()["width"] <= width
        save_artifact(panel, f"{name}_{width}_{scheme}.png")
    assert watched.errors == []


def open_view(new_page, server, run: str, drawn: str, color_scheme="light", width=1400) -> Watched:
    """A page of the dashboard on ``run`` at ``width`` px, once the script ``drawn`` is true."""
    watched = new_page(color_scheme=color_scheme)
    watched.page.set_viewport_size({"width": width, "height": 1000})
    open_dashboard(watched, server, run)
    watched.page.wait_for_function(drawn, timeout=30_000)
    return watched
