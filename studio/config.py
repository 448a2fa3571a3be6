"""Where things live: the data directory, the database file, the bundled prompts."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROMPTS_DIR = REPO_ROOT / "prompts"


def data_dir() -> Path:
    path = Path(os.environ.get("STUDIO_DATA_DIR") or "data").resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path() -> Path:
    return data_dir() / "studio.db"
