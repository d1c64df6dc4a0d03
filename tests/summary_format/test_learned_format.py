"""The weights and embedding format against plain numpy references (kernel layouts, pooling, PCA)."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest
from google.protobuf import text_format
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

from tb_netviz.summary import CaptureOptions, NetVizWriter
from tb_netviz.summary.embedding import EmbeddingProjection, principal_components
from tb_netviz.summary.learned import (
    NO_EMBEDDING,
    EmbeddingSeries,
    WeightSeries,
    choose_weight_layers,
    embedding_target,
    weight_view_bytes,
)
from tb_netviz.summary.projector import CONFIG_FILENAME, ProjectorExport, metadata_tsv, read_config
from tb_netviz.summary.weight_images import diverging_rgb
from tb_netviz.summary.weights import kernel_view, matrix_view
from tests.summary_format.png_decode import decode_png
from tests.torch_capture.events import Run

RNG = np.random.default_rng(13)


def reference_tile(kernel_oi_k: np.ndarray, o: int, i: int) -> np.ndarray:
    """What one tile must be, from an [out, in, *k] kernel, by plain indexing."""
    tile = kernel_oi_k[o, i]
    if tile.ndim == 3:
        return tile[tile.shape[0] // 2]
    if tile.ndim == 1:
        return tile[None, :]
    return tile


@pytest.mark.parametrize("spatial", [(5,), (3, 4), (3, 2, 5)], ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("axes", ["oik", "iok", "kio", "koi"])
def test_every_kernel_layout_gives_out_by_in_tiles_of_the_same_weights(spatial, axes):
    canonical = RNG.normal(size=(6, 4, *spatial))  # [out, in, *k]
    k = tuple(range(2, 2 + len(spatial)))
    stored = {
        "oik": canonical,
        "iok": canonical.transpose(1, 0, *k),
        "kio": canonical.transpose(*k, 1, 0),
        "koi": canonical.transpose(*k, 0, 1),
    }[axes]
    view = kernel_view(stored, axes, max_channels=16)
    assert view.values.shape[:2] == (6, 4)
    for o in range(6):
        for i in range(4):
            np.testing.assert_allclose(view.values[o, i], reference_tile(canonical, o, i), rtol=1e-6)
    assert view.content["dims"] == len(spatial)
    assert view.content["kernel_size"] == list(spatial)
    assert ("depth_slice" in view.content) == (len(spatial) == 3)


def test_max_channels_keeps_the_first_channels_and_says_how_many_there_are():
    view = kernel_view(RNG.normal(size=(40, 20, 3, 3)), "oik", max_channels=8)
    assert view.values.shape == (8, 8, 3, 3)
    assert (view.content["out_channels"], view.content["in_channels"], view.content["shown"]) == (
        40,
        20,
        [8, 8],
    )


def naive_pool(matrix: np.ndarray, block: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = -(-matrix.shape[0] // block[0]), -(-matrix.shape[1] // block[1])
    extreme, mean = np.zeros((rows, cols)), np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            part = matrix[r * block[0] : (r + 1) * block[0], c * block[1] : (c + 1) * block[1]]
            extreme[r, c] = part.flat[np.argmax(np.abs(part))]
            mean[r, c] = part.mean()
    return extreme, mean


@pytest.mark.parametrize("shape", [(1000, 300), (257, 256), (4096, 1030)])
def test_a_large_matrix_is_block_pooled_to_at_most_256_with_extreme_and_mean(shape):
    matrix = RNG.normal(size=shape)
    matrix[5, 7] = 40.0  # one large weight survives pooling
    view = matrix_view(matrix, "oi")
    block = tuple(view.content["block"])
    extreme, mean = naive_pool(matrix, block)
    assert view.values.shape[1] <= 256 and view.values.shape[2] <= 256
    np.testing.assert_allclose(view.values[0], extreme, rtol=1e-6)
    np.testing.assert_allclose(view.values[1], mean, rtol=1e-5, atol=1e-6)
    assert view.values[0].max() == pytest.approx(40.0)
    assert view.content["pools"] == ["extreme", "mean"]
    assert weight_view_bytes("matrix", shape, "oi", 16) == 2 * view.values.nbytes


def test_a_small_matrix_is_written_as_it_is_with_rows_as_output_units():
    keras_kernel = RNG.normal(size=(30, 10))  # Keras Dense: [in, out]
    view = matrix_view(keras_kernel, "io")
    assert view.content["pools"] == ["value"] and view.content["block"] == [1, 1]
    np.testing.assert_array_equal(view.values[0], keras_kernel.T.astype(np.float32))


def test_weight_series_stacks_w_t_and_the_change_since_the_first_step(tmp_path):
    first = RNG.normal(size=(8, 3, 3, 3)).astype(np.float32)
    later = first + RNG.normal(size=first.shape).astype(np.float32)
    series = WeightSeries("conv", "kernel", "oik", max_channels=16)
    with NetVizWriter(tmp_path) as writer:
        writer.weights(0, series, first)
        writer.weights(50, series, later)
    run = Run(tmp_path)
    (step0, at0), (step50, at50) = run.values("netviz/weights/conv")
    assert (step0, step50) == (0, 50)
    np.testing.assert_array_equal(at50[0], later)
    np.testing.assert_allclose(at50[1], later - first, atol=1e-6)
    np.testing.assert_array_equal(at0[1], np.zeros_like(first))
    content = run.content("netviz/weights/conv")
    assert content["kind"] == "weights" and content["views"] == ["weights", "change"]
    assert content["first_step"] == 0 and content["layout"] == "kernel"


def test_kernel_pictures_share_one_zero_centred_scale_and_rgb_kernels_exist_for_3_inputs(tmp_path):
    kernel = np.zeros((2, 3, 3, 3), np.float32)
    kernel[0, 0, 1, 1] = 2.0
    kernel[1, 2, 0, 0] = -1.0
    with NetVizWriter(tmp_path) as writer:
        writer.weights(0, WeightSeries("conv1", "kernel", "oik"), kernel)
    run = Run(tmp_path)
    grid = decode_png(run.values("netviz/weight_images/conv1")[0][1][2])
    zoom = 4  # 3x3 tiles drawn 12 px high
    centre_of_tile = grid[1 * zoom + 1, 1 * zoom + 1]
    assert (
        centre_of_tile.tolist() == diverging_rgb(np.array(1.0), 1.0).tolist()
    )  # 2.0 is the top of the scale
    negative = grid[(3 * zoom + 1) + 0, (2 * (3 * zoom + 1))]
    assert negative.tolist() == diverging_rgb(np.array(-0.5), 1.0).tolist()  # -1 on a scale of 2
    rgb = decode_png(run.values("netviz/kernel_rgb/conv1")[0][1][2])
    assert rgb.shape == (12, 2 * 12 + 1, 3)
    assert rgb[zoom + 1, zoom + 1].tolist() == [255, 128, 128]  # +max in red, zero elsewhere


def test_pca_coordinates_and_explained_variance_match_numpy_svd():
    features = RNG.normal(size=(40, 12)) @ RNG.normal(size=(12, 12))
    coords, ratio = principal_components(features)
    centred = features - features.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    for k in range(3):
        reference = u[:, k] * s[k]
        sign = np.sign(reference @ coords[:, k])
        np.testing.assert_allclose(coords[:, k], sign * reference, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ratio, s[:3] ** 2 / np.sum(s**2), rtol=1e-10)
    centred_var = np.var(coords, axis=0) * len(coords)
    np.testing.assert_allclose(centred_var / np.sum(centred**2), ratio, rtol=1e-8)


def test_signs_and_order_stay_aligned_from_one_step_to_the_next():
    samples = RNG.normal(size=(30, 3))
    base = np.linalg.qr(samples - samples.mean(axis=0))[0] * np.array([5.0, 2.0, 1.0])  # uncorrelated columns
    mixing = np.linalg.qr(RNG.normal(size=(6, 6)))[0][:3]
    projection = EmbeddingProjection()
    first, _ = projection.project(base @ mixing)
    # The next step: the second direction has grown past the first, and one sign is flipped.
    swapped = base * np.array([1.0, 4.0, -1.0])
    second, ratio = projection.project(swapped @ mixing)
    for k in range(3):
        assert np.corrcoef(first[:, k], second[:, k])[0, 1] > 0.99
    assert ratio[1] > ratio[0]  # pc1 is kept as pc1 though it is now the smaller one
    unaligned, _ = principal_components(swapped @ mixing)
    assert abs(np.corrcoef(first[:, 0], unaligned[:, 0])[0, 1]) < 0.5


def test_embedding_rows_carry_coordinates_labels_and_a_variance_row(tmp_path):
    features = RNG.normal(size=(10, 5)).astype(np.float32)
    series = EmbeddingSeries("fc", "input", run_dir=None)
    with NetVizWriter(tmp_path) as writer:
        writer.embedding(3, series, features, np.arange(10) % 4, "sample_labels")
    run = Run(tmp_path)
    [(step, rows)] = run.values("netviz/embedding/fc")
    coords, ratio = principal_components(features.astype(np.float64))
    assert step == 3 and rows.shape == (11, 4)
    np.testing.assert_allclose(rows[:10, :3], coords, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(rows[:10, 3], np.arange(10) % 4)
    np.testing.assert_allclose(rows[10, :3], ratio, rtol=1e-5)
    content = run.content("netviz/embedding/fc")
    assert content["columns"] == ["pc1", "pc2", "pc3", "label"] and content["label_source"] == "sample_labels"
    assert content["last_row"] == "explained_variance_ratio" and content["of"] == "input"


def test_a_probe_batch_of_one_sample_is_refused_with_a_clear_error(tmp_path):
    with NetVizWriter(tmp_path) as writer, pytest.raises(ValueError, match="at least 2 samples"):
        writer.embedding(0, EmbeddingSeries("fc"), np.ones((1, 4)), [0], "predicted")


def test_labels_whose_count_differs_from_the_samples_are_refused(tmp_path):
    with NetVizWriter(tmp_path) as writer, pytest.raises(ValueError, match="5 samples"):
        writer.embedding(0, EmbeddingSeries("fc"), np.ones((5, 4)), [0, 1], "predicted")


def test_projector_metadata_has_a_header_row_only_with_more_than_one_column():
    assert metadata_tsv({"label": ["a", "b"]}, 2) == "a\nb\n"
    assert metadata_tsv({"sample": [0, 1], "label": ["a\tb", "c"]}, 2) == "sample\tlabel\n0\ta b\n1\tc\n"


def test_projector_export_merges_with_a_config_another_writer_left(tmp_path):
    theirs = ProjectorConfig()
    entry = theirs.embeddings.add()
    entry.tensor_name, entry.tensor_path = "word_vectors", "words.tsv"
    (tmp_path / CONFIG_FILENAME).write_text(text_format.MessageToString(theirs))
    export = ProjectorExport(tmp_path)
    export.write(0, "head/dense", RNG.normal(size=(4, 3)), {"sample": [0, 1, 2, 3], "label": [1, 2, 3, 4]})
    export.write(100, "head/dense", RNG.normal(size=(4, 3)), {"sample": [0, 1, 2, 3], "label": [1, 2, 3, 4]})
    export.write(100, "head/dense", np.ones((4, 3)), {"sample": [0, 1, 2, 3], "label": [1, 2, 3, 4]})
    config = read_config(str(tmp_path))
    names = [e.tensor_name for e in config.embeddings]
    assert names == ["word_vectors", "head/dense @ step 0", "head/dense @ step 100"]
    ours = config.embeddings[2]
    assert not os.path.isabs(ours.tensor_path) and ours.tensor_path.startswith("netviz_projector/head_dense/")
    assert list(ours.tensor_shape) == [4, 3]
    assert (tmp_path / ours.tensor_path).read_text().splitlines()[0] == "1\t1\t1"


def test_two_writers_of_one_run_keep_each_others_entries(tmp_path):
    def write(layer: str) -> None:
        export = ProjectorExport(tmp_path)
        for step in range(15):
            export.write(step, layer, np.ones((3, 2)), {"sample": [0, 1, 2], "label": [0, 0, 1]})

    threads = [threading.Thread(target=write, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = {e.tensor_name for e in read_config(str(tmp_path)).embeddings}
    assert names == {f"{layer} @ step {step}" for layer in "ab" for step in range(15)}


def test_weight_options_choose_layers_within_the_budget_and_refuse_a_pattern_matching_nothing():
    options = CaptureOptions(weight_budget_bytes=5000)
    assert options.select_weight_layers({"conv": 3456, "fc": 4000, "out": 1000}) == (["conv", "out"], ["fc"])
    with pytest.raises(ValueError, match=r"weight_layers pattern 'convv\*' matches no layer"):
        CaptureOptions(weight_layers=["convv*"]).select_weight_layers({"conv": 1})
    with pytest.raises(TypeError, match="embedding_layer"):
        CaptureOptions(embedding_layer=3)
    with pytest.raises(TypeError, match="list of glob patterns"):
        CaptureOptions(weight_layers="conv*")


def test_weights_and_embedding_kinds_are_netviz_metadata(tmp_path):
    with NetVizWriter(tmp_path) as writer:
        writer.weights(0, WeightSeries("fc", "matrix", "oi"), np.ones((3, 2)))
    value = Run(tmp_path).by_tag["netviz/weights/fc"][0][1]
    assert value.metadata.plugin_data.plugin_name == "netviz"
    assert value.metadata.data_class == 2  # DATA_CLASS_TENSOR
    assert json.loads(value.metadata.plugin_data.content)["version"] == 1


LAYERS = {"features.0": "<conv>", "fc1": "<fc1>", "fc2": "<fc2>"}
WORDING = {"kind": "module", "model": "the model"}


def test_the_default_embedding_is_the_input_of_the_last_dense_layer_and_needs_two_samples():
    last = ("fc2", "<fc2>")
    assert embedding_target(CaptureOptions(), 4, LAYERS, last, **WORDING) == ("<fc2>", "fc2", "input")
    assert embedding_target(CaptureOptions(), 1, LAYERS, last, **WORDING) is NO_EMBEDDING
    assert embedding_target(CaptureOptions(), 4, LAYERS, None, **WORDING) is NO_EMBEDDING
    assert embedding_target(CaptureOptions(), None, LAYERS, last, **WORDING) is NO_EMBEDDING
    assert embedding_target(CaptureOptions(embedding=False), 4, LAYERS, last, **WORDING) is NO_EMBEDDING


def test_a_named_embedding_layer_is_its_output_and_a_wrong_name_lists_the_layers():
    chosen = CaptureOptions(embedding_layer="fc1")
    assert embedding_target(chosen, 2, LAYERS, None, **WORDING) == ("<fc1>", "fc1", "output")
    with pytest.raises(ValueError, match=r"^embedding_layer 'fc3' is no layer of model 'mlp'; layers are: "):
        embedding_target(
            CaptureOptions(embedding_layer="fc3"), 2, LAYERS, None, kind="layer", model="model 'mlp'"
        )
    with pytest.raises(ValueError, match="PCA needs at least 2"):
        embedding_target(chosen, 1, LAYERS, None, **WORDING)


def test_the_weight_budget_warns_once_naming_the_layers_left_out():
    said = []
    sizes = {"conv": 600, "fc1": 900, "fc2": 80}
    assert choose_weight_layers(CaptureOptions(weight_budget_bytes=1000), sizes, said.append) == [
        "conv",
        "fc2",
    ]
    assert len(said) == 1 and "the weights of ['fc1'] are not written" in said[0]
    assert choose_weight_layers(CaptureOptions(), sizes, said.append) == ["conv", "fc1", "fc2"]
    assert len(said) == 1
