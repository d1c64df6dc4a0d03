"""Bad configuration fails clearly at construction; failures while logging never stop training."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn

from tb_netviz.summary import GRADIENT_FLOW_TAG, NetVizWriteWarning
from tb_netviz.torch import NetViz, SampleBatchError
from tests.torch_capture.events import Run, event_files


def test_sample_batch_the_model_cannot_take_is_named_at_construction(tmp_path):
    model = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(SampleBatchError, match=r"sample_batch cannot be run through Sequential.*shapes"):
        NetViz(model, tmp_path, sample_batch=torch.randn(2, 7))
    assert event_files(tmp_path) == []


def test_model_without_parameters_is_refused():
    with pytest.raises(ValueError, match="has no parameters"):
        NetViz(nn.Sequential(nn.ReLU()), "unused")


@pytest.mark.parametrize("value", [0, -3])
def test_log_every_n_steps_below_one_is_refused(value):
    with pytest.raises(ValueError, match="log_every_n_steps must be >= 1"):
        NetViz(nn.Linear(2, 2), "unused", log_every_n_steps=value)


def test_unknown_layer_pattern_is_refused_with_the_layer_names():
    with pytest.raises(ValueError, match=r"'encoder\.\*' matches no layer; layers are: 0, 1"):
        NetViz(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), "unused", layers=["encoder.*"])


def test_non_module_model_is_refused():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        NetViz(lambda x: x, "unused")


def test_failure_while_logging_warns_once_and_training_goes_on(tmp_path):
    class Flaky(nn.Module):
        """Fails on the probe batch from the second sample pass on (e.g. a stateful model)."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 1)
            self.calls = 0

        def forward(self, x):
            if not self.training:
                self.calls += 1
                if self.calls > 2:
                    raise RuntimeError("probe exploded")
            return self.fc(x)

    model = Flaky()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with NetViz(
            model, tmp_path, sample_batch=torch.randn(2, 3), log_every_n_steps=1, sample_every_n_steps=1
        ) as viz:
            for step in range(4):
                optimizer.zero_grad()
                model(torch.randn(4, 3)).sum().backward()
                viz.log_gradients(step)
                optimizer.step()
                viz.log_sample(step)
    dropped = [w for w in caught if issubclass(w.category, NetVizWriteWarning)]
    assert len(dropped) == 1
    assert "sample pass" in str(dropped[0].message) and "probe exploded" in str(dropped[0].message)
    assert "training goes on" in str(dropped[0].message)
    assert dropped[0].filename == __file__
    assert [step for step, _ in Run(tmp_path).values(GRADIENT_FLOW_TAG)] == [0, 1, 2, 3]


def test_step_must_be_a_non_negative_int(tmp_path):
    with NetViz(nn.Linear(2, 2), tmp_path) as viz:
        with pytest.raises(TypeError, match="step must be an int"):
            viz.log_gradients(1.5)
        with pytest.raises(ValueError, match="step must be >= 0"):
            viz.log_sample(-1)


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_imports_stay_lazy():
    out = run_python(
        "import sys, tb_netviz; a = 'torch' in sys.modules\n"
        "import tb_netviz.torch; b = 'lightning' in sys.modules\n"
        "from tb_netviz.torch import NetVizCallback; c = 'lightning' in sys.modules\n"
        "print(a, b, c, NetVizCallback.__mro__[1].__module__)"
    )
    assert out == "False False True lightning.pytorch.callbacks.callback"


def test_callback_without_lightning_says_how_to_install_it():
    out = run_python(
        "import sys; sys.modules['lightning'] = None\n"
        "import tb_netviz.torch\n"
        "try:\n"
        "    tb_netviz.torch.NetVizCallback\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    assert "pip install 'tb-netviz[lightning]'" in out
