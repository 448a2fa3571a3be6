"""`train`: fine-tune an embedding model on the accepted examples (also under torchrun for DDP)."""

import argparse
import os

from studio import settings
from studio.errors import StudioError
from studio.training.config import TrainConfig


def register(commands, parent) -> None:
    p = commands.add_parser("train", parents=[parent], help="fine-tune an embedding model on accepted examples",
                            description="Train with InfoNCE on the accepted examples; run it under "
                                        "`torchrun --nproc_per_node N -m studio train ...` for several processes.")
    settings.add_arguments(p, TrainConfig)
    p.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is in --out")
    p.add_argument("--job-id", type=int, default=None, help=argparse.SUPPRESS)  # set by studio.jobs.launch
    p.set_defaults(func=run)


def config_from_args(args):
    if not args.resume and not args.base_model:
        raise StudioError("give --base-model (minilm, smollm2, a folder or a hub id), or --resume")
    if not args.out_dir:
        raise StudioError("give --out, the folder for the checkpoint and the exported model")
    return settings.from_namespace(TrainConfig, args, out_dir=os.path.abspath(args.out_dir)).validate()


def run(args) -> int:
    from storage import runs as run_rows
    from studio.cli import db_path
    from studio.jobs import JobContext
    from studio.training.trainer import train

    db = db_path(args)
    config = config_from_args(args)
    is_main = int(os.environ.get("RANK", "0")) == 0
    job = JobContext.for_command(db, args.job_id, "train", {"config": config.to_dict(), "resume": args.resume}) \
        if is_main else None
    try:
        summary = train(config, db, job, resume=args.resume)
    except BaseException as error:
        if job:
            interrupted = isinstance(error, KeyboardInterrupt)
            message = str(error) if isinstance(error, StudioError) else \
                "Training was interrupted." if interrupted else f"Training failed: {error.__class__.__name__}: {error}"
            run = run_rows.run_for_job(job.db, job.job_id)
            if run and run["state"] == "running":
                run_rows.finish_run(job.db, run["id"], "interrupted" if interrupted else "failed")
            job.fail(message)
        raise
    if job:
        stats = {"run_id": summary["run_id"], "step": summary["step"], "loss": summary["loss"]}
        if summary["state"] == "cancelled":
            job.cancelled(stats)
        else:
            job.finish(stats, message=f"done: {summary['step']} steps, final loss {summary['loss']:.4f}")
    if is_main:
        print(f"run {summary['run_id']} {summary['state']} after step {summary['step']}; model in {config.out_dir}")
    return 0
