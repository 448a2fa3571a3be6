"""The training loop of METHOD.md §5, top to bottom: data, model, optimizer, then per step
batch → embed → InfoNCE → backward → step → log → score on held-out → checkpoint; finally export
the best step by held-out nDCG@10 (or the last, with keep="last").

Runs as one process, or as several under `torchrun` (DDP: each process embeds its slice of the
global batch, the loss sees every process's embeddings, gradients are summed).
"""

import math
import os
import time
from contextlib import nullcontext

import torch
import torch.distributed as dist

from storage import runs as run_rows
from storage.db import open_db
from studio.embedding import distributed
from studio.embedding.gradcache import contrastive_backward
from studio.embedding.loss import InfoNCELoss
from studio.embedding.model import DEFAULT_MAX_LENGTH, EmbeddingModel, load_backbone
from studio.errors import StudioError
from studio.training import checkpoint
from studio.training.config import TrainConfig
from studio.evaluation.heldout import heldout_dataset
from studio.training.data import BatchPlan, data_counts, default_query_instruction, load_examples, trained_documents
from studio.training.export import export_model, write_model_card
from studio.training.heldout_score import Scoreboard, eval_steps, heldout_ndcg
from studio.training.split import split_heldout, without_leaks


def enable_checkpointing(backbone) -> None:
    """Non-reentrant activation checkpointing, under either name transformers has used for it.

    transformers 5.23 calls it activation_checkpointing_enable; the GPU images we ran on (5.17)
    only know gradient_checkpointing_enable."""
    kwargs = {"use_reentrant": False}
    if hasattr(backbone, "activation_checkpointing_enable"):
        backbone.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def build_model(config: TrainConfig, device: torch.device) -> EmbeddingModel:
    """The base model, with LoRA on every linear layer if asked, gradient checkpointing if asked."""
    backbone, tokenizer, default_pooling, configured_length = load_backbone(config.base_model)
    if hasattr(backbone.config, "use_cache"):
        backbone.config.use_cache = False  # no key/value cache: we embed, we do not generate
    checkpointing = config.gradient_checkpointing
    if checkpointing is None:
        checkpointing = device.type == "cuda"
    if checkpointing:
        # Non-reentrant checkpointing works with frozen inputs (LoRA) without extra hooks.
        enable_checkpointing(backbone)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        backbone = get_peft_model(backbone, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                                       lora_dropout=config.lora_dropout,
                                                       target_modules="all-linear"))
    max_length = config.max_length or configured_length or min(DEFAULT_MAX_LENGTH, tokenizer.model_max_length)
    model = EmbeddingModel(backbone, tokenizer, config.pooling or default_pooling, max_length,
                           name=config.base_model)
    return model.to(device)


