"""``sample_labels``: the probe batch's true classes, checked when the Keras callback is made."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tb_netviz.keras import NetVizCallback


def test_labels_are_kept_as_int64_class_indices(tmp_path):
    callback = NetVizCallback(
        tmp_path, sample_batch=np.zeros((3, 4), np.float32), sample_labels=tf.constant([2, 0, 1])
    )
    assert callback.sample_labels.dtype == np.int64
    assert callback.sample_labels.tolist() == [2, 0, 1]


def test_one_hot_labels_are_read_as_their_class(tmp_path):
    callback = NetVizCallback(
        tmp_path, sample_batch=np.zeros((2, 4), np.float32), sample_labels=np.eye(3)[[2, 1]]
    )
    assert callback.sample_labels.tolist() == [2, 1]


def test_label_count_is_taken_from_a_dict_batch(tmp_path):
    batch = {"a": np.zeros((2, 4), np.float32), "b": np.zeros((2, 1), np.float32)}
    with pytest.raises(ValueError, match="sample_labels has 3 labels but sample_batch has 2 samples"):
        NetVizCallback(tmp_path, sample_batch=batch, sample_labels=[0, 1, 1])


@pytest.mark.parametrize(
    ("labels", "error", "message"),
    [
        ([0, -2], ValueError, "sample_labels must be >= 0, got -2"),
        ([0.5, 1.0], TypeError, "sample_labels must be integer class indices"),
    ],
)
def test_bad_labels_are_refused_at_construction(tmp_path, labels, error, message):
    with pytest.raises(error, match=message):
        NetVizCallback(tmp_path, sample_batch=np.zeros((2, 4), np.float32), sample_labels=labels)


def test_labels_without_a_sample_batch_are_refused(tmp_path):
    with pytest.raises(ValueError, match="sample_labels needs a sample_batch"):
        NetVizCallback(tmp_path, sample_labels=[1])
