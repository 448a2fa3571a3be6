"""Headless Chromium for UI tests: a `page` fixture and a studio built in this process.

Import the fixtures a test module needs: `from tests.browser import page, studio_url  # noqa: F401`.
"""

import os
import socket

import pytest

from tests.outside import launch_chromium, playwright_api

SHOTS = os.environ.get("STUDIO_SHOTS_DIR")  # set it to keep screenshots of what the tests saw


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def studio_url(db_path):
    """The studio on a free loopback port, serving this test's database."""
    from studio.ui.app import CSS, build_app

    app = build_app(db_path)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, css=CSS, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture
def page():
    api = playwright_api()  # skips on a bare clone, fails under CI
    with api.sync_playwright() as driver:
        browser = launch_chromium(driver)
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def shot(page, name: str) -> None:
    """A full-page screenshot under $STUDIO_SHOTS_DIR, when it is set."""
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, name), full_page=True)


def in_viewport(page, locator) -> bool:
    """Whether the element lies wholly inside the visible part of the page, as it is scrolled now."""
    box = locator.bounding_box()
    size = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and box["x"] >= 0 \
        and box["x"] + box["width"] <= size["width"]
