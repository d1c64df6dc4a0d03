"""The dashboard's static files, the traversal guard, and what loading the plugin imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tb_netviz.plugin import static_files

FRONTEND = static_files.frontend_folder()
SERVED = sorted(e.name for e in FRONTEND.iterdir() if static_files.content_type_for(e.name))


def test_entry_point_module_imports_neither_torch_nor_tensorflow():
    code = (
        "import sys; from tensorboard.plugins import base_plugin; "
        "from tb_netviz.plugin.loader import NetVizLoader; NetVizLoader().load(base_plugin.TBContext()); "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_entry_point_is_registered_for_tensorboard():
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="tensorboard_plugins") if e.name == "netviz"]
    assert entry.value == "tb_netviz.plugin.loader:NetVizLoader"
    assert entry.load().__name__ == "NetVizLoader"


def test_the_dashboard_entry_module_and_stylesheet_are_among_the_served_files():
    assert "index.js" in SERVED and "style.css" in SERVED


@pytest.mark.parametrize("name", SERVED)
def test_each_dashboard_file_is_served_with_its_fixed_content_type(netviz, name):
    response = netviz.get(f"static/{name}")
    assert response.status_code == 200
    assert response.mimetype == static_files.content_type_for(name)
    assert response.get_data() == FRONTEND.joinpath(name).read_bytes()


def test_a_served_file_is_read_from_the_frontend_package(tmp_path, monkeypatch):
    package = tmp_path / "fake_frontend"
    package.mkdir()
    (package / "index.js").write_text("export function render() {}\n")
    (package / "notes.txt").write_text("not served")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert static_files.read_static_file("index.js", "fake_frontend") == (
        b"export function render() {}\n",
        "application/javascript",
    )
    assert static_files.read_static_file("notes.txt", "fake_frontend") is None
    assert static_files.read_static_file("missing.js", "fake_frontend") is None


@pytest.mark.parametrize(
    "path",
    [
        "static/../loader.py",
        "static/..%2floader.py",
        "static/%2e%2e/loader.py",
        "static/%2e%2e%2f%2e%2e%2fplugin%2floader.py",
        "static/..%5c..%5cloader.py",
        "static//etc/passwd",
        "static/%2fetc%2fpasswd",
        "static/../netviz_plugin.py",
        "static/../../plugin/http_api.md",
        "static/.hidden.js",
        "static/index.js%00.css",
        "static/nope.js",
        "static/index.html",
        "static/__init__.py",
    ],
)
def test_paths_leaving_the_folder_or_naming_other_files_are_404(netviz, path):
    response = netviz.client.get(f"/data/plugin/netviz/{path}")
    assert response.status_code == 404
    assert b"NetVizLoader" not in response.get_data()
