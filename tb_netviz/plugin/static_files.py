"""The dashboard's files, served only by exact name from the frontend package.

The repository's ``frontend/`` folder is packaged as ``tb_netviz.plugin.frontend``.
An editable install (``pip install -e .``) cannot import that package while the
folder has no ``__init__.py``, so there the folder is found beside the source
tree instead. A requested name is served only if it is a plain ``.js`` or ``.css`` file name
(no separator, no leading dot) equal to an entry of that folder, so no path,
encoded or not, can reach a file outside it.

Example:
    >>> content_type_for("index.js"), content_type_for("../loader.py")
    ('application/javascript', None)
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

FRONTEND_PACKAGE = "tb_netviz.plugin.frontend"
SOURCE_FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
CONTENT_TYPES = {".js": "application/javascript", ".css": "text/css"}
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def content_type_for(name: str) -> str | None:
    """The fixed content type of a servable file name, or None if the name is not servable."""
    if not _PLAIN_NAME.fullmatch(name):
        return None
    for extension, content_type in CONTENT_TYPES.items():
        if name.endswith(extension):
            return content_type
    return None


def read_static_file(name: str, package: str = FRONTEND_PACKAGE) -> tuple[bytes, str] | None:
    """The bytes and content type of the frontend file ``name``, or None if there is none.

    >>> read_static_file("../loader.py") is None
    True
    """
    content_type = content_type_for(name)
    if content_type is None:
        return None
    folder = frontend_folder(package)
    if folder is None:
        return None
    try:
        entries = {entry.name: entry for entry in folder.iterdir()}
    except OSError:
        return None
    entry = entries.get(name)
    if entry is None or not entry.is_file():
        return None
    return entry.read_bytes(), content_type


def frontend_folder(package: str = FRONTEND_PACKAGE) -> Traversable | None:
    """The folder of the dashboard's files, or None if it cannot be found.

    >>> frontend_folder("no_such_package_here") is None
    True
    """
    try:
        return importlib.resources.files(package)
    except ModuleNotFoundError:
        if package == FRONTEND_PACKAGE and SOURCE_FRONTEND.is_dir():
            return SOURCE_FRONTEND
        return None
