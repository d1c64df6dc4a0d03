"""The NetViz tab inside TensorBoard's own UI, and the dashboard's states outside the happy path."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from tests.browser import netviz_logs
from tests.browser.conftest import netviz_frame, open_dashboard, save_artifact
from tests.tb_server import TensorBoardServer


def test_netviz_tab_appears_in_tensorboard_and_shows_the_dashboard(new_page, tensorboard):
    watched = new_page()
    page = watched.page
    page.goto(f"{tensorboard.url}/#netviz")
    tab = page.get_by_role("tab", name="NetViz")
    tab.wait_for(timeout=60_000)
    frame = netviz_frame(page)
    frame.wait_for_selector(".bar-row", timeout=60_000)
    assert frame.locator("#nv-run").input_value() == "deep"
    assert frame.locator(".bar-row").count() == len(netviz_logs.LAYERS)
    assert frame.locator(".alert-link").count() > 0
    # The README's screenshot is taken from the demo's logs (test_demo_screenshot.py).
    save_artifact(page, "tab_in_tensorboard.png")
    assert watched.errors == []


def test_dashboard_follows_tensorboard_dark_mode(new_page, tensorboard):
    watched = new_page(color_scheme="dark")
    page = watched.page
    page.goto(f"{tensorboard.url}/#netviz")
    frame = netviz_frame(page)
    frame.wait_for_selector(".bar-row", timeout=60_000)
    frame.wait_for_function("document.documentElement.dataset.theme === 'dark'", timeout=10_000)
    background = frame.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(32, 33, 36)"
    save_artifact(page, "tab_dark_theme.png")
    page.evaluate("document.body.classList.remove('dark-mode')")
    frame.wait_for_function("document.documentElement.dataset.theme === 'light'", timeout=10_000)
    assert frame.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"


def test_empty_logdir_tells_the_user_to_add_the_callback_and_errors_offer_retry(new_page, tmp_path):
    with TensorBoardServer(tmp_path) as server:
        watched = new_page()
        page = watched.page
        page.goto(f"{server.url}/data/plugin_entry.html?name=netviz")
        page.wait_for_function("document.body.dataset.netvizPhase === 'empty'", timeout=30_000)
        status = page.locator(".status").inner_text()
        assert "No NetViz data" in status
        assert "NetVizCallback" in status
        save_artifact(page, "state_empty.png")
        server.stop()
        page.get_by_role("button", name="Reload").last.click()
        page.wait_for_function("document.body.dataset.netvizPhase === 'error'", timeout=30_000)
        status = page.locator(".status").inner_text()
        assert "TensorBoard did not answer" in status
        assert page.get_by_role("button", name="Retry").is_visible()
        save_artifact(page, "state_error.png")


def test_sampled_run_says_how_many_steps_were_kept_and_how_to_keep_all(new_page, tensorboard):
    watched = new_page()
    page = open_dashboard(watched, tensorboard, "long")
    notes = page.locator(".notes").inner_text()
    assert f"TensorBoard kept 100 of about {len(netviz_logs.LONG_STEPS)} logged steps" in notes
    assert "--samples_per_plugin=netviz=0" in notes
    save_artifact(page.locator(".toolbar"), "toolbar_sampling_note.png")


def gradient_flow_queries(watched) -> list[dict[str, str]]:
    """Start recording the query of every gradient_flow request the page makes."""
    queries: list[dict[str, str]] = []

    def record(request) -> None:
        url = urlsplit(request.url)
        if url.path.endswith("/data/plugin/netviz/gradient_flow"):
            queries.append(dict(parse_qsl(url.query)))

    watched.page.on("request", record)
    return queries


def test_growing_run_is_refreshed_by_fetching_only_the_new_steps(new_page, tensorboard, logdir):
    watched = new_page(refresh_ms=1000)
    queries = gradient_flow_queries(watched)
    page = open_dashboard(watched, tensorboard, "growing")
    assert page.locator(".step-label").inner_text().startswith("40 ")
    loaded = len(queries)
    # The layer detail asks for all columns of its one layer (`layers=`): a small, separate request.
    detail = [q for q in queries if q["run"] == "growing" and "layers" in q]
    assert detail and all("," not in q["layers"] and "stats" not in q for q in detail)
    shown = [q for q in queries if q["run"] == "growing" and q.get("max_steps") != "1" and "layers" not in q]
    assert shown and all(q["stats"] == "grad_l2" and "min_step" not in q for q in shown)
    netviz_logs.write_growing_run(logdir / "growing", steps=range(50, 80, 10))
    page.wait_for_function(
        "document.querySelector('.step-label').textContent.startsWith('70 ')", timeout=60_000
    )
    assert page.locator(".bars-panel h2").inner_text() == "Gradient flow at step 70"
    refreshes = [
        q
        for q in queries[loaded:]
        if q["run"] == "growing" and q.get("max_steps") != "1" and "layers" not in q
    ]
    assert refreshes and all(q["stats"] == "grad_l2" for q in refreshes)
    assert refreshes[0].get("min_step") == "41", refreshes
    assert all("min_step" in q for q in refreshes), refreshes
    steps = page.locator("#nv-step")
    assert steps.get_attribute("max") == str(len(range(0, 80, 10)) - 1)
    assert watched.errors == []
