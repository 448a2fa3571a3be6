"""Optional login: STUDIO_AUTH parsing, and a launched studio that refuses strangers."""

import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

from studio.auth import (Editors, access_note, credentials_from_env, hf_sign_in_enabled, login_checker, parse_auth,
                         parse_editors)
from studio.config import REPO_ROOT
from studio.errors import StudioError
from tests.studio_server import free_port, running_studio


def test_auth_value_splits_at_the_first_colon_so_passwords_may_hold_colons():
    credentials = parse_auth(" ann:pa:ss ")
    assert (credentials.username, credentials.password) == ("ann", "pa:ss")


@pytest.mark.parametrize("value", ["ann", "ann:", ":secret", "  :  "])
def test_malformed_auth_value_is_refused_with_what_to_write(value):
    with pytest.raises(StudioError, match="user:password"):
        parse_auth(value)


def test_no_auth_variable_means_no_login():
    assert credentials_from_env({}) is None
    assert login_checker({"STUDIO_AUTH": "  "}) is None


def test_checker_accepts_only_the_configured_pair():
    check = login_checker({"STUDIO_AUTH": "ann:secret"})
    assert check("ann", "secret")
    assert not check("ann", "Secret")
    assert not check("bob", "secret")
    assert not check("", "")


def test_password_never_appears_in_the_credentials_repr():
    assert "secret" not in repr(parse_auth("ann:secret"))


def test_a_public_space_without_login_gets_a_note_naming_the_options():
    note = access_note({"SPACE_ID": "someone/studio"})
    assert "STUDIO_AUTH" in note and "OAuth" in note
    assert access_note({"SPACE_ID": "someone/studio", "STUDIO_AUTH": "a:b"}) is None
    assert access_note({}) is None


def _status(url: str, data: dict | None = None, cookie: str | None = None) -> tuple[int, str | None]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body)
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            cookies = [value.split(";", 1)[0] for key, value in response.headers.items() if key.lower() == "set-cookie"]
            return response.status, "; ".join(cookies) or None
    except urllib.error.HTTPError as error:
        return error.code, None


def _start_with_auth(tmp_path, auth: str):
    env = {**os.environ, "STUDIO_DATA_DIR": str(tmp_path / "data"), "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_SERVER_PORT": str(free_port()), "STUDIO_AUTH": auth}
    return subprocess.Popen([sys.executable, "app.py"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_launched_studio_with_auth_refuses_strangers_and_admits_the_user(isolated_data_dir):
    with running_studio(isolated_data_dir, env={"STUDIO_AUTH": "ann:s3cr:et"}) as studio:
        base = studio.url.rstrip("/")
        assert _status(base + "/config")[0] == 401
        assert _status(base + "/gradio_api/info")[0] == 401
        assert _status(base + "/login", {"username": "ann", "password": "wrong"})[0] >= 400
        status, cookie = _status(base + "/login", {"username": "ann", "password": "s3cr:et"})
        assert status == 200 and cookie
        assert _status(base + "/config", cookie=cookie)[0] == 200


def test_malformed_auth_stops_the_start_with_one_line(tmp_path):
    process = _start_with_auth(tmp_path, "no-colon-here")
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "error: STUDIO_AUTH must look like user:password" in output
    assert "Traceback" not in output


def test_hf_sign_in_is_on_only_inside_a_space_with_oauth():
    space = {"SYSTEM": "spaces", "SPACE_ID": "owner/studio", "OAUTH_CLIENT_ID": "abc"}
    assert hf_sign_in_enabled(space)
    assert not hf_sign_in_enabled({**space, "OAUTH_CLIENT_ID": ""})
    # Outside a Space Gradio would fake the sign-in with the machine's own Hub login: not offered.
    assert not hf_sign_in_enabled({"OAUTH_CLIENT_ID": "abc"})
    assert not hf_sign_in_enabled({**space, "SYSTEM": ""})


def test_editors_default_to_the_space_owner_and_the_variable_overrides():
    assert Editors.from_env({"SPACE_AUTHOR_NAME": "Owner"}).names == {"owner"}
    editors = Editors.from_env({"SPACE_AUTHOR_NAME": "owner", "STUDIO_HF_EDITORS": " Alice, @bob  my-org "})
    assert editors.names == {"alice", "bob", "my-org"}


def test_sign_in_without_anyone_allowed_stops_the_start_with_what_to_set():
    with pytest.raises(StudioError, match="STUDIO_HF_EDITORS"):
        Editors.from_env({})


@pytest.mark.parametrize("value", ["alice, bob!", "al ice/x", " , "])
def test_malformed_editor_names_are_refused(value):
    with pytest.raises(StudioError, match="STUDIO_HF_EDITORS"):
        parse_editors(value)


def test_editors_match_the_user_or_one_of_their_organisations_without_case():
    editors = Editors(parse_editors("alice, my-org"))
    assert editors.allows("Alice")
    assert editors.allows("carol", ["other", "My-Org"])
    assert not editors.allows("carol", ["other"])
    assert not editors.allows(None, ["my-org"])  # an org name alone is nobody
    assert not editors.allows("")


def test_a_star_lets_anyone_signed_in_edit_but_not_strangers():
    editors = Editors(parse_editors("*"))
    assert editors.allows("anybody")
    assert not editors.allows(None)


def test_refusals_say_why_and_what_to_do():
    editors = Editors(parse_editors("alice"))
    assert editors.refusal("alice") is None
    stranger = editors.refusal(None)
    assert "Sign in with Hugging Face" in stranger and "browse" in stranger
    carol = editors.refusal("carol")
    assert "carol" in carol and "alice" in carol and "STUDIO_HF_EDITORS" in carol
    assert "read-only" in editors.banner("carol").lower()
    assert "alice" in editors.banner("alice") and "read-only" not in editors.banner("alice").lower()


def test_a_space_with_sign_in_needs_no_login_note():
    space = {"SPACE_ID": "owner/studio", "SYSTEM": "spaces", "OAUTH_CLIENT_ID": "abc"}
    assert access_note(space) is None