def make_optimizer(model, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (not on biases and norm scales).

    The fused implementation updates all parameters in one kernel: on CPU the per-parameter loop
    costs about as much as a second of a minilm step."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    decayed = [p for p in trainable if p.ndim >= 2]
    plain = [p for p in trainable if p.ndim < 2]
    return torch.optim.AdamW([{"params": decayed, "weight_decay": config.weight_decay},
                              {"params": plain, "weight_decay": 0.0}], lr=config.lr, fused=True)


def warmup_then_linear(warmup: int, total: int):
    """LR factor: linear rise over `warmup` steps to 1, then linear decay towards 0 at `total`."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


def _device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _start_distributed(device: torch.device) -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def _broadcast_flag(flag: bool, device) -> bool:
    if not distributed.is_distributed():
        return flag
    tensor = torch.tensor([int(flag)], device=device)
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())


def _stop_distributed() -> None:
    if distributed.is_distributed():
        dist.barrier()
        dist.destroy_process_group()


def train(config: TrainConfig, db_path, job=None, resume: bool = False, log=print) -> dict:
    """Train per `config`; `job` is the JobContext of rank 0 (None on other ranks). Returns a summary."""
    device = _device()
    _start_distributed(device)
    rank, world = distributed.rank(), distributed.world_size()
    is_main = rank == 0
    db = open_db(db_path) if is_main else None
    say = log if is_main else (lambda *_: None)

    # --- data -------------------------------------------------------------------------------
    state = None
    if resume:
        if not checkpoint.has_checkpoint(config.out_dir):
            raise StudioError(f"no checkpoint in {config.out_dir} to resume from: start a new run instead")
        state, saved = checkpoint.read_checkpoint(config.out_dir)
        config = TrainConfig.from_dict(saved)
    config.validate()
    examples = load_examples(open_db(db_path), config.families, config.languages)
    if state is not None:  # the same examples on each side as before the interruption
        by_id = {e.id: e for e in examples}
        heldout_ids = set(saved.get("heldout_ids", []))
        heldout = [e for e in examples if e.id in heldout_ids]
        train_examples, _, _ = without_leaks([by_id[i] for i in state["train_ids"] if i in by_id], heldout)
        split_line = saved.get("split", "")
    else:
        split = split_heldout(examples, config.heldout_share, config.seed)
        train_examples, heldout, split_line = split.train, split.heldout, split.describe()
    plan = BatchPlan(train_examples, config.batch_size, config.seed, world)
    total_steps = config.max_steps or plan.steps_per_epoch
    warmup = config.warmup_steps if config.warmup_steps is not None else min(100, max(1, total_steps // 10))
    counts = data_counts(train_examples, heldout)
    instruction = config.query_instruction or default_query_instruction(train_examples)
    run_config = {**config.to_dict(), "query_instruction": instruction, "heldout_ids": [e.id for e in heldout],
                  "train_ids": [e.id for e in train_examples], "trained_documents": trained_documents(train_examples),
                  "split": split_line, "total_steps": total_steps,
                  "warmup_steps": warmup, "global_batch_size": plan.batch_size, "world_size": world,
                  "device": device.type}
    scored_steps = eval_steps(config.eval_every, total_steps, bool(heldout)) if is_main else set()

    # --- model and optimizer (same seed on every process, so every process builds the same LoRA) ---
    torch.manual_seed(config.seed)
    model = build_model(config, device)
    model.train()
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear(warmup, total_steps))
    loss_fn = InfoNCELoss(config.temperature, mask_duplicates=config.mask_duplicates)
    torch.manual_seed(config.seed + 1 + rank)  # dropout differs between processes, as it should
    start_step = 0
    if state is not None:
        checkpoint.restore(state, model, optimizer, scheduler)
        start_step = state["step"]
        if rank > 0:  # the checkpoint holds rank 0's random state; the others need streams of their own
            torch.manual_seed(config.seed + 1 + rank + start_step)
        run_id = state["run_id"]
        if is_main:
            run_rows.attach_job(db, run_id, job.job_id if job else None)
    elif is_main:
        run_id = run_rows.create_run(db, job.job_id if job else None, config.name or os.path.basename(
            os.path.normpath(config.out_dir)), config.base_model, run_config, str(config.out_dir), counts)
    else:
        run_id = None
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext
    trainable = [p for p in model.parameters() if p.requires_grad]
    scoreboard, heldout_set = Scoreboard(), None
    if scored_steps:
        heldout_set = heldout_dataset(db, run_id, corpus_passages_sample=config.heldout_passages or None)
        if state is not None:
            scoreboard.curve = {p["step"]: p["ndcg_at_10"] for p in run_rows.heldout_curve(db, run_id)}
            best = checkpoint.read_best(config.out_dir)
            if best:
                scoreboard.best_step, scoreboard.best_weights = best
            bare = checkpoint.read_bare_base(config.out_dir)
            if bare:
                scoreboard.base_without_instructions, scoreboard.base_weights = bare

    def score(step_done: int) -> None:
        if step_done not in scored_steps or step_done in scoreboard.curve:
            return
        doc_vectors = model.encode_documents(heldout_set.doc_texts)
        ndcg = heldout_ndcg(model, heldout_set, doc_vectors=doc_vectors)
        if step_done == 0 and any(heldout_set.instructions.values()):
            scoreboard.base_without_instructions = heldout_ndcg(model, heldout_set, with_instructions=False,
                                                                doc_vectors=doc_vectors)
            say(f"held-out nDCG@10 of the base model with bare queries: {scoreboard.base_without_instructions:.4f}")
        run_rows.add_heldout_point(db, run_id, step_done, ndcg)
        if scoreboard.record(step_done, ndcg, model):
            checkpoint.save_best(config.out_dir, step_done, scoreboard.best_weights)
        if step_done == 0 and scoreboard.base_without_instructions is not None:
            checkpoint.save_bare_base(config.out_dir, scoreboard.base_without_instructions, scoreboard.base_weights)
        say(f"held-out nDCG@10 after step {step_done}: {ndcg:.4f}" + (" (the base model)" if step_done == 0 else ""))

    say(f"run {run_id}: {counts['train']} training examples, {counts['heldout']} held out ({split_line}); "
        f"{total_steps} steps of {plan.batch_size} on {world} process(es), {device.type}; "
        f"{sum(p.numel() for p in trainable):,} trainable parameters; pooling {model.pooling}")

    def save(step_done: int) -> None:
        if is_main:
            checkpoint.save_checkpoint(config.out_dir, model, optimizer, scheduler, step_done, run_id,
                                       run_config, [e.id for e in train_examples])

    # --- the loop -------------------------------------------------------------------------------
    last_loss = math.nan
    score(start_step)
    for step in range(start_step, total_steps):
        started = time.perf_counter()
        batch = plan.local_batch(step, rank)
        optimizer.zero_grad(set_to_none=True)
        result = contrastive_backward(model, loss_fn, [e.query for e in batch], [e.positive for e in batch],
                                      [e.negative for e in batch], mini_batch=config.mini_batch, autocast=autocast)
        distributed.sum_gradients(trainable)
        if config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        tokens = distributed.all_reduce_mean(result.tokens, device) * world
        elapsed = time.perf_counter() - started
        last_loss = result.loss
        if is_main:
            run_rows.add_metric(db, run_id, step + 1, result.loss, lr, plan.batch_size / elapsed, tokens / elapsed)
            say(f"step {step + 1}/{total_steps} loss {result.loss:.4f} lr {lr:.2e} "
                f"{plan.batch_size / elapsed:.1f} examples/s {tokens / elapsed:.0f} tokens/s")
            if job:
                job.progress(step + 1, total_steps, message=f"step {step + 1}/{total_steps}, loss {result.loss:.4f}")
        if is_main:
            score(step + 1)
        if (step + 1) % config.checkpoint_every == 0 and step + 1 < total_steps:
            save(step + 1)
        if _broadcast_flag(bool(job and job.cancel_requested()), device):
            save(step + 1)
            if is_main:
                run_rows.finish_run(db, run_id, "cancelled")
                say(f"cancelled after step {step + 1}; checkpoint kept in {checkpoint.checkpoint_dir(config.out_dir)}")
            _stop_distributed()
            return {"run_id": run_id, "state": "cancelled", "step": step + 1, "loss": last_loss}
    _stop_distributed()  # no collective calls after the loop: the other processes may leave

    # --- export -----------------------------------------------------------------------------------
    summary = {"run_id": run_id, "state": "done", "step": total_steps, "loss": last_loss}
    if is_main:
        save(total_steps)
        outcome = scoreboard.outcome(config.keep, total_steps)
        if outcome["kept_step"] != total_steps:
            model.load_state_dict(scoreboard.kept_weights(outcome), strict=False)
            say(f"exporting the weights of step {outcome['kept_step']}, the best by held-out nDCG@10"
                + (", with no query prompt (the base model searched better with bare queries)"
                   if outcome.get("bare_queries") else ""))
        if outcome.get("verdict"):
            say(f"this run is {outcome['verdict']}")
        run_rows.set_outcome(db, run_id, outcome)
        final = {"steps": total_steps, "final_loss": last_loss}
        export_model(model, config.out_dir, config.base_model, run_config, counts, final, instruction, outcome)
        run_rows.finish_run(db, run_id, "done")
        say(f"saved the model to {config.out_dir}")
        summary["outcome"] = outcome
        summary["heldout"] = evaluate_heldout(db_path, run_id, counts["heldout"], say,
                                              progress=job.progress if job else None)
        if summary["heldout"]:
            write_model_card(config.out_dir, config.base_model, model.pooling, run_config, counts,
                             {**final, "heldout": summary["heldout"]}, instruction, outcome)
    return summary


def evaluate_heldout(db_path, run_id: int, heldout_count: int, say, progress=None) -> dict | None:
    """Score the run on its held-out examples, when the evaluation area is present."""
    if not heldout_count:
        return None
    try:
        from studio.evaluation import evaluate_run_heldout
    except ImportError:
        say("held-out evaluation is not available in this build; skipped")
        return None
    try:
        metrics = evaluate_run_heldout(db_path, run_id, progress=progress)
    except Exception as error:  # the model is trained and saved: a failed evaluation must not undo that
        say(f"held-out evaluation failed ({error.__class__.__name__}: {error}); evaluate the run from the Compare tab")
        return None
    say("held-out metrics: " + ", ".join(
        f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}" for name, value in metrics.items()))
    return metrics
