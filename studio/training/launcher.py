"""Starting, watching, cancelling and resuming training jobs: what the Train tab calls.

Training runs as a background process (`python -m studio train ...`); this module only writes
job rows, starts processes and reads the database, so a page reload or a UI restart loses
nothing: the tab finds the running job again from the database.
"""

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from storage import jobs as job_rows
from storage import runs as run_rows
from storage.db import open_db
from studio import jobs, settings
from studio.config import data_dir
from studio.errors import StudioError
from studio.training.config import TrainConfig
from studio.training.data import default_query_instruction, load_examples
from studio.training.split import split_heldout


@dataclass(frozen=True)
class Suggested:
    """Hyper-parameters for this machine, and a sentence saying how they depart from the paper."""
    batch_size: int
    mini_batch: int | None
    max_length: int
    lr: float
    lora: bool
    note: str


def machine() -> tuple[str, float]:
    """('cuda' or 'cpu', GPU memory in GiB or CPU core count)."""
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.cuda.get_device_properties(0).total_memory / 2**30
    return "cpu", float(os.cpu_count() or 1)


def suggested_settings(base_model: str) -> Suggested:
    """METHOD.md §5's recipe (batch 2048, max length 512, lr 1e-4 with LoRA r16 α32, τ 0.02,
    warm-up then linear decay, weight decay 0.1) scaled to what this machine can do."""
    kind, size = machine()
    lora = _is_decoder(base_model)  # a small encoder trains fully; a decoder gets LoRA as in the paper
    lr = 1e-4 if lora else 2e-5
    if kind == "cuda":
        batch = 2048 if size >= 40 else 512
        note = (f"Scaled to this GPU ({size:.0f} GiB): batch {batch} with cached negatives in chunks of 64, "
                "max length 512, bf16. The paper: batch 2048, max length 512, lr 1e-4, LoRA r16/α32, τ 0.02.")
        return Suggested(batch, 64, 512, lr, lora, note)
    note = (f"Scaled to this machine (CPU, {size:.0f} cores): batch 32 and max length 256 instead of the "
            "paper's 2048 and 512, no negative caching, one epoch; τ 0.02, warm-up then linear decay and "
            f"weight decay 0.1 as in the paper; lr {lr:g} ({'LoRA r16/α32' if lora else 'full fine-tuning'}).")
    return Suggested(32, None, 256, lr, lora, note)


def _is_decoder(base_model: str) -> bool:
    if base_model.strip() in ("smollm2", "minilm"):
        return base_model.strip() == "smollm2"
    try:
        from studio.model_registry import resolve_model

        return resolve_model(base_model).default_pooling == "last"
    except StudioError:
        return False


def default_out_dir() -> Path:
    return data_dir() / "runs" / datetime.now(timezone.utc).strftime("run-%Y%m%d-%H%M%S")


def data_preview(db_path, families: list[str], languages: list[str], heldout_share: float, seed: int = 42) -> dict:
    """What a run with these settings would train on and hold out, before it starts."""
    examples = load_examples(open_db(db_path), families, languages)
    split = split_heldout(examples, heldout_share, seed)
    return {"matching": len(examples), "train": len(split.train), "heldout": len(split.heldout),
            "with_negative": sum(e.negative is not None for e in split.train), "tasks": split.groups,
            "heldout_tasks": split.heldout_groups, "documents": split.documents, "split": split.describe(),
            "query_instruction": default_query_instruction(split.train)}


def accepted_languages(db_path) -> list[str]:
    rows = open_db(db_path).execute(
        "SELECT DISTINCT language FROM examples WHERE status = 'accepted' ORDER BY language").fetchall()
    return [row[0] for row in rows]


def reconcile(db) -> None:
    """Mark interrupted the jobs whose process died, and the runs those jobs were training."""
    jobs.reap(db)
    for run in run_rows.list_runs(db, limit=20):
        if run["state"] != "running" or not run["job_id"]:
            continue
        job = job_rows.get_job(db, run["job_id"])
        if job and job["state"] in job_rows.FINAL_STATES:
            run_rows.finish_run(db, run["id"], job["state"])


