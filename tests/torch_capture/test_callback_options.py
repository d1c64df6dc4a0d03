"""The torch entry points take the capture options by one definition: same names, same help, same errors."""

from __future__ import annotations

import dataclasses
import pydoc
import tempfile

import pytest
from torch import nn

from tb_netviz.summary import AlertThresholds, CaptureOptions


def plain_loop(**options):
    from tb_netviz.torch import NetViz

    with tempfile.TemporaryDirectory() as log_dir, NetViz(nn.Linear(2, 2), log_dir, **options) as viz:
        return viz


def lightning(**options):
    from tb_netviz.torch import NetVizCallback

    return NetVizCallback(**options)


def hugging_face(**options):
    from tb_netviz.hf import NetVizCallback

    return NetVizCallback(**options)


TAKERS = [("NetViz", plain_loop), ("NetVizCallback", lightning), ("NetVizCallback", hugging_face)]
IDS = ["plain loop", "lightning", "hugging face"]


@pytest.mark.parametrize(("name", "make"), TAKERS, ids=IDS)
def test_an_unknown_option_is_named_with_the_option_meant(name, make):
    with pytest.raises(TypeError, match=rf"^{name} got unknown option\(s\) \['sample_every'\] "):
        make(sample_every=5)
    with pytest.raises(TypeError, match=r"did you mean 'sample_every_n_steps'\?"):
        make(sample_every=5)


@pytest.mark.parametrize(("name", "make"), TAKERS, ids=IDS)
def test_the_options_given_are_the_options_in_force(name, make):
    thresholds = AlertThresholds(patience=5)
    made = make(log_every_n_steps=3, weight_layers=["*"], alert_thresholds=thresholds, embedding=False)
    expected = CaptureOptions(log_every_n_steps=3, weight_layers=["*"], alert_thresholds=thresholds)
    assert made.options == dataclasses.replace(expected, embedding=False)
    assert make(alert_thresholds=None).options.alert_thresholds == AlertThresholds()


@pytest.mark.parametrize(("name", "make"), TAKERS, ids=IDS)
def test_help_describes_every_option(name, make):
    shown = pydoc.render_doc(type(make()), renderer=pydoc.plaintext)
    missing = [f.name for f in dataclasses.fields(CaptureOptions) if f"{f.name}: " not in shown]
    assert missing == []
    assert "{capture_options}" not in shown


def test_every_callbacks_signature_resolves_its_options_at_run_time():
    # Tools that build configs from signatures (jsonargparse for LightningCLI, pydantic) need the
    # annotations to resolve: **capture_options is typed by the one CaptureOptionKwargs.
    import typing

    from tb_netviz.hf import NetVizCallback as HFCallback
    from tb_netviz.keras import NetVizCallback as KerasCallback
    from tb_netviz.summary.options import CaptureOptionKwargs
    from tb_netviz.torch import NetViz, NetVizCallback

    for callback in (NetViz, NetVizCallback, HFCallback, KerasCallback):
        hints = typing.get_type_hints(callback.__init__)
        assert typing.get_args(hints["capture_options"]) == (CaptureOptionKwargs,), callback
