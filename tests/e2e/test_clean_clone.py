"""Serving the app as `make run` does leaves the clone as it was: no `.gitignore` edits, no upload folder."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import ROOT, RunningApp


def test_serving_leaves_the_clone_clean(running_app: RunningApp) -> None:
    gitignore = subprocess.run(["git", "diff", "--quiet", "--", ".gitignore"], cwd=ROOT, check=False)
    assert gitignore.returncode == 0, "Reflex changed .gitignore"
    assert not (ROOT / "uploaded_files").exists()
    assert (running_app.data_dir / "uploaded_files").is_dir()
