"""Private files (0600 in 0700 folders) written whole or not at all: temp file, fsync, rename, fsync the folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_once(path: Path, content: bytes) -> bool:
    """Create `path` (0600) holding `content` completely or not at all; False when it already exists."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = write_temporary(path, content)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    fsync_folder(path.parent)
    return True


def write_atomically(path: Path, content: bytes) -> None:
    """Replace `path` (0600) with `content`: temp file, fsync, rename, fsync of the folder."""
    temporary = write_temporary(path, content)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def write_temporary(path: Path, content: bytes) -> Path:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
