"""Optional login for the web studio, configured by STUDIO_AUTH=user:password.

Without STUDIO_AUTH the studio is open to whoever can reach it, which is right on 127.0.0.1 and
wrong on a public Space. The check is a callable so that the password comparison takes constant
time. No Gradio here: app.py and studio/ui hand the checker to Gradio's `launch(auth=...)`.
"""

import hmac
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from studio.errors import StudioError

AUTH_ENV = "STUDIO_AUTH"
SPACES_ENV = "SPACE_ID"  # set by Hugging Face Spaces inside every Space


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"Credentials(username={self.username!r}, password='***')"

    def matches(self, username: str, password: str) -> bool:
        # Compare both fields every time, so timing does not reveal which one was wrong.
        user_ok = hmac.compare_digest(username.encode("utf-8"), self.username.encode("utf-8"))
        password_ok = hmac.compare_digest(password.encode("utf-8"), self.password.encode("utf-8"))
        return user_ok and password_ok


def parse_auth(value: str) -> Credentials:
    """`user:password` → Credentials; the password may itself contain colons."""
    username, colon, password = value.strip().partition(":")
    if not colon or not username.strip() or not password:
        raise StudioError(f"{AUTH_ENV} must look like user:password, with a non-empty user name and password")
    return Credentials(username.strip(), password)


def credentials_from_env(environ: Mapping[str, str] | None = None) -> Credentials | None:
    environ = os.environ if environ is None else environ
    value = environ.get(AUTH_ENV, "")
    return parse_auth(value) if value.strip() else None


def login_checker(environ: Mapping[str, str] | None = None) -> Callable[[str, str], bool] | None:
    """What to pass as Gradio's `auth=`: a checker when STUDIO_AUTH is set, else None (no login)."""
    credentials = credentials_from_env(environ)
    if credentials is None:
        return None

    def check(username: str, password: str) -> bool:
        return credentials.matches(username or "", password or "")

    return check


def on_spaces(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return bool(environ.get(SPACES_ENV))


def access_note(environ: Mapping[str, str] | None = None) -> str | None:
    """A line to print at start when a public Space runs without a login."""
    environ = os.environ if environ is None else environ
    if on_spaces(environ) and not environ.get(AUTH_ENV, "").strip():
        return (f"This Space has no login: anyone who opens it can use it. Add a secret {AUTH_ENV}=user:password "
                "in the Space's settings, or make the Space private, or turn on Hugging Face OAuth "
                "(hf_oauth: true in README.md's front matter) to require a Hugging Face sign-in.")
    return None