def active_training_job(db_path) -> dict | None:
    db = open_db(db_path)
    reconcile(db)
    active = job_rows.active_jobs(db, "train")
    return active[-1] if active else None


def config_from_form(values: dict) -> TrainConfig:
    """A TrainConfig from the Train tab's form (values named by field; empty: the default)."""
    config = settings.from_form(TrainConfig, values)
    if not config.base_model.strip():
        raise StudioError("pick a base model (minilm, smollm2) or type a local folder")
    config.out_dir = config.out_dir.strip() or str(default_out_dir())
    return config.validate()


def job_argv(config: TrainConfig) -> list[str]:
    """`python -m studio` arguments that rebuild `config` in the job process (every field, derived)."""
    return ["train", *settings.to_argv(config)]


def _child_env() -> dict:
    # Jobs share the CPU with the UI: leave it a core when there are few.
    cores = os.cpu_count() or 1
    return {} if cores > 4 else {"OMP_NUM_THREADS": str(max(1, cores - 1))}


def start_training(db_path, config: TrainConfig) -> int:
    """Launch a training job; one at a time. Returns the job id."""
    config.validate()
    if active_training_job(db_path):
        raise StudioError("a training job is already running: wait for it or cancel it first")
    preview = data_preview(db_path, config.families, config.languages, config.heldout_share, config.seed)
    if preview["train"] < 2:
        matched = "1 accepted example matches" if preview["train"] == 1 else f"{preview['train']} accepted examples match"
        raise StudioError(f"only {matched} for training: accept more examples "
                          "in the Curate tab or loosen the filters")
    if Path(config.out_dir).exists() and any(Path(config.out_dir).iterdir()):
        raise StudioError(f"the output folder {config.out_dir} is not empty: choose a new folder")
    return jobs.launch(db_path, "train", job_argv(config), args={"config": config.to_dict()}, env=_child_env())


def resume_training(db_path, run_id: int) -> int:
    """Continue a cancelled or interrupted run from its last checkpoint, as a new job."""
    db = open_db(db_path)
    run = run_rows.get_run(db, run_id)
    if run is None:
        raise StudioError(f"there is no run {run_id}: pick one from the list of past runs")
    if active_training_job(db_path):
        raise StudioError("a training job is already running: wait for it or cancel it first")
    if run["state"] == "done":
        raise StudioError(f"run {run_id} has already finished: start a new run to train more")
    from studio.training.checkpoint import has_checkpoint  # imports torch: not at the web server's start

    if not has_checkpoint(run["out_dir"]):
        raise StudioError(f"run {run_id} left no checkpoint to resume from: start a new run instead")
    return jobs.launch(db_path, "train", ["train", "--resume", "--out", run["out_dir"]],
                       args={"resume_run": run_id}, env=_child_env(), resumed_from=run["job_id"])


def cancel_training(db_path) -> int | None:
    """Ask the running training job to stop after its current step (it keeps a checkpoint)."""
    job = active_training_job(db_path)
    if job is None:
        return None
    jobs.cancel(open_db(db_path), job["id"])
    return job["id"]


def latest_training_job(db_path) -> dict | None:
    db = open_db(db_path)
    reconcile(db)
    found = job_rows.list_jobs(db, "train", limit=1)
    return found[0] if found else None


def log_tail(job_id: int, lines: int = 30) -> str:
    path = jobs.log_path(job_id)
    if not path.exists():
        return ""
    text = path.read_text(errors="replace").replace("\r", "\n")
    # Progress bars of model loading are noise in a training log.
    kept = [line for line in text.splitlines() if line.strip() and "it/s]" not in line and "warnings.warn" not in line]
    return "\n".join(kept[-lines:])


def run_results(db_path, run_id: int) -> list[dict]:
    """The run's evaluations, labelled (base model / this run, dataset, split, instruction) with the change."""
    from studio.evaluation.run_report import run_results as labelled

    return labelled(open_db(db_path), run_id)
