"""Who may use the web studio: an optional password login, and on a Space a Hugging Face sign-in.

STUDIO_AUTH=user:password puts a login page in front of everything. Without it the studio is open
to whoever can reach it, which is right on 127.0.0.1 and wrong on a public Space. The check is a
callable so that the password comparison takes constant time.

On a Space whose README front matter says `hf_oauth: true`, visitors can sign in with Hugging Face
instead: everyone may browse, and only the accounts in STUDIO_HF_EDITORS (default: the Space's
owner) may change data or start work. `Editors` decides; no Gradio here: studio/ui/access.py puts
the sign-in button on the page and asks `Editors` before each guarded action.
"""

import hmac
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from studio.errors import StudioError

AUTH_ENV = "STUDIO_AUTH"
SPACES_ENV = "SPACE_ID"  # set by Hugging Face Spaces inside every Space
SYSTEM_ENV = "SYSTEM"  # "spaces" inside a Space; Gradio only uses real (not mocked) OAuth routes then
OAUTH_ENV = "OAUTH_CLIENT_ID"  # set by Spaces when the front matter says hf_oauth: true
OWNER_ENV = "SPACE_AUTHOR_NAME"  # the user or organisation that owns the Space
EDITORS_ENV = "STUDIO_HF_EDITORS"
ANYONE = "*"
# Hugging Face user and organisation names: letters, digits, '-', '_' and '.', not starting with a symbol.
_HF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


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
    if on_spaces(environ) and not environ.get(AUTH_ENV, "").strip() and not hf_sign_in_enabled(environ):
        return (f"This Space has no login: anyone who opens it can use it. Add a secret {AUTH_ENV}=user:password "
                "in the Space's settings, or make the Space private, or turn on Hugging Face OAuth "
                "(hf_oauth: true in README.md's front matter) to require a Hugging Face sign-in.")
    return None


def hf_sign_in_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a Space with OAuth turned on (hf_oauth: true in README.md's front matter).

    Outside a Space, Gradio would fake the sign-in with the machine's own Hugging Face login, which
    needs the network and a token; the studio then offers no sign-in rather than a broken one."""
    environ = os.environ if environ is None else environ
    return (on_spaces(environ) and environ.get(SYSTEM_ENV) == "spaces"
            and bool(environ.get(OAUTH_ENV, "").strip()))


def parse_editors(value: str) -> frozenset[str]:
    """`alice, bob my-org` → {"alice", "bob", "my-org"}; names compare without case, as on the Hub."""
    names = [name.strip().lstrip("@") for name in re.split(r"[,\s]+", value) if name.strip()]
    for name in names:
        if name != ANYONE and not _HF_NAME.fullmatch(name):
            raise StudioError(f"{EDITORS_ENV} holds {name!r}: list Hugging Face user or organisation names "
                              f"separated by commas, or {ANYONE} for anyone signed in")
    if not names:
        raise StudioError(f"{EDITORS_ENV} is empty: list Hugging Face user or organisation names separated by "
                          f"commas, or {ANYONE} for anyone signed in")
    return frozenset(name.lower() for name in names)


@dataclass(frozen=True)
class Editors:
    """The Hugging Face accounts that may change data; everyone else browses read-only.

    A name matches the person signed in, or an organisation the sign-in lists them as a member of
    (Hugging Face lists the organisations the person lets the Space see when signing in)."""

    names: frozenset[str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Editors":
        environ = os.environ if environ is None else environ
        value = environ.get(EDITORS_ENV, "").strip() or environ.get(OWNER_ENV, "").strip()
        if not value:
            raise StudioError(f"Hugging Face sign-in is on but nobody may change data: set {EDITORS_ENV} to the "
                              f"Hugging Face users or organisations who may, or {ANYONE} for anyone signed in")
        return cls(parse_editors(value))

    def allows(self, username: str | None, orgs: Iterable[str] = ()) -> bool:
        if not username:
            return False
        if ANYONE in self.names:
            return True
        accounts = {username.lower(), *(org.lower() for org in orgs)}
        return bool(accounts & self.names)

    def listed(self) -> str:
        if ANYONE in self.names:
            return "anyone signed in with Hugging Face"
        return ", ".join(sorted(self.names))

    def refusal(self, username: str | None, orgs: Iterable[str] = ()) -> str | None:
        """Why this person may not change data (one sentence), or None when they may."""
        if self.allows(username, orgs):
            return None
        if not username:
            return ("Sign in with Hugging Face (the button at the top of the page) to change data; "
                    "without signing in you can only browse.")
        return (f"You are signed in as {username}, but only {self.listed()} may change data in this Space "
                f"(the owner lists editors in {EDITORS_ENV}); you can still browse.")

    def banner(self, username: str | None, orgs: Iterable[str] = ()) -> str:
        """The line at the top of the page: who you are here and what you may do."""
        if self.allows(username, orgs):
            return f"Signed in as **{username}**: you can change data and start jobs."
        if not username:
            return (f"**Read-only until you sign in.** Browse freely; to change data or start jobs, sign in with "
                    f"Hugging Face (allowed: {self.listed()}).")
        return (f"Signed in as **{username}**: **read-only**, because only {self.listed()} may change data here. "
                f"Ask the Space's owner to add you to {EDITORS_ENV}.")
