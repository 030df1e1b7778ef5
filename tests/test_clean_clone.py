"""Serving and testing leave a clone as it was: Reflex finds its `.gitignore` lines already there, and puts
its upload folder in the data folder, not in the clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from reflex.constants import GitIgnore
from reflex.utils.frontend_skeleton import initialize_gitignore

ROOT = Path(__file__).resolve().parents[1]


def test_the_gitignore_holds_every_line_reflex_wants() -> None:
    lines = (ROOT / ".gitignore").read_text().splitlines()
    assert GitIgnore.DEFAULTS <= set(lines)


def test_reflex_leaves_the_gitignore_as_committed(tmp_path: Path) -> None:
    """Reflex rewrites `.gitignore` on every fresh build; the committed file must come out byte for byte."""
    copy = tmp_path / ".gitignore"
    shutil.copyfile(ROOT / ".gitignore", copy)
    initialize_gitignore(gitignore_file=copy)
    assert copy.read_bytes() == (ROOT / ".gitignore").read_bytes()


def test_uploads_go_to_the_data_folder(tmp_path: Path) -> None:
    """The web app's upload route makes its folder when the app starts; it must not appear in the clone."""
    data = tmp_path / "data"
    probe = (
        "import rxconfig\n"
        "from reflex_components_core.core.upload import get_upload_dir\n"
        "print(get_upload_dir().resolve())\n"
    )
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    env.pop("REFLEX_UPLOADED_FILES_DIR", None)
    answer = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    upload_dir = Path(answer.stdout.strip().splitlines()[-1])
    assert upload_dir.is_relative_to(data.resolve())
    assert not (tmp_path / "uploaded_files").exists()
