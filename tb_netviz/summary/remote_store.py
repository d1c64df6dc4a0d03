"""A remote log directory: a URL (``s3://``, ``gs://``, any fsspec protocol) and the objects in it.

``remote_url`` tells a URL from a local path (``file://`` URLs are local paths)
and refuses malformed ones; ``RemoteStore`` resolves the URL through fsspec and
writes whole objects. A missing protocol package, an unknown protocol or a
malformed URL is a clear error when the store is opened, before any training.

fsspec and the protocol's package (``s3fs`` for ``s3://``, ``gcsfs`` for
``gs://``...) are imported only here, and only for a URL, so a local log
directory never needs them. Credentials and endpoints come as for any fsspec
user: the protocol's own environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``...),
fsspec's ``FSSPEC_<PROTOCOL>_<OPTION>`` variables, or ``storage_options``.

Example:
    >>> remote_url("runs/exp1") is None, remote_url("file:///tmp/exp1")
    (True, None)
    >>> remote_url("s3://bucket/runs/exp1/")
    's3://bucket/runs/exp1'
    >>> store = RemoteStore("memory://netviz-doc/run")
    >>> store.put("events.out.tfevents.1", b"abc")
    >>> store.object_url("events.out.tfevents.1")
    'memory://netviz-doc/run/events.out.tfevents.1'
"""

from __future__ import annotations

import importlib
import os
import re
from typing import Any

_URL = re.compile(r"^(?P<protocol>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)$", re.DOTALL)
# "s3:/bucket/run": what pathlib.Path("s3://bucket/run") turns a URL into.
_ONE_SLASH = re.compile(r"^(?P<protocol>[A-Za-z][A-Za-z0-9+.\-]+):/(?!/)")
_LOCAL_PROTOCOLS = ("file", "local")
# Bucket names as the stores define them (S3: 3-63 of a-z 0-9 . -; GCS also allows _).
_BUCKET_RULES = {
    "s3": re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"),
    "s3a": re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"),
    "gs": re.compile(r"^[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9]$"),
    "gcs": re.compile(r"^[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9]$"),
}
_INSTALL_HINTS = {"s3fs": "pip install 'tb-netviz[remote]' (or pip install s3fs)"}


class MissingProtocolPackageError(ImportError):
    """A log_dir URL whose protocol needs a package that is not installed."""


def remote_url(log_dir: str) -> str | None:
    """``log_dir`` as a normalised URL if it names remote storage, else None (a local path).

    A ``file://`` URL is a local path (None). Trailing slashes are removed.

    Raises:
        ValueError: a malformed URL (no bucket or host, an empty path segment, a
            query or fragment, an invalid bucket name), or a URL that lost one of
            its slashes (``pathlib.Path("s3://b/run")`` gives ``"s3:/b/run"``).

    >>> remote_url("gs://bucket/run")
    'gs://bucket/run'
    >>> remote_url("s3:/bucket/run")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: log_dir 's3:/bucket/run' looks like a URL that lost a slash ...
    """
    match = _URL.match(log_dir)
    if match is None:
        _refuse_collapsed_url(log_dir)
        return None
    protocol, rest = match.group("protocol").lower(), match.group("rest")
    if protocol in _LOCAL_PROTOCOLS:
        return None
    _check_url_path(log_dir, protocol, rest)
    return f"{protocol}://{rest.rstrip('/')}"


def check_log_dir(log_dir: str | os.PathLike) -> None:
    """Refuse at once a ``log_dir`` that cannot work by its form alone.

    For callbacks that make their writer later (at the start of training): a
    malformed URL, an unknown protocol or a missing protocol package fails here,
    where the callback is made. The store itself is first reached by the writer.

    >>> check_log_dir("runs/exp1"); check_log_dir("memory://bucket/run")
    >>> check_log_dir("s3://")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: log_dir 's3://' names no bucket or host ...

    Raises:
        ValueError: see ``remote_url``; also an unknown protocol.
        MissingProtocolPackageError (an ImportError): fsspec or the protocol's package is missing.
    """
    path = os.fspath(log_dir)
    url = remote_url(path) if isinstance(path, str) else None
    if url is not None:
        _filesystem_class(_import_fsspec(url), url, url.split("://", 1)[0])


def local_path(log_dir: str) -> str:
    """The local path a non-remote ``log_dir`` names (``file://`` stripped).

    >>> local_path("file:///tmp/run"), local_path("runs/exp1")
    ('/tmp/run', 'runs/exp1')
    """
    match = _URL.match(log_dir)
    return match.group("rest") if match else log_dir


