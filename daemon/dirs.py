"""Directories the daemon creates, with exactly the mode it means: ``os.makedirs`` creates the
missing parents with 0777 less the umask, so 0777 under ``umask 000``."""

from __future__ import annotations

import os
from pathlib import Path


def make_dirs(path: str | os.PathLike[str], mode: int = 0o700) -> None:
    """``path`` and every missing parent, each created with ``mode`` (existing ones untouched)."""
    missing: list[Path] = []
    current = Path(os.path.abspath(path))
    while not current.exists() and not current.is_symlink() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs, not ours to change
        os.chmod(directory, mode)  # the umask could only have narrowed it
