"""The callbacks write runs to ``s3://``; a real TensorBoard reads them from the store and the NetViz
routes answer what they answer for the same runs written to a local directory.

The store is a real S3-protocol server (moto, a process on 127.0.0.1). TensorBoard
runs without TensorFlow (``tests.remote.tensorboard_without_tf``), reading
``s3://`` through its own boto3 file system with ``S3_ENDPOINT``; its Python
loader then keeps 10 events per netviz tag unless told
``--samples_per_plugin=netviz=0``, which both servers here are.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tb_netviz.summary import GRADIENT_FLOW_TAG
from tests.remote.conftest import BUCKET, REPO, child_env, stored_events, train
from tests.tb_server import TensorBoardServer

ROUTES = "/data/plugin/netviz/"
READ_EVERYTHING = ["--samples_per_plugin=netviz=0,images=0", "--reload_interval=1"]
RUNS = {"torch": 12, "keras": 12}


@pytest.fixture(scope="module")
def logdirs(s3, tmp_path_factory):
    """The same torch and Keras runs written to ``s3://netviz/runs`` and to a local directory."""
    local = tmp_path_factory.mktemp("local_runs")
    results = {}
    for kind, steps in RUNS.items():
        for log_dir in (f"s3://{BUCKET}/runs/{kind}", str(local / kind)):
            results[log_dir] = train(kind, log_dir, "--steps", str(steps), env=child_env(s3))
    return {"remote": f"s3://{BUCKET}/runs", "local": local, "results": results}


@pytest.fixture(scope="module")
def servers(s3, logdirs):
    remote = TensorBoardServer(
        logdirs["remote"],
        load_fast=False,
        extra_args=READ_EVERYTHING,
        module="tests.remote.tensorboard_without_tf",
        env=child_env(s3),
    )
    local = TensorBoardServer(logdirs["local"], load_fast=False, extra_args=READ_EVERYTHING)
    with remote, local:
        for server in (remote, local):
            server.wait_for(lambda server=server: _all_runs_loaded(server), "both runs to load")
        yield {"remote": remote, "local": local}


def _all_runs_loaded(server: TensorBoardServer) -> bool:
    runs = {run["run"]: run for run in _get(server, "runs")["runs"]}
    return set(runs) == set(RUNS) and all(
        runs[name]["sampling"].get("gradient_flow", {}).get("kept") == steps for name, steps in RUNS.items()
    )


def _get(server: TensorBoardServer, route: str, **params) -> dict:
    status, body, content_type = server.get(ROUTES + route + "?" + urllib.parse.urlencode(params))
    assert status == 200 and content_type.startswith("application/json"), (route, params, status, body[:300])
    return json.loads(body)


def _without_wall_times(answer):
    """Wall times differ between two runs of the same training; everything else must not."""
    if isinstance(answer, dict):
        return {key: _without_wall_times(value) for key, value in answer.items() if "wall_time" not in key}
    if isinstance(answer, list):
        return [_without_wall_times(value) for value in answer]
    return answer


def test_each_callback_wrote_its_run_to_the_bucket_and_training_dropped_nothing(s3, logdirs):
    for kind, steps in RUNS.items():
        files = stored_events(s3, f"runs/{kind}/")
        assert files, f"nothing under s3://{BUCKET}/runs/{kind}"
        assert all(name.rsplit("/", 1)[1].startswith("events.out.tfevents.") for name, _ in files)
        logged = [
            e.step
            for _, events in files
            for e in events
            for v in e.summary.value
            if v.tag == GRADIENT_FLOW_TAG
        ]
        assert logged == list(range(steps))
        result = logdirs["results"][f"s3://{BUCKET}/runs/{kind}"]
        assert result["dropped"] == 0 and result["warnings"] == []


def test_runs_route_describes_the_remote_runs_as_the_local_ones(servers):
    remote, local = (_get(servers[side], "runs") for side in ("remote", "local"))
    assert _without_wall_times(remote) == _without_wall_times(local)
    assert {run["run"] for run in remote["runs"]} == set(RUNS)


