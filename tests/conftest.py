import os

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Jobs run below the web server's priority in the product; in the suite the browser, the studio
# and the background SciFact run would then starve the very jobs the tests wait for.
# tests/test_jobs.py checks the product's default explicitly.
os.environ.setdefault("STUDIO_JOB_NICE", "0")

SCIFACT_TEST_FILE = "test_scifact_reference.py"


def pytest_collection_modifyitems(session, config, items):
    """Start the SciFact evaluation now, in the background, and collect it at the very end."""
    scifact = [item for item in items if item.path.name == SCIFACT_TEST_FILE]
    if scifact:
        from tests import scifact_run

        scifact_run.start()
        items[:] = [item for item in items if item.path.name != SCIFACT_TEST_FILE] + scifact


def pytest_sessionfinish(session, exitstatus):
    from tests import scifact_run

    scifact_run.stop()


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
