"""Checkpoints: the trainable weights, optimizer, schedule, step and random state of a run.

Only parameters that train are saved (the LoRA matrices with --lora), so a checkpoint is small
and a resumed run rebuilds the frozen base from the base model, as the first run did.
"""

import json
import os
from pathlib import Path

import torch

STATE_FILE = "state.pt"
CONFIG_FILE = "config.json"
BARE_BASE_FILE = "bare_base.pt"
BEST_FILE = "best.pt"  # the trainable weights of the best step by held-out nDCG@10


def checkpoint_dir(out_dir) -> Path:
    return Path(out_dir) / "checkpoint"


def has_checkpoint(out_dir) -> bool:
    return (checkpoint_dir(out_dir) / STATE_FILE).exists()


def trainable_state(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(out_dir, model, optimizer, scheduler, step: int, run_id: int, config: dict,
                    train_ids: list[int]) -> Path:
    folder = checkpoint_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    state = {
        "step": step,
        "run_id": run_id,
        "train_ids": train_ids,
        "weights": trainable_state(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    # Write then rename, so that a crash mid-write never leaves a half checkpoint behind.
    partial = folder / (STATE_FILE + ".partial")
    torch.save(state, partial)
    os.replace(partial, folder / STATE_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    return folder


def read_checkpoint(out_dir) -> tuple[dict, dict]:
    """(state, config) of the checkpoint in `out_dir`."""
    folder = checkpoint_dir(out_dir)
    # Tensors and plain data only: a checkpoint file never gets to unpickle code.
    state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    config = json.loads((folder / CONFIG_FILE).read_text())
    return state, config


def restore(state: dict, model, optimizer, scheduler) -> None:
    missing = [name for name, p in model.named_parameters() if p.requires_grad and name not in state["weights"]]
    if missing:
        raise RuntimeError(f"the checkpoint lacks {len(missing)} trainable weights, e.g. {missing[0]}")
    model.load_state_dict(state["weights"], strict=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_cpu"])
    if state.get("rng_cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])


def save_best(out_dir, step: int, weights: dict) -> None:
    folder = checkpoint_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (BEST_FILE + ".partial")
    torch.save({"step": step, "weights": weights}, partial)
    os.replace(partial, folder / BEST_FILE)


def save_bare_base(out_dir, score: float, weights: dict | None) -> None:
    """The base model's held-out score with bare queries, and its weights when that beat it with instructions
    (what ships if no step does better), so a resumed run decides as an uninterrupted one would."""
    folder = checkpoint_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (BARE_BASE_FILE + ".partial")
    torch.save({"score": score, "weights": weights}, partial)
    os.replace(partial, folder / BARE_BASE_FILE)


def read_bare_base(out_dir) -> tuple[float, dict | None] | None:
    path = checkpoint_dir(out_dir) / BARE_BASE_FILE
    if not path.exists():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=True)
    return saved["score"], saved["weights"]


def read_best(out_dir) -> tuple[int, dict] | None:
    """(step, trainable weights) of the best step saved so far, if any."""
    path = checkpoint_dir(out_dir) / BEST_FILE
    if not path.exists():
        return None
    best = torch.load(path, map_location="cpu", weights_only=True)
    return best["step"], best["weights"]
