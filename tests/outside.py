"""What some tests need from outside the repository, and the one rule for when it is missing.

SciFact lies beside the repository (../shared/eval/scifact, or $STUDIO_SCIFACT_DIR); Chromium is a
Debian package (/usr/bin/chromium, or $STUDIO_CHROMIUM) driven through Playwright. On a fresh clone
with nothing beside it such a test is skipped, its reason saying what is missing and where it was
looked for; under CI (CI=true, which CI services set) it fails instead, so CI never skips it.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(reason: str, module_level: bool = False):
    """Skip (fresh clone) or fail (CI) with `reason`."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this test must run, not skip)", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


def scifact_dir() -> Path:
    return Path(os.environ.get("STUDIO_SCIFACT_DIR") or REPO_ROOT.parent / "shared" / "eval" / "scifact")


def require_scifact() -> Path:
    folder = scifact_dir()
    if not (folder / "corpus.jsonl").is_file():
        missing(f"needs SciFact from outside the repository: no BEIR folder at {folder} "
                "(put it at ../shared/eval/scifact beside the repository, or set STUDIO_SCIFACT_DIR)")
    return folder


def chromium_path() -> str:
    return os.environ.get("STUDIO_CHROMIUM") or "/usr/bin/chromium"


def playwright_api():
    """Playwright's sync API, at a test module's top; skips or fails the module when Playwright or
    Chromium is missing."""
    try:
        import playwright.sync_api as api
    except ImportError:
        missing("needs Playwright (pip install -r requirements.txt)", module_level=True)
    if not os.path.exists(chromium_path()):
        missing(f"needs Chromium at {chromium_path()} (Debian package chromium; .ci/run installs it)",
                module_level=True)
    return api


def launch_chromium(playwright):
    """A headless Chromium as every browser test drives it."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
