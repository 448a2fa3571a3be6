"""Build studio/demo/comparison.json and studio/demo/model/: a real, small base-versus-fine-tuned comparison.

    python -m studio.demo.build_comparison [--steps 24]

In a throwaway database it loads the demo examples, fine-tunes all-MiniLM-L6-v2 (`minilm`) with
LoRA (rank 16 on every linear layer, as in the paper) on three quarters of them with the studio's
own trainer, holding out a quarter of each family's tasks, and lets the trainer's held-out
evaluation score both the fine-tuned and the base model on them (query → its positive; corpus:
every positive and negative of the demo set). The trainer exports its best step by held-out
nDCG@10, which is the base model itself when no step beat it. The run, its loss curve and both evaluations are written out keyed by example
content, not database ids, so that `load_demo` can replay them into any database that holds the
demo examples. Of the model only the LoRA adapter (~2.5 MB) and the small sentence-transformers
files are bundled; `load_demo` merges the adapter into the bundled minilm to rebuild the model.
"""

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from storage.db import open_db
from studio.demo.loader import COMPARISON_FILE, MODEL_BUNDLE, load_demo

# What of an exported run is bundled: everything but the merged weights and the tokenizer files,
# which `load_demo` takes from the bundled minilm.
BUNDLED = ("lora_adapter/adapter_config.json", "lora_adapter/adapter_model.safetensors", "modules.json",
           "sentence_bert_config.json", "1_Pooling/config.json", "config_sentence_transformers.json", "README.md")

BASE_MODEL = "minilm"
FINE_TUNED_LABEL = "demo-run"  # replaced by the rebuilt model's folder when load_demo replays it


def strip_build_paths(bundle: Path, out_dir: str) -> None:
    """The bundle must not name folders of the machine that built it."""
    adapter_config = bundle / "lora_adapter" / "adapter_config.json"
    settings = json.loads(adapter_config.read_text())
    settings["base_model_name_or_path"] = BASE_MODEL
    adapter_config.write_text(json.dumps(settings, indent=2) + "\n")
    card = bundle / "README.md"
    card.write_text(card.read_text().replace(out_dir, "<data dir>/runs/demo-minilm-lora"))


def build(steps: int, batch_size: int, lr: float, heldout_share: float, seed: int, bundle: Path) -> dict:
    import torch

    from studio.training.config import TrainConfig
    from studio.training.trainer import train

    with tempfile.TemporaryDirectory(prefix="studio-demo-") as folder:
        db_path = Path(folder) / "studio.db"
        load_demo(db_path, status="accepted", with_comparison=False)
        config = TrainConfig(base_model=BASE_MODEL, out_dir=str(Path(folder) / "model"), batch_size=batch_size,
                             max_steps=steps, lr=lr, heldout_share=heldout_share, seed=seed, lora=True,
                             checkpoint_every=steps + 1, name="Demo: minilm on the demo set")
        started = time.perf_counter()
        summary = train(config, db_path, log=lambda line: print(line, file=sys.stderr, flush=True))
        seconds = time.perf_counter() - started
        db = open_db(db_path)
        run = dict(next(iter(db.query("SELECT * FROM runs WHERE id = ?", [summary["run_id"]]))))
        hashes = {row["id"]: row["content_hash"] for row in db.query("SELECT id, content_hash FROM examples")}
        run_config = json.loads(run["config"])
        heldout = [hashes[i] for i in run_config.pop("heldout_ids")]
        trained = [hashes[i] for i in run_config.pop("train_ids")]
        curve = [{"step": row["step"], "ndcg_at_10": row["ndcg_at_10"]}
                 for row in db.query("SELECT * FROM run_heldout_curve WHERE run_id = ? ORDER BY step", [run["id"]])]
        run_config.pop("out_dir", None)
        metrics = [{key: row[key] for key in ("step", "loss", "lr", "examples_per_s", "tokens_per_s")}
                   for row in db.query("SELECT * FROM run_metrics WHERE run_id = ? ORDER BY step", [run["id"]])]
        evaluations = []
        for row in db.query("SELECT * FROM evaluations WHERE run_id = ? ORDER BY id", [run["id"]]):
            is_base = row["model"] == BASE_MODEL
            details = json.loads(row["details"] or "{}")
            details.pop("model_key", None)  # names files of the build machine
            per_query = {hashes[int(query_id)]: result for query_id, result in json.loads(row["per_query"]).items()}
            evaluations.append({"role": "base" if is_base else "fine-tuned",
                                "model": BASE_MODEL if is_base else FINE_TUNED_LABEL,
                                "split": row["split"], "metrics": json.loads(row["metrics"]),
                                "per_query": per_query, "details": details})
        db.conn.close()
        if bundle.exists():
            shutil.rmtree(bundle)
        for name in BUNDLED:
            (bundle / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(config.out_dir) / name, bundle / name)
        strip_build_paths(bundle, config.out_dir)
    if {e["role"] for e in evaluations} != {"base", "fine-tuned"}:
        raise SystemExit("the trainer stored no base and fine-tuned evaluations; is studio.evaluation present?")
    return {
        "about": "A small comparison computed on the bundled demo set by studio/demo/build_comparison.py: "
                 "minilm fine-tuned on the demo examples not held out, both models scored on the held-out ones.",
        "built": {"seconds": round(seconds, 1), "torch": torch.__version__, "python": platform.python_version(),
                  "device": run_config.get("device")},
        "run": {"name": run["name"], "base_model": run["base_model"], "state": run["state"],
                "config": run_config, "data_counts": json.loads(run["data_counts"]),
                "created_at": run["created_at"], "finished_at": run["finished_at"]},
        "heldout": heldout,
        "train": trained,
        "outcome": json.loads(run["outcome"]),
        "heldout_curve": curve,
        "metrics": metrics,
        "evaluations": evaluations,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--heldout-share", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(COMPARISON_FILE))
    parser.add_argument("--model-out", default=str(MODEL_BUNDLE), help="where the adapter bundle goes")
    args = parser.parse_args(argv)
    comparison = build(args.steps, args.batch_size, args.lr, args.heldout_share, args.seed, Path(args.model_out))
    Path(args.out).write_text(json.dumps(comparison, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for evaluation in comparison["evaluations"]:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(evaluation["metrics"].items()))
        print(f"{evaluation['role']:>10}: {shown}")
    base, tuned = (next(e for e in comparison["evaluations"] if e["role"] == role) for role in ("base", "fine-tuned"))
    print(f"held-out nDCG@10: base {base['metrics']['ndcg_at_10']:.4f} → fine-tuned "
          f"{tuned['metrics']['ndcg_at_10']:.4f} on {len(comparison['heldout'])} queries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
