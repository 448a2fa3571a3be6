"""`eval`: retrieval metrics of a model on a BEIR dataset or a training run's held-out examples."""

import argparse
import json
import sys

from studio.errors import StudioError

SUMMARY_KEYS = ("ndcg_at_10", "mrr_at_10", "recall_at_1", "recall_at_5", "recall_at_10", "recall_at_100",
                "map_at_100")


def register(commands, parent) -> None:
    p = commands.add_parser("eval", parents=[parent], help="evaluate a model on a BEIR dataset",
                            description="Encode a corpus and its queries, retrieve, and print nDCG@10, MRR@10, "
                                        "Recall@k and MAP@100. The result is stored in the database.")
    p.add_argument("--model", required=True, help="minilm, smollm2, a model folder (e.g. a run's output) or a hub id")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--beir", help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) or a .zip of one")
    source.add_argument("--heldout-run", type=int, metavar="RUN_ID", help="the held-out examples of a training run")
    p.add_argument("--split", default="test", help="qrels split of a BEIR dataset (default: test)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--instruction", default=None, help="one task instruction for every query (default: none "
                   "for base models, the task's own for held-out sets of models trained with instructions)")
    p.add_argument("--max-length", type=int, default=None, help="truncate inputs to this many tokens")
    p.add_argument("--pooling", choices=("mean", "last"), default=None, help="override the model's pooling")
    p.add_argument("--job-id", type=int, default=None, help=argparse.SUPPRESS)  # set by studio.jobs.launch
    p.set_defaults(func=run)


def run(args) -> int:
    from studio.cli import db_path
    from studio.evaluation.runner import run_evaluation

    if args.max_length is not None and args.max_length < 1:
        raise StudioError("--max-length must be a positive number of tokens")
    spec = f"heldout:run-{args.heldout_run}" if args.heldout_run is not None else args.beir
    outcome = run_evaluation(db_path(args), args.model, spec, args.split, job_id=args.job_id,
                             instruction=args.instruction, pooling=args.pooling, max_length=args.max_length)
    if args.json:
        summary = {key: outcome.metrics[key] for key in SUMMARY_KEYS}
        summary.update(model=outcome.model, dataset=outcome.dataset, split=outcome.split,
                       queries=outcome.details["n_queries"], documents=outcome.details["n_docs"],
                       seconds=outcome.details["seconds"], evaluation_id=outcome.details.get("evaluation_id"))
        print(json.dumps(summary))
    else:
        print(f"{outcome.model} on {outcome.dataset} ({outcome.split}): {outcome.details['n_queries']} queries, "
              f"{outcome.details['n_docs']} documents, {outcome.details['seconds']:.1f} s")
        for key in SUMMARY_KEYS:
            print(f"  {key:<14} {outcome.metrics[key]:.4f}")
    for warning in outcome.details.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    return 0
