"""Reflex configuration: the web app lives in `frontend/`, bun comes from the project's own tools folder.

Reflex's event socket accepts the same origins as the API (SWITCHBOARD_ALLOWED_ORIGINS); the folder Reflex makes
for its upload route lives in the data folder, not in the clone.
"""

import os
from pathlib import Path

import reflex as rx

from backend.settings import Settings, origins_from_env

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("REFLEX_UPLOADED_FILES_DIR", str(Settings.from_env().data_dir / "uploaded_files"))

config = rx.Config(
    app_name="frontend",
    app_module_import="frontend.app",
    telemetry_enabled=False,
    cors_allowed_origins=list(origins_from_env(os.environ)),
    # state keeps the event socket's request headers, session cookie included: in memory, never on disk
    state_manager_mode=rx.constants.StateManagerMode.MEMORY,
    bun_path=ROOT / ".tools" / "node_modules" / ".bin" / "bun",
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
