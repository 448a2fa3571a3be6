"""`train`: fine-tune an embedding model on the accepted examples (also under torchrun for DDP)."""

import argparse
import os

from studio.errors import StudioError


def register(commands, parent) -> None:
    p = commands.add_parser("train", parents=[parent], help="fine-tune an embedding model on accepted examples",
                            description="Train with InfoNCE on the accepted examples; run it under "
                                        "`torchrun --nproc_per_node N -m studio train ...` for several processes.")
    p.add_argument("--base-model", help="minilm, smollm2, a local folder or a hub id")
    p.add_argument("--out", required=True, help="folder for the checkpoint and the exported model")
    p.add_argument("--pooling", choices=["last", "mean"], default=None,
                   help="default: the model's own (mean for minilm, last for decoders)")
    p.add_argument("--lora", action="store_true", help="train a LoRA adapter on all linear layers")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-alpha", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32, help="global batch (in-batch negatives); paper: 2048")
    p.add_argument("--mini-batch", type=int, default=None, help="cache negatives: embed at most M texts at once")
    p.add_argument("--temperature", type=float, default=0.02)
    p.add_argument("--max-steps", type=int, default=None, help="default: one epoch")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=None, help="default: min(100, 10%% of the steps)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--max-length", type=int, default=None)
    p.add_argument("--gradient-checkpointing", action="store_true", default=None)
    p.add_argument("--no-gradient-checkpointing", dest="gradient_checkpointing", action="store_false")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--family", action="append", default=[], help="train on this family only (repeatable)")
    p.add_argument("--language", action="append", default=[], help="train on this language only (repeatable)")
    p.add_argument("--heldout-share", type=float, default=0.1, help="share of examples kept for evaluation")
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints")
    p.add_argument("--name", default=None, help="run name (default: the output folder's name)")
    p.add_argument("--resume", action="store_true", help="continue the run whose checkpoint is in --out")
    p.add_argument("--job-id", type=int, default=None, help=argparse.SUPPRESS)  # set by studio.jobs.launch
    p.set_defaults(func=run)


def config_from_args(args):
    from studio.training.config import TrainConfig

    if not args.resume and not args.base_model:
        raise StudioError("give --base-model (minilm, smollm2, a folder or a hub id), or --resume")
    return TrainConfig(
        base_model=args.base_model or "", out_dir=os.path.abspath(args.out), pooling=args.pooling, lora=args.lora,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, batch_size=args.batch_size, mini_batch=args.mini_batch,
        temperature=args.temperature, lr=args.lr, weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
        max_steps=args.max_steps, max_length=args.max_length, gradient_checkpointing=args.gradient_checkpointing,
        seed=args.seed, families=args.family, languages=args.language, heldout_share=args.heldout_share,
        checkpoint_every=args.checkpoint_every, name=args.name,
    ).validate()


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