@pytest.mark.parametrize("run", sorted(RUNS))
@pytest.mark.parametrize("route", ["gradient_flow", "activations", "alerts"])
def test_table_and_alert_routes_answer_the_same_values_from_s3_as_from_local_disk(servers, run, route):
    remote = _get(servers["remote"], route, run=run)
    local = _get(servers["local"], route, run=run)
    assert _without_wall_times(remote) == _without_wall_times(local)
    if route != "alerts":
        assert remote["steps"] and remote["values"]


@pytest.mark.parametrize("run", sorted(RUNS))
def test_feature_maps_from_s3_are_the_same_pngs_as_from_local_disk(servers, run):
    runs = {entry["run"]: entry for entry in _get(servers["local"], "runs")["runs"]}
    assert runs[run]["feature_map_layers"]
    for layer in runs[run]["feature_map_layers"]:
        listing = {side: _get(servers[side], "feature_maps", run=run, layer=layer) for side in servers}
        assert listing["remote"]["steps"] == listing["local"]["steps"] == [0, 5, 10, 11]
        for step in listing["local"]["steps"]:
            query = urllib.parse.urlencode({"run": run, "layer": layer, "step": step})
            pngs = {side: servers[side].get(f"{ROUTES}feature_maps?{query}") for side in servers}
            assert pngs["remote"][0] == pngs["local"][0] == 200
            assert pngs["remote"][1] == pngs["local"][1] and pngs["remote"][1].startswith(b"\x89PNG")


def test_lightning_callback_writes_to_the_trainers_remote_default_root_dir(s3):
    result = train("lightning", f"s3://{BUCKET}/lightning/root", "--steps", "4", env=child_env(s3))
    assert result["log_dir"] == f"s3://{BUCKET}/lightning/root"
    files = stored_events(s3, "lightning/root/")
    assert [e.step for _, ev in files for e in ev for v in e.summary.value if v.tag == GRADIENT_FLOW_TAG] == [
        0,
        1,
        2,
        3,
    ]


def test_lightning_callback_writes_into_the_remote_run_of_its_tensorboard_logger(s3):
    # Lightning's TensorBoardLogger writes s3:// through TensorBoard's own file system: without TensorFlow.
    result = train(
        "lightning",
        f"s3://{BUCKET}/lightning/logged",
        "--steps",
        "4",
        "--tensorboard-logger",
        "--without-tensorflow",
        env=child_env(s3),
    )
    assert result["log_dir"] == f"s3://{BUCKET}/lightning/logged/tb/version_0"
    files = stored_events(s3, "lightning/logged/tb/version_0/")
    netviz = [(name, ev) for name, ev in files if name.endswith(".netviz")]
    assert len(netviz) == 1 and len(files) == 2  # the logger's own event file beside the netviz one
    assert [
        e.step for _, ev in netviz for e in ev for v in e.summary.value if v.tag == GRADIENT_FLOW_TAG
    ] == [
        0,
        1,
        2,
        3,
    ]


def test_projector_export_goes_to_the_bucket_as_for_a_local_run_and_nothing_lands_locally(s3, logdirs):
    assert not (REPO / "s3:").exists(), "a URL log_dir became a local folder"
    exported = 0
    for kind in RUNS:
        local = logdirs["local"] / kind
        local_files = {
            path.relative_to(local).as_posix(): path.read_bytes()
            for path in local.rglob("*")
            if path.is_file() and "tfevents" not in path.name and not path.name.startswith(".")
        }
        remote = {
            key.split(f"runs/{kind}/", 1)[1]: data
            for key, data in s3.objects(BUCKET, f"runs/{kind}/").items()
            if "tfevents" not in key
        }
        assert remote == local_files
        exported += "projector_config.pbtxt" in remote
    assert exported, "at least one run exports its embedding to TensorBoard's Projector"
