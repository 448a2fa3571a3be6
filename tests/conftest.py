import os

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets its own data directory, so nothing leaks into ./data or between tests."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("STUDIO_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def db_path(isolated_data_dir):
    return isolated_data_dir / "studio.db"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A studio launched as `python app.py` with its own data directory, shared by a test module.

    Gives `.url`, `.data_dir` and `.db_path` (the studio's own database file)."""
    from tests.studio_server import running_studio

    data_dir = tmp_path_factory.mktemp("studio-data")
    with running_studio(data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def studio_client(studio):
    from gradio_client import Client

    return Client(studio.url, verbose=False)
