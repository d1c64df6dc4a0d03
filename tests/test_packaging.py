"""`pip install .` gives a complete package: the wheel holds the code, the route contract,
every dashboard file and the TensorBoard entry point; `import tb_netviz` pulls in no framework.

The wheel is built from a copy of the sources, so the build leaves nothing in the
checkout; the dashboard files expected are whatever ``frontend/`` holds right now.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.summary_format.child_process import REPO, run_python_json

SOURCES = ["setup.py", "pyproject.toml", "README.md", "tb_netviz", "frontend"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built by pip from a copy of this checkout's sources."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation"]
    build = subprocess.run([*command, "-q", "-w", str(out)], capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stderr[-3000:]
    [path] = out.glob("tb_netviz-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_wheel_holds_every_summary_module_and_the_route_contract(wheel):
    names = set(wheel.namelist())
    modules = {f"tb_netviz/summary/{p.name}" for p in (REPO / "tb_netviz" / "summary").glob("*.py")}
    assert "tb_netviz/summary/__init__.py" in modules
    assert modules <= names, sorted(modules - names)
    assert "tb_netviz/plugin/http_api.md" in names


def test_wheel_holds_every_dashboard_file_under_the_plugin_package(wheel):
    frontend = REPO / "frontend"
    dashboard = sorted(p for pattern in ("*.js", "*.css") for p in frontend.rglob(pattern))
    assert dashboard, "frontend/ has no .js or .css file to ship"
    expected = {f"tb_netviz/plugin/frontend/{p.relative_to(frontend).as_posix()}" for p in dashboard}
    missing = expected - set(wheel.namelist())
    assert not missing, f"dashboard files missing from the wheel: {sorted(missing)}"


def test_wheel_registers_the_tensorboard_plugin_entry_point(wheel):
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    assert dict(parser["tensorboard_plugins"]) == {"netviz": "tb_netviz.plugin.loader:NetVizLoader"}


def test_wheel_requires_python_3_10_and_no_framework_in_the_base_install(wheel):
    [metadata] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    lines = wheel.read(metadata).decode().splitlines()
    assert "Requires-Python: >=3.10" in lines
    base = [
        line.split(":", 1)[1].strip()
        for line in lines
        if line.startswith("Requires-Dist:") and "extra" not in line
    ]
    base_names = {
        requirement.split(">")[0].split("=")[0].split("<")[0].strip().lower() for requirement in base
    }
    assert base_names == {"google-crc32c", "numpy", "protobuf", "tensorboard", "werkzeug"}
    extras = {line.split(":", 1)[1].strip() for line in lines if line.startswith("Provides-Extra:")}
    assert extras == {"torch", "lightning", "hf", "deepspeed", "keras", "remote", "dev"}


def test_the_unpacked_wheel_imports_and_finds_its_dashboard_files(wheel, tmp_path):
    wheel.extractall(tmp_path)
    code = """
        import json, sys
        # Take the unpacked wheel, not this checkout's editable install.
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()
                            and "editable" not in getattr(f, "__name__", "").lower()]
        sys.path.insert(0, sys.argv[1])
        import importlib.resources, tb_netviz
        files = sorted(p.name for p in importlib.resources.files("tb_netviz.plugin.frontend").iterdir())
        print(json.dumps({"module": tb_netviz.__file__, "files": files}))
    """
    result = run_python_json(code, str(tmp_path))
    assert result["module"].startswith(str(tmp_path))
    assert {p.name for p in (REPO / "frontend").glob("*.js")} <= set(result["files"])


FRAMEWORKS = ("torch", "tensorflow", "keras", "lightning", "transformers")


@pytest.mark.parametrize(
    "module", ["tb_netviz", "tb_netviz.summary", "tb_netviz.plugin.loader", "tb_netviz.hf"]
)
def test_importing_the_package_and_the_plugin_entry_point_imports_no_framework(module):
    code = """
        import importlib, json, sys
        importlib.import_module(sys.argv[1])
        frameworks = set(sys.argv[2:])
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in frameworks)))
    """
    assert run_python_json(code, module, *FRAMEWORKS) == []
