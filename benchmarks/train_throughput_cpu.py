"""Training throughput on CPU: our trainer against sentence-transformers' trainer, same data and model.

minilm (full fine-tuning), batch 32, 256 examples (8 steps), every query and document the same
length, MultipleNegativesRankingLoss(scale=50) on their side, InfoNCE τ=0.02 on ours, same lr,
no warm-up. A step's time is the wall time between the ends of consecutive steps (so it includes
tokenization, forward, loss, backward, optimizer and bookkeeping on both sides); throughput is the
median examples/s over steps 2..8 (step 1 warms caches). Rounds alternate the two sides so that
both see the same load on a shared machine. Last line: the ratio.

    python benchmarks/train_throughput_cpu.py [--rounds 2]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_data import examples  # noqa: E402

BATCH, COUNT, LR = 32, 256, 2e-5


def ours(rows, workdir: Path) -> tuple[float, float]:
    from storage import runs as run_rows
    from storage.db import open_db
    from storage.examples import insert_examples
    from studio.training.config import TrainConfig
    from studio.training.trainer import train

    db_path = workdir / "studio.db"
    if not db_path.exists():
        insert_examples(open_db(db_path), [{"family": "short-long", "language": "English", "instruction": "",
                                            "status": "accepted", **row} for row in rows])
    config = TrainConfig(base_model="minilm", out_dir=str(workdir / f"ours-{time.time_ns()}"), batch_size=BATCH,
                         lr=LR, warmup_steps=0, weight_decay=0.0, heldout_share=0.0, checkpoint_every=10_000)
    summary = train(config, db_path, log=lambda *_: None)
    metrics = run_rows.metrics(open_db(db_path), summary["run_id"])
    ends = [datetime.fromisoformat(m["at"]).timestamp() for m in metrics]  # written as each step ends
    return statistics.median(BATCH / (b - a) for a, b in zip(ends, ends[1:])), metrics[-1]["loss"]


def theirs(rows, workdir: Path) -> tuple[float, float]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    from studio.model_registry import minilm_dir

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.ends, self.losses = [], []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(logs["loss"])

    model = SentenceTransformer(str(minilm_dir()), device="cpu")
    model.max_seq_length = 256
    dataset = Dataset.from_dict({key: [row[key] for row in rows] for key in ("query", "positive", "negative")})
    timer = StepTimer()
    arguments = SentenceTransformerTrainingArguments(
        output_dir=str(workdir / "st"), per_device_train_batch_size=BATCH, num_train_epochs=1, learning_rate=LR,
        warmup_steps=0, weight_decay=0.0, logging_steps=1, save_strategy="no", report_to="none",
        dataloader_drop_last=True, seed=42, use_cpu=True, disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model=model, args=arguments, train_dataset=dataset,
                                         loss=MultipleNegativesRankingLoss(model, scale=50.0), callbacks=[timer])
    trainer.train()
    return statistics.median(BATCH / (b - a) for a, b in zip(timer.ends, timer.ends[1:])), timer.losses[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    rows = examples(COUNT, query_words=12, doc_words=60)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["STUDIO_DATA_DIR"] = folder
        workdir = Path(folder)
        ours_speed, theirs_speed, ours_loss, theirs_loss = [], [], [], []
        for round_number in range(args.rounds):
            speed, loss = ours(rows, workdir)
            ours_speed.append(speed)
            ours_loss.append(loss)
            speed, loss = theirs(rows, workdir)
            theirs_speed.append(speed)
            theirs_loss.append(loss)
            print(f"round {round_number + 1}: ours {ours_speed[-1]:.1f} examples/s (final loss {ours_loss[-1]:.4f}); "
                  f"sentence-transformers {theirs_speed[-1]:.1f} examples/s (final loss {theirs_loss[-1]:.4f})",
                  flush=True)
    a, b = statistics.median(ours_speed), statistics.median(theirs_speed)
    print(f"median examples/s: ours {a:.1f}, sentence-transformers {b:.1f}; "
          f"final loss: ours {statistics.median(ours_loss):.4f}, sentence-transformers {statistics.median(theirs_loss):.4f}")
    print(f"throughput ratio (ours / sentence-transformers): {a / b:.2f}")


if __name__ == "__main__":
    main()
