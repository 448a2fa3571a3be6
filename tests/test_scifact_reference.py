"""The published number: all-MiniLM-L6-v2 on SciFact (test) has nDCG@10 0.6451 in MTEB.

Runs the real command on the real data (a few minutes on 2 cores). SciFact is not in the repo: it
lies beside it in ../shared/eval/scifact (STUDIO_SCIFACT_DIR overrides the place).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
MTEB_NDCG_AT_10 = 0.6451


def scifact_dir() -> Path:
    folder = Path(os.environ.get("STUDIO_SCIFACT_DIR") or REPO_ROOT.parent / "shared" / "eval" / "scifact")
    if not (folder / "corpus.jsonl").is_file():
        pytest.fail(f"SciFact is missing: expected the BEIR folder at {folder} (../shared/eval/scifact beside "
                    "the repository, or set STUDIO_SCIFACT_DIR)")
    return folder


def test_minilm_on_scifact_matches_mteb_ndcg_at_10(tmp_path):
    env = {**os.environ, "STUDIO_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "studio", "eval", "--model", "minilm", "--beir", str(scifact_dir()), "--json"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # --json prints one object and nothing else
    metrics = json.loads(lines[0])
    assert metrics["queries"] == 300 and metrics["documents"] == 5183
    assert abs(metrics["ndcg_at_10"] - MTEB_NDCG_AT_10) <= 0.005, metrics
    for key in ("mrr_at_10", "recall_at_10", "recall_at_100", "map_at_100"):
        assert 0.0 < metrics[key] <= 1.0
    assert metrics["recall_at_100"] >= metrics["recall_at_10"]
