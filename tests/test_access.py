"""Hugging Face sign-in on a Space: strangers browse, only editors change data (studio/ui/access.py)."""

import urllib.parse

import httpx
import pytest
from gradio_client import Client

from storage.db import open_db
from studio.ui import access
from studio.ui.app import build_app
from tests.fake_hf_oauth import FakeHubSignIn
from tests.studio_server import running_studio


def test_every_guarded_name_still_matches_a_handler_of_the_studio(db_path):
    # A renamed handler would silently fall out of the guard; this catches it.
    app = build_app(db_path)
    names = set().union(*(access.handler_names(block_fn) for block_fn in app.fns.values() if block_fn.fn))
    assert access.CHANGES <= names, f"not found: {sorted(access.CHANGES - names)}"


def _sign_in(base: str, provider: FakeHubSignIn, user: dict) -> str:
    """Follow the sign-in redirects as a browser would; returns the studio's session cookie.

    By hand, because the session cookie is marked Secure and cookie jars hold those back over http."""
    provider.next_user = user
    cookies: dict[str, str] = {}
    url = base + "/login/huggingface"
    with httpx.Client(follow_redirects=False, timeout=30) as http:
        for _ in range(5):
            ours = url.startswith(base)
            response = http.get(url, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
                                if ours and cookies else {})
            for header in response.headers.get_list("set-cookie") if ours else []:
                name, _, value = header.split(";", 1)[0].partition("=")
                cookies[name.strip()] = value
            assert response.status_code in (302, 303, 307), response.text[:500]
            url = urllib.parse.urljoin(url, response.headers["location"])
            if urllib.parse.urlsplit(url).path == "/":
                return cookies["session"]
    raise AssertionError("the sign-in did not come back to the studio")


def _client(url: str, session: str | None = None) -> Client:
    headers = {"Cookie": f"session={session}"} if session else None
    return Client(url, verbose=False, headers=headers, download_files=False)


def _examples(db_path) -> int:
    return open_db(db_path).execute("select count(*) from examples").fetchone()[0]


def test_on_a_space_with_sign_in_only_editors_change_data(isolated_data_dir):
    with FakeHubSignIn() as provider, running_studio(
            isolated_data_dir, env={**provider.env("owner/studio"), "STUDIO_HF_EDITORS": "alice, team"}) as studio:
        base = studio.url.rstrip("/")
        config = httpx.get(base + "/config", timeout=30).json()
        # gr.LoginButton reaches the page as a button that also knows its signed-in label.
        buttons = [c["props"]["value"] for c in config["components"] if "logout_value" in c.get("props", {})]
        assert buttons == ["Sign in with Hugging Face"]

        stranger = _client(studio.url)
        # Browsing is open: a read answers without signing in.
        assert stranger.predict("short-long", "active", api_name="/tasks_list") is not None
        with pytest.raises(Exception, match="Sign in with Hugging Face"):
            stranger.predict(api_name="/demo_load")
        carol = _client(studio.url, _sign_in(base, provider, {"preferred_username": "carol", "name": "Carol",
                                                              "orgs": [{"preferred_username": "elsewhere"}]}))
        with pytest.raises(Exception, match="signed in as carol"):
            carol.predict(api_name="/demo_load")
        assert _examples(studio.db_path) == 0

        # A member of a listed organisation may: the handler itself answers (there is no job to cancel).
        bea = _client(studio.url, _sign_in(base, provider, {"preferred_username": "bea", "name": "Bea",
                                                            "orgs": [{"preferred_username": "team"}]}))
        assert bea.predict(None, api_name="/generate_cancel") == "Pick a job first."
        with pytest.raises(Exception, match="Sign in with Hugging Face"):
            stranger.predict(None, api_name="/generate_cancel")
