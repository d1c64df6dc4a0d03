"""An export for TensorBoard's own Projector (t-SNE, UMAP, custom projections in the browser).

At each sample step the embedding layer's raw features and the samples'
labels go to ``<run>/netviz_projector/<layer>/<step>/{tensor,metadata}.tsv``,
and ``<run>/projector_config.pbtxt`` gains one embedding named
``"<layer> @ step <step>"``. Written without TensorFlow; the paths are relative
to the run directory (TensorBoard refuses asset paths outside the config's
directory). The config is merged, not overwritten: embeddings another writer
put there stay, under a lock file so that two writers of one run do not lose
each other's entries. A remote run directory (a URL, see ``remote_store``)
gets the same files as objects, written whole through fsspec (no lock there:
only the writing process of a run writes its export).

Example:
    >>> import tempfile, numpy as np
    >>> run = tempfile.mkdtemp()
    >>> export = ProjectorExport(run)
    >>> export.write(10, "fc1", np.ones((3, 4)), {"sample": [0, 1, 2], "label": ["7", "1", "7"]})
    'fc1 @ step 10'
    >>> open(f"{run}/netviz_projector/fc1/10/metadata.tsv").read().splitlines()
    ['sample\\tlabel', '0\\t7', '1\\t1', '2\\t7']
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf import text_format
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

from tb_netviz.summary.remote_store import RemoteStore, remote_url

CONFIG_FILENAME = "projector_config.pbtxt"
EXPORT_DIR = "netviz_projector"
_LOCK_FILENAME = ".projector_config.lock"


class ProjectorExport:
    """Writes Projector tensors, metadata and config entries into one run directory.

    Args:
        run_dir: the run directory (the one holding the event files).
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = os.fspath(run_dir)
        url = remote_url(self.run_dir) if isinstance(self.run_dir, str) else None
        self._store = RemoteStore(url) if url is not None else None

    def write(self, step: int, layer: str, features: np.ndarray, columns: Mapping[str, Sequence[Any]]) -> str:
        """Write one step's ``[N, D]`` features and metadata columns; returns the embedding's name.

        Raises:
            ValueError: features that are not 2-D, or a column whose length is not N.
            OSError: the files cannot be written.
        """
        features = np.asarray(features, np.float32)
        if features.ndim != 2 or 0 in features.shape:
            raise ValueError(f"projector features must be a non-empty [N, D] array, got {features.shape}")
        relative = os.path.join(EXPORT_DIR, _path_part(layer), str(int(step)))
        if self._store is not None:
            return self._write_remote(step, layer, features, columns, relative.replace(os.sep, "/"))
        folder = os.path.join(self.run_dir, relative)
        os.makedirs(folder, exist_ok=True)
        _write_atomically(os.path.join(folder, "tensor.tsv"), tensor_tsv(features))
        _write_atomically(os.path.join(folder, "metadata.tsv"), metadata_tsv(columns, len(features)))
        name = f"{layer} @ step {int(step)}"
        with _locked(os.path.join(self.run_dir, _LOCK_FILENAME)):
            config = read_config(self.run_dir)
            kept = [e for e in config.embeddings if e.tensor_name != name]
            del config.embeddings[:]
            config.embeddings.extend(kept)
            entry = config.embeddings.add()
            entry.tensor_name = name
            entry.tensor_path = os.path.join(relative, "tensor.tsv").replace(os.sep, "/")
            entry.metadata_path = os.path.join(relative, "metadata.tsv").replace(os.sep, "/")
            entry.tensor_shape.extend(features.shape)
            _write_atomically(
                os.path.join(self.run_dir, CONFIG_FILENAME), text_format.MessageToString(config)
            )
        return name

    def _write_remote(
        self, step: int, layer: str, features: np.ndarray, columns: Mapping[str, Sequence[Any]], relative: str
    ) -> str:
        store = self._store
        store.put(f"{relative}/tensor.tsv", tensor_tsv(features).encode("utf-8"))
        store.put(f"{relative}/metadata.tsv", metadata_tsv(columns, len(features)).encode("utf-8"))
        config = ProjectorConfig()
        try:
            text_format.Parse(store.fs.cat_file(f"{store.path}/{CONFIG_FILENAME}").decode("utf-8"), config)
        except FileNotFoundError:
            pass
        name = f"{layer} @ step {int(step)}"
        kept = [e for e in config.embeddings if e.tensor_name != name]
        del config.embeddings[:]
        config.embeddings.extend(kept)
        entry = config.embeddings.add()
        entry.tensor_name = name
        entry.tensor_path = f"{relative}/tensor.tsv"
        entry.metadata_path = f"{relative}/metadata.tsv"
        entry.tensor_shape.extend(features.shape)
        store.put(CONFIG_FILENAME, text_format.MessageToString(config).encode("utf-8"))
        return name


def read_config(run_dir: str) -> ProjectorConfig:
    """The run's ``projector_config.pbtxt`` (an empty config if there is none).

    Raises:
        ValueError: the file exists but is not a projector config.
    """
    config = ProjectorConfig()
    path = os.path.join(run_dir, CONFIG_FILENAME)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            try:
                text_format.Parse(handle.read(), config)
            except text_format.ParseError as error:
                raise ValueError(f"{path} is not a projector config, so it is left alone: {error}") from None
    return config


def tensor_tsv(features: np.ndarray) -> str:
    """Tab-separated rows of float32 values, as the Projector reads them.

    >>> tensor_tsv(np.array([[1.0, -0.5]]))
    '1\\t-0.5\\n'
    """
    rows = np.asarray(features, np.float32).astype(np.float64)
    line = "\t".join(["%.7g"] * rows.shape[1]) + "\n"  # one C-level format per row
    return "".join(line % tuple(row) for row in rows)


def metadata_tsv(columns: Mapping[str, Sequence[Any]], count: int) -> str:
    """The metadata file: one line per sample, with a header row only for more than one column.

    That is the Projector's rule: a single-column file has no header.

    >>> metadata_tsv({"label": ["cat", "dog"]}, 2)
    'cat\\ndog\\n'
    >>> metadata_tsv({"sample": [0, 1], "label": ["cat", "dog"]}, 2)
    'sample\\tlabel\\n0\\tcat\\n1\\tdog\\n'
    """
    if not columns:
        raise ValueError("projector metadata needs at least one column")
    for name, values in columns.items():
        if len(values) != count:
            raise ValueError(f"projector metadata column {name!r} has {len(values)} values, not {count}")
    cells = [[_cell(v) for v in values] for values in columns.values()]
    lines = ["\t".join(_cell(name) for name in columns)] if len(columns) > 1 else []
    lines += ["\t".join(row) for row in zip(*cells, strict=True)]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    # A tab or newline inside a label would shift the columns or rows.
    return re.sub(r"[\t\r\n]", " ", str(value))


def _path_part(layer: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", layer).strip(".")
    return safe or "layer"


def _write_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".netviz-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock; the atomic replace still keeps the file whole
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
