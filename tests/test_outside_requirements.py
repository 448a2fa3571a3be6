"""A fresh clone passes: a test that needs something from outside the repository (SciFact beside it,
Chromium, Playwright) skips saying what is missing, and under CI=true fails instead of skipping."""

import os
import subprocess
import sys

import pytest

from tests.outside import REPO_ROOT


def run_pytest(test_file: str, tmp_path, ci: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "STUDIO_SCIFACT_DIR": str(tmp_path / "no-scifact-here"),
           "STUDIO_CHROMIUM": str(tmp_path / "no-chromium-here")}
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", test_file],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("test_file, what", [("tests/test_scifact_reference.py", "needs SciFact"),
                                             ("tests/test_compare_tab.py", "needs Chromium")])
def test_missing_outside_data_skips_with_its_reason_but_fails_under_ci(tmp_path, test_file, what):
    bare = run_pytest(test_file, tmp_path, ci=False)
    assert bare.returncode in (0, 5), bare.stdout[-2000:]  # 5: the whole module skipped, nothing ran
    assert "skipped" in bare.stdout and what in bare.stdout, bare.stdout[-2000:]
    in_ci = run_pytest(test_file, tmp_path, ci=True)
    assert in_ci.returncode != 0, in_ci.stdout[-2000:]
    assert what in in_ci.stdout and "CI=true" in in_ci.stdout, in_ci.stdout[-2000:]
