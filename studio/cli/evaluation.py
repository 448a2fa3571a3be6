"""`eval`: retrieval metrics of a model on a BEIR dataset or a training run's held-out examples.

Its flags are `EvalSettings`' fields (studio/evaluation/settings.py), plus `--json` and the job id."""

import argparse
import json
import sys

from studio.evaluation.settings import EvalSettings
from studio.settings import add_arguments, from_namespace

SUMMARY_KEYS = ("ndcg_at_10", "mrr_at_10", "recall_at_1", "recall_at_5", "recall_at_10", "recall_at_100",
                "map_at_100")


def register(commands, parent) -> None:
    p = commands.add_parser("eval", parents=[parent], help="evaluate a model on a BEIR dataset",
                            description="Encode a corpus and its queries, retrieve, and print nDCG@10, MRR@10, "
                                        "Recall@k and MAP@100. Queries get the model's saved query prompt "
                                        "unless told otherwise. The result is stored in the database.")
    add_arguments(p, EvalSettings)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--job-id", type=int, default=None, help=argparse.SUPPRESS)  # set by studio.jobs.launch
    p.set_defaults(func=run)


def run(args) -> int:
    from studio.cli import db_path
    from studio.evaluation.runner import run_evaluation

    outcome = run_evaluation(db_path(args), from_namespace(EvalSettings, args), job_id=args.job_id)
    details = outcome.details
    if args.json:
        summary = {key: outcome.metrics[key] for key in SUMMARY_KEYS}
        summary.update(model=outcome.model, dataset=outcome.dataset, split=outcome.split,
                       query_instruction=details["query_instruction"], instruction_source=details["instruction_source"],
                       excluded_identical_ids=details["excluded_identical_ids"],
                       queries=details["n_queries"], documents=details["n_docs"],
                       seconds=details["seconds"], evaluation_id=details.get("evaluation_id"))
        print(json.dumps(summary))
    else:
        print(f"{outcome.model} on {outcome.dataset} ({outcome.split}): {details['n_queries']} queries, "
              f"{details['n_docs']} documents, {details['seconds']:.1f} s")
        print(f"  query instruction: {details['query_instruction'] or 'none'} ({details['instruction_source']})")
        if details["excluded_identical_ids"]:
            print(f"  {details['excluded_identical_ids']} documents left out of their own query's ranking "
                  "(same id; --keep-identical-ids keeps them)")
        for key in SUMMARY_KEYS:
            print(f"  {key:<14} {outcome.metrics[key]:.4f}")
    for warning in details.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    return 0
