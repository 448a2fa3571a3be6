"""The studio's trainer against sentence-transformers' trainer on real data: quality, spread, time.

SciFact's training claims and the abstracts they cite (`qrels/train.tsv`, 919 pairs) become 919
accepted examples (no instruction, no hard negative). minilm is fine-tuned fully on both sides
with the same settings: lr 2e-5, batch 32, τ 0.05 (MultipleNegativesRankingLoss with scale 1/τ = 20
on their side), 2 epochs of full batches (56 steps), 6 warm-up steps then linear decay, weight
decay 0.01 on matrices, gradient clipping at 1.0, max length 256. Each side trains once per seed;
every model is scored by the same code (studio.evaluation.runner.evaluate: exact cosine,
trec_eval conventions) on SciFact test, documents as `(title + " " + text).strip()`.
Wall time is from loading the base model to the saved model.

    python benchmarks/train_vs_st.py [--seeds 1 2 3] [--sides studio st] [--no-mask-duplicates]

Prints one line per run, then each side's mean, spread (max − min) and standard deviation of
nDCG@10 and its mean wall time. Last line: studio mean − ST mean nDCG@10, spread ratio, time ratio.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "scifact"
LR, BATCH, TAU, EPOCHS, WARMUP, WEIGHT_DECAY = 2e-5, 32, 0.05, 2, 6, 0.01


def training_pairs() -> list[dict]:
    corpus = {}
    with open(SCIFACT / "corpus.jsonl") as handle:
        for line in handle:
            doc = json.loads(line)
            corpus[str(doc["_id"])] = (doc.get("title", "") + " " + doc.get("text", "")).strip()
    queries = {}
    with open(SCIFACT / "queries.jsonl") as handle:
        for line in handle:
            query = json.loads(line)
            queries[str(query["_id"])] = query["text"]
    pairs = []
    with open(SCIFACT / "qrels" / "train.tsv") as handle:
        next(handle)
        for line in handle:
            query_id, doc_id, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                pairs.append({"query": queries[query_id], "positive": corpus[doc_id]})
    return pairs


def studio_side(pairs, workdir: Path, seed: int, mask_duplicates: bool) -> tuple[str, float]:
    from storage.db import open_db
    from storage.examples import insert_examples
    from studio.training.config import TrainConfig
    from studio.training.trainer import train

    db_path = workdir / "studio.db"
    if not db_path.exists():
        insert_examples(open_db(db_path), [{"family": "short-long", "language": "English", "instruction": "",
                                            "status": "accepted", "negative": None, **pair} for pair in pairs])
    out = workdir / f"studio-{seed}"
    steps = EPOCHS * (len(pairs) // BATCH)
    config = TrainConfig(base_model="minilm", out_dir=str(out), batch_size=BATCH, lr=LR, temperature=TAU,
                         max_steps=steps, warmup_steps=WARMUP, weight_decay=WEIGHT_DECAY, max_grad_norm=1.0,
                         max_length=256, seed=seed, heldout_share=0.0, eval_every=0, checkpoint_every=10_000,
                         mask_duplicates=mask_duplicates)
    started = time.perf_counter()
    train(config, db_path, log=lambda *_: None)
    return str(out), time.perf_counter() - started


def st_side(pairs, workdir: Path, seed: int) -> tuple[str, float]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from studio.model_registry import minilm_dir

    out = workdir / f"st-{seed}"
    started = time.perf_counter()
    model = SentenceTransformer(str(minilm_dir()), device="cpu")
    model.max_seq_length = 256
    dataset = Dataset.from_dict({"query": [p["query"] for p in pairs], "positive": [p["positive"] for p in pairs]})
    arguments = SentenceTransformerTrainingArguments(
        output_dir=str(workdir / f"st-work-{seed}"), per_device_train_batch_size=BATCH, num_train_epochs=EPOCHS,
        learning_rate=LR, warmup_steps=WARMUP, weight_decay=WEIGHT_DECAY, max_grad_norm=1.0,
        lr_scheduler_type="linear", logging_steps=10, save_strategy="no", report_to="none",
        dataloader_drop_last=True, seed=seed, use_cpu=True, disable_tqdm=True)
    trainer = SentenceTransformerTrainer(model=model, args=arguments, train_dataset=dataset,
                                         loss=MultipleNegativesRankingLoss(model, scale=1 / TAU))
    trainer.train()
    model.save(str(out))
    return str(out), time.perf_counter() - started


def ndcg(model_path: str) -> float:
    from studio.evaluation.beir import load_beir
    from studio.evaluation.runner import evaluate

    return evaluate(model_path, load_beir(str(SCIFACT), "test"), use_instructions=False).metrics["ndcg_at_10"]


def summary(name: str, scores: list[float], times: list[float]) -> str:
    spread = max(scores) - min(scores)
    deviation = statistics.stdev(scores) if len(scores) > 1 else 0.0
    return (f"{name}: nDCG@10 mean {statistics.mean(scores):.4f}, spread {spread:.4f}, sd {deviation:.4f} "
            f"({', '.join(f'{s:.4f}' for s in scores)}); wall time mean {statistics.mean(times):.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--sides", nargs="+", default=["studio", "st"], choices=["studio", "st"])
    parser.add_argument("--no-mask-duplicates", dest="mask_duplicates", action="store_false")
    parser.add_argument("--base", action="store_true", help="also score the base model")
    args = parser.parse_args()
    if not (SCIFACT / "qrels" / "train.tsv").exists():
        sys.exit(f"SciFact is not at {SCIFACT}: this benchmark needs ../shared/eval/scifact")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    pairs = training_pairs()
    print(f"{len(pairs)} training pairs; seeds {args.seeds}; mask duplicates {args.mask_duplicates}", flush=True)
    results = {side: ([], []) for side in args.sides}
    with tempfile.TemporaryDirectory() as folder:
        os.environ["STUDIO_DATA_DIR"] = folder
        workdir = Path(folder)
        if args.base:
            print(f"base minilm: nDCG@10 {ndcg('minilm'):.4f}", flush=True)
        for seed in args.seeds:
            for side in args.sides:  # alternate, so that both sides see the same load on a shared machine
                path, seconds = (studio_side(pairs, workdir, seed, args.mask_duplicates) if side == "studio"
                                 else st_side(pairs, workdir, seed))
                score = ndcg(path)
                results[side][0].append(score)
                results[side][1].append(seconds)
                print(f"seed {seed} {side}: nDCG@10 {score:.4f}, {seconds:.0f} s", flush=True)
    for side, (scores, times) in results.items():
        print(summary(side, scores, times), flush=True)
    if set(results) == {"studio", "st"}:
        (ours, our_times), (theirs, their_times) = results["studio"], results["st"]
        spread = (max(ours) - min(ours)) / max(1e-9, max(theirs) - min(theirs))
        print(f"studio − ST mean nDCG@10: {statistics.mean(ours) - statistics.mean(theirs):+.4f}; "
              f"spread ratio {spread:.2f}; wall time ratio {statistics.mean(our_times) / statistics.mean(their_times):.2f}")


if __name__ == "__main__":
    main()
