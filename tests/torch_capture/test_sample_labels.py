"""sample_labels: the probe batch's true classes, checked when NetViz or the Lightning callback is made."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tb_netviz.torch import NetViz
from tb_netviz.torch.lightning_callback import NetVizCallback


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3))


def test_labels_given_as_a_tensor_are_kept_as_int64_class_indices(tmp_path):
    with NetViz(
        _model(), tmp_path, sample_batch=torch.randn(3, 4), sample_labels=torch.tensor([2, 0, 1])
    ) as viz:
        assert viz.sample_labels.dtype == np.int64
        assert viz.sample_labels.tolist() == [2, 0, 1]


def test_one_hot_labels_are_read_as_their_class(tmp_path):
    one_hot = torch.nn.functional.one_hot(torch.tensor([1, 2]), 3)
    with NetViz(_model(), tmp_path, sample_batch=torch.randn(2, 4), sample_labels=one_hot) as viz:
        assert viz.sample_labels.tolist() == [1, 2]


def test_labels_count_is_taken_from_a_dict_batch(tmp_path):
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, a, b):
            return self.fc(a + b)

    batch = {"a": torch.randn(2, 4), "b": torch.randn(2, 4)}
    with pytest.raises(ValueError, match="sample_labels has 3 labels but sample_batch has 2 samples"):
        NetViz(TwoInputs(), tmp_path, sample_batch=batch, sample_labels=[0, 1, 1])


def test_no_labels_means_none(tmp_path):
    with NetViz(_model(), tmp_path, sample_batch=torch.randn(2, 4)) as viz:
        assert viz.sample_labels is None


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        ([0, 1], ValueError, "sample_labels has 2 labels but sample_batch has 3 samples"),
        ([0, -1, 2], ValueError, "sample_labels must be >= 0, got -1"),
        ([0.5, 1.0, 2.0], TypeError, "sample_labels must be integer class indices"),
        (np.zeros((3, 2, 2)), ValueError, r"sample_labels must be \[N\] class indices"),
    ],
)
def test_bad_labels_are_refused_by_netviz_before_any_file_is_written(tmp_path, labels, error, message):
    with pytest.raises(error, match=message):
        NetViz(_model(), tmp_path / "run", sample_batch=torch.randn(3, 4), sample_labels=labels)
    assert not (tmp_path / "run").exists()


def test_labels_without_a_sample_batch_are_refused(tmp_path):
    with pytest.raises(ValueError, match="sample_labels needs a sample_batch"):
        NetViz(_model(), tmp_path, sample_labels=[1])


def test_lightning_callback_checks_labels_at_construction():
    callback = NetVizCallback(sample_batch=torch.randn(2, 4), sample_labels=np.array([1, 0]))
    assert callback.sample_labels.tolist() == [1, 0]
    with pytest.raises(ValueError, match="sample_labels has 1 labels but sample_batch has 2 samples"):
        NetVizCallback(sample_batch=torch.randn(2, 4), sample_labels=[1])
    with pytest.raises(ValueError, match="sample_labels needs a sample_batch"):
        NetVizCallback(sample_labels=[1])
