"""Fixtures: real event files, a real data provider, the real TensorBoard WSGI app around the plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester, data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

from tb_netviz.plugin.loader import NetVizLoader
from tests.plugin_backend import netviz_logs


def python_multiplexer(
    logdir: Path, samples_per_plugin: dict[str, int]
) -> plugin_event_multiplexer.EventMultiplexer:
    """The event multiplexer ``tensorboard --load_fast=false`` builds, with the same size guidance, loaded."""
    tensor_guidance = {**data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE, **samples_per_plugin}
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE, tensor_size_guidance=tensor_guidance
    )
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return multiplexer


def python_data_provider(
    logdir: Path, samples_per_plugin: dict[str, int]
) -> data_provider.MultiplexerDataProvider:
    """The data provider ``tensorboard --load_fast=false`` builds over ``logdir``."""
    return data_provider.MultiplexerDataProvider(python_multiplexer(logdir, samples_per_plugin), str(logdir))


class NetVizClient:
    """The TensorBoard WSGI app holding only the netviz plugin, behind werkzeug's test client."""

    def __init__(self, logdir: Path, samples_per_plugin: dict[str, int]) -> None:
        self.logdir = logdir
        self.multiplexer = python_multiplexer(logdir, samples_per_plugin)
        provider = data_provider.MultiplexerDataProvider(self.multiplexer, str(logdir))
        context = base_plugin.TBContext(
            data_provider=provider, logdir=str(logdir), sampling_hints=samples_per_plugin
        )
        self.plugin = NetVizLoader().load(context)
        self.client = Client(application.TensorBoardWSGI([self.plugin], data_provider=provider))

    def reload(self) -> None:
        """Load events written since, as TensorBoard's reload loop does."""
        self.multiplexer.AddRunsFromDirectory(str(self.logdir))
        self.multiplexer.Reload()

    def get(self, route: str, **params):
        """GET ``/data/plugin/netviz/<route>``; returns the werkzeug response."""
        return self.client.get(f"/data/plugin/netviz/{route}", query_string=params)

    def json(self, route: str, **params) -> dict:
        """GET a route that must answer 200 with JSON; returns the decoded body."""
        response = self.get(route, **params)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        return json.loads(response.get_data(as_text=True))


@pytest.fixture(scope="session")
def logdir(tmp_path_factory) -> Path:
    return netviz_logs.write_logdir(tmp_path_factory.mktemp("netviz_logs"))


@pytest.fixture(scope="session")
def netviz(logdir) -> NetVizClient:
    """Every event kept (``--samples_per_plugin=netviz=0``)."""
    return NetVizClient(logdir, {"netviz": 0})


@pytest.fixture(scope="session")
def sampled_netviz(logdir) -> NetVizClient:
    """TensorBoard's default sampling of the Python loader: 10 events per netviz tag."""
    return NetVizClient(logdir, {})
