"""A remote log_dir that cannot work fails at construction with an error naming the problem.

Before remote support, ``NetVizWriter("s3://bucket/run")`` made a local folder
named ``s3:`` and nothing reached the bucket; every case here also checks that
no local folder appears.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

import pytest

from tb_netviz.summary import EventWriter, LogDirError, NetVizWriter
from tb_netviz.summary.remote_writer import RemoteEventWriter
from tests.remote.conftest import BUCKET, REPO, child_env
from tests.server_process import free_port
from tests.summary_format.child_process import run_python


@pytest.fixture
def in_empty_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert list(tmp_path.iterdir()) == [], "a URL log_dir must never become a local folder"


@pytest.mark.parametrize(
    "log_dir, problem",
    [
        ("s3://", "names no bucket"),
        ("s3:///run", "names no bucket"),
        ("s3://bucket//run", "empty path segment"),
        ("s3://Not_A_Bucket/run", "not a valid s3:// bucket name"),
        ("s3://bucket/run?versionId=3", "no query or fragment"),
        ("s3://bucket/my run", "whitespace"),
        ("s3:/bucket/run", "lost a slash"),
        (pathlib.Path("s3://bucket/run"), "lost a slash"),
        ("nosuchprotocol://bucket/run", "fsspec knows no protocol 'nosuchprotocol'"),
    ],
    ids=lambda value: str(value),
)
def test_malformed_url_is_a_value_error_naming_it(in_empty_dir, log_dir, problem):
    with pytest.raises(ValueError) as error:
        NetVizWriter(log_dir)
    assert problem in str(error.value)
    assert str(log_dir) in str(error.value)


@pytest.mark.parametrize("framework", ["keras", "lightning"])
def test_callbacks_that_make_their_writer_at_fit_refuse_a_malformed_url_when_made(framework, in_empty_dir):
    if framework == "keras":
        from tb_netviz.keras import NetVizCallback
    else:
        from tb_netviz.torch import NetVizCallback
    with pytest.raises(ValueError, match="lost a slash"):
        NetVizCallback(log_dir=pathlib.Path("s3://bucket/run"))
    with pytest.raises(ValueError, match="fsspec knows no protocol"):
        NetVizCallback(log_dir="nosuchprotocol://bucket/run")


def test_collapsed_url_error_gives_the_url_to_pass_instead(in_empty_dir):
    with pytest.raises(ValueError, match=r"pass it as a str, 's3://bucket/run'"):
        NetVizWriter(pathlib.Path("s3://bucket/run"))


def _construct_in_child(log_dir: str, blocked_module: str) -> str:
    """Construct a writer where ``blocked_module`` cannot be imported; returns 'Type: message'."""
    code = f"""
        import sys
        sys.modules[{blocked_module!r}] = None  # as if it were not installed
        from tb_netviz.summary import NetVizWriter
        try:
            NetVizWriter({log_dir!r})
        except Exception as error:
            print(type(error).__name__, isinstance(error, ImportError), error, sep="|")
        if {blocked_module!r} != "fsspec":  # Lightning itself cannot be imported without fsspec
            from tb_netviz.torch import NetVizCallback
            try:
                NetVizCallback(log_dir={log_dir!r})
            except ImportError as error:
                print("|callback:", error)
    """
    finished = run_python(code)
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout.strip()


@pytest.mark.parametrize(
    "log_dir, blocked, named, callback_refuses",
    [
        (f"s3://{BUCKET}/run", "s3fs", "the package 's3fs': pip install 'tb-netviz[remote]'", True),
        ("gs://netviz-bucket/run", "gcsfs", "the package 'gcsfs': pip install gcsfs", True),
        # fsspec's HDFS imports pyarrow only when its file system is made (which connects): the writer refuses
        ("hdfs://namenode/run", "pyarrow", "the package 'pyarrow': pip install pyarrow", False),
        (f"s3://{BUCKET}/run", "fsspec", "needs fsspec and the package of its protocol", False),
    ],
    ids=["s3fs", "gcsfs", "pyarrow", "fsspec"],
)
def test_missing_protocol_package_is_an_import_error_naming_the_package(
    log_dir, blocked, named, callback_refuses
):
    made, *callback = _construct_in_child(log_dir, blocked).split("\n|callback:")
    kind, is_import_error, message = made.split("|")
    assert kind == "MissingProtocolPackageError" and is_import_error == "True"
    assert named in message and log_dir in message
    if callback_refuses:
        assert named in callback[0], "the Lightning callback refuses it when made, before fit"


def test_missing_bucket_is_a_log_dir_error_naming_the_url(s3, in_empty_dir, monkeypatch):
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(LogDirError) as error:
        NetVizWriter("s3://no-such-bucket/run")
    assert "'s3://no-such-bucket/run'" in str(error.value) and "bucket does not exist" in str(error.value)
    assert s3.objects(BUCKET, "run") == {}


def test_missing_credentials_is_a_log_dir_error(s3, tmp_path):
    env = child_env(s3)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        del env[key]
    env["HOME"] = str(tmp_path)  # no ~/.aws of this machine
    code = f"""
        from tb_netviz.summary import LogDirError, NetVizWriter
        try:
            NetVizWriter("s3://{BUCKET}/no-credentials")
        except LogDirError as error:
            print("LogDirError", error)
    """
    finished = run_python_in(code, env)
    assert finished.startswith("LogDirError") and "credentials" in finished.lower(), finished


def test_unreachable_store_is_a_log_dir_error(tmp_path):
    env = child_env(None, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}", AWS_ACCESS_KEY_ID="a")
    env.update(AWS_SECRET_ACCESS_KEY="b", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    code = f"""
        from tb_netviz.summary import LogDirError, NetVizWriter
        try:
            NetVizWriter("s3://{BUCKET}/unreachable")
        except LogDirError as error:
            print("LogDirError", error)
    """
    finished = run_python_in(code, env)
    assert finished.startswith("LogDirError") and "Could not connect to the endpoint" in finished, finished


def run_python_in(code: str, env: dict[str, str]) -> str:
    """Run ``code`` in a fresh interpreter with exactly ``env``; returns what it printed."""
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout.strip()


def test_local_paths_and_file_urls_keep_the_local_writer(tmp_path):
    for log_dir in (tmp_path / "plain", str(tmp_path / "text"), f"file://{tmp_path}/url"):
        with NetVizWriter(log_dir) as writer:
            assert type(writer.events) is EventWriter
            writer.scalar(0, "loss", 1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "text", "url"]
    assert all(
        len(list((tmp_path / name).glob("events.out.tfevents.*"))) == 1 for name in ("plain", "text", "url")
    )


def test_remote_writer_options_out_of_range_are_value_errors():
    for options, named in (
        ({"segment_bytes": 0}, "segment_bytes"),
        ({"segment_bytes": 1 << 20, "max_buffer_bytes": 1 << 20}, r"at least 2 \* segment_bytes"),
        ({"segment_secs": 0}, "segment_secs"),
        ({"retry_max_secs": -1.0}, "retry_max_secs"),
        ({"flush_secs": 0}, "flush_secs"),
    ):
        with pytest.raises(ValueError, match=named):
            RemoteEventWriter("memory://netviz-test/options", **options)