class RemoteStore:
    """The objects of one remote log directory, written whole through fsspec.

    Args:
        url: a URL as ``remote_url`` returns it.
        storage_options: keyword arguments for the fsspec file system
            (``{"endpoint_url": ...}``, ``{"anon": True}``...); default none.

    Raises:
        ImportError: fsspec is not installed.
        MissingProtocolPackageError: the protocol's package is not installed (named in the message).
        ValueError: a protocol fsspec does not know.

    Example:
        >>> store = RemoteStore("memory://netviz-doc/other")
        >>> store.put("a", b"1"); store.put("a", b"12")
        >>> store.fs.cat_file(store.path + "/a")
        b'12'
    """

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        fsspec = _import_fsspec(url)
        protocol = url.split("://", 1)[0]
        _filesystem_class(fsspec, url, protocol)
        # A fresh file system per writer: fsspec's cached instances would keep the
        # endpoint and credentials of the environment they were first made in.
        options = {"skip_instance_cache": True, **(storage_options or {})}
        try:
            self.fs, self.path = fsspec.url_to_fs(url, **options)
        except ImportError as error:  # some file systems import their library only when made (hdfs: pyarrow)
            raise _missing_package(url, protocol, error) from None
        self.path = self.path.rstrip("/")

    def object_url(self, name: str) -> str:
        """The URL of the object ``name`` in this directory."""
        return f"{self.url}/{name}"

    def put(self, name: str, data: bytes) -> None:
        """Write the object ``name`` with ``data`` as its whole content (replacing it)."""
        self.fs.pipe_file(f"{self.path}/{name}", data)


def _refuse_collapsed_url(log_dir: str) -> None:
    match = _ONE_SLASH.match(log_dir)
    if match is None or match.group("protocol").lower() in _LOCAL_PROTOCOLS:
        return
    if match.group("protocol").lower() not in _known_protocols():
        return
    fixed = match.group("protocol") + "://" + log_dir[match.end() :]
    raise ValueError(
        f"log_dir {log_dir!r} looks like a URL that lost a slash (pathlib.Path collapses '//'): "
        f"pass it as a str, {fixed!r}"
    )


def _check_url_path(log_dir: str, protocol: str, rest: str) -> None:
    if "?" in rest or "#" in rest:
        raise ValueError(f"log_dir {log_dir!r}: a URL log_dir takes no query or fragment ('?', '#')")
    if any(character.isspace() or ord(character) < 32 for character in rest):
        raise ValueError(f"log_dir {log_dir!r}: the URL contains whitespace or control characters")
    parts = rest.rstrip("/").split("/")
    if not parts[0]:
        raise ValueError(
            f"log_dir {log_dir!r} names no bucket or host: expected {protocol}://<bucket>/<path>"
        )
    if "" in parts[1:]:
        raise ValueError(f"log_dir {log_dir!r} has an empty path segment ('//')")
    rule = _BUCKET_RULES.get(protocol)
    if rule is not None and not rule.match(parts[0]):
        raise ValueError(
            f"log_dir {log_dir!r}: {parts[0]!r} is not a valid {protocol}:// bucket name "
            "(lowercase letters, digits, '.', '-', 3 to 63 characters)"
        )


def _known_protocols() -> set[str]:
    try:
        from fsspec.registry import known_implementations, registry
    except ImportError:
        return {"s3", "s3a", "gs", "gcs", "az", "abfs", "adl", "hdfs", "memory", "http", "https"}
    return set(known_implementations) | set(registry)


def _import_fsspec(url: str) -> Any:
    try:
        return importlib.import_module("fsspec")
    except ImportError:
        raise MissingProtocolPackageError(
            f"tb-netviz: log_dir {url!r} is a URL; writing to it needs fsspec and the package of its "
            "protocol: pip install 'tb-netviz[remote]' (s3://), or fsspec plus e.g. gcsfs (gs://)",
            name="fsspec",
        ) from None


def _filesystem_class(fsspec: Any, url: str, protocol: str) -> type:
    try:
        return fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise ValueError(
            f"log_dir {url!r}: fsspec knows no protocol {protocol!r} "
            "(known: s3, gs, az, hdfs, memory, ... see fsspec.available_protocols())"
        ) from None
    except ImportError as error:
        raise _missing_package(url, protocol, error) from None


def _missing_package(url: str, protocol: str, error: ImportError) -> MissingProtocolPackageError:
    from fsspec.registry import known_implementations

    known = known_implementations.get(protocol, {})
    package = known.get("class", "").split(".")[0]
    if not package or package == "fsspec":
        package = (getattr(error, "name", None) or "").split(".")[0]  # "pyarrow.fs": pip install pyarrow
    if package:
        need = f"the package {package!r}: {_INSTALL_HINTS.get(package, f'pip install {package}')}"
    else:
        need = known.get("err") or str(error)
    hint = known.get("err") or str(error)
    return MissingProtocolPackageError(
        f"tb-netviz: log_dir {url!r} needs {need} (fsspec: {hint})", name=package or None
    )
