"""A comparison of two models on one dataset, computed without any UI.

Model A is the reference (usually the base model), model B the challenger (usually a fine-tuned
run); every delta is B − A. A comparison moves through named states: each side is `ready` (a
stored evaluation of these very model files, settings and instruction on this very corpus),
`evaluating` (a background `eval` job) or `failed`; the comparison as a whole is `waiting`,
`ready` or `failed`. The Compare tab starts one, polls `advance`, and shows what it says.
"""

from dataclasses import dataclass, field, replace
from pathlib import Path

from storage import evaluations as evaluation_rows
from storage import jobs as job_rows
from storage.db import open_db
from studio.errors import StudioError
from studio.evaluation import embedding_cache, instructions
from studio.evaluation.beir import RetrievalDataset
from studio.evaluation.choices import run_of_model, training_overlap
from studio.evaluation.corpus_set import CORPUS_PREFIX, corpus_of
from studio.evaluation.metrics import METRIC_NAMES
from studio.evaluation.runner import (choose_instruction, dataset_label, expects_instructions, launch_evaluation,
                                      load_dataset, trained_with_instructions)
from studio.evaluation.settings import EvalSettings, heldout_run_of

METRIC_LABELS = {"ndcg_at_10": "nDCG@10", "mrr_at_10": "MRR@10", "recall_at_1": "Recall@1",
                 "recall_at_5": "Recall@5", "recall_at_10": "Recall@10", "recall_at_100": "Recall@100",
                 "map_at_100": "MAP@100"}
READY, EVALUATING, FAILED = "ready", "evaluating", "failed"   # a side
WAITING = "waiting"                                            # the comparison, until both sides are ready

_datasets: dict[tuple, RetrievalDataset] = {}


def dataset_key(db, spec: str, split: str) -> tuple:
    """Names a dataset as it is now: a BEIR folder by its files' times; a held-out set or a corpus's queries
    by the examples, their links to passages, the runs and the corpora they are built from."""
    if spec.startswith("heldout:") or spec.startswith(CORPUS_PREFIX):
        stamp = (*db.execute("SELECT COUNT(*), MAX(updated_at) FROM examples").fetchone(),
                 *db.execute("SELECT COUNT(*), MAX(id) FROM runs").fetchone(),
                 *db.execute("SELECT COUNT(*), MAX(id) FROM corpora").fetchone(),
                 *db.execute("SELECT COUNT(*), MAX(example_id) FROM example_passages").fetchone())
        return (spec, "heldout", stamp)
    source = Path(spec).expanduser()
    stamp = tuple(p.stat().st_mtime_ns for p in [source, *source.glob("*.jsonl"), *source.glob("qrels/*.tsv")]
                  if p.exists())
    return (spec, split, stamp)


def cached_dataset(db, spec: str, split: str) -> RetrievalDataset:
    """Load a dataset once per UI process; it is loaded again when what it is built from changes."""
    key = dataset_key(db, spec, split)
    if key not in _datasets:
        if len(_datasets) >= 4:
            _datasets.pop(next(iter(_datasets)))
        _datasets[key] = load_dataset(db, spec, split)
    return _datasets[key]


def dataset_of(db, comparison: "Comparison") -> RetrievalDataset:
    """The dataset as it was when the comparison started (its queries are the ones both sides scored),
    or as it is now if the process has let go of that one."""
    found = _datasets.get(comparison.dataset_key) if comparison.dataset_key else None
    return found if found is not None else cached_dataset(db, comparison.spec, comparison.split)


@dataclass
class SideRequest:
    """What the person asked for one side: a model, and optionally an instruction or none at all."""
    model: str
    instruction: str = ""        # empty: the model's default (its saved prompt, or each query's own)
    no_instruction: bool = False


@dataclass
class Side:
    """One model's standing in a comparison."""
    label: str                   # "A" or "B"
    settings: EvalSettings
    instruction: instructions.QueryInstruction
    state: str                   # READY, EVALUATING or FAILED
    evaluation_id: int | None = None
    job_id: int | None = None
    message: str = ""            # progress, or why it failed

    @property
    def model(self) -> str:
        return self.settings.model


@dataclass
class Comparison:
    spec: str
    split: str
    sides: list[Side]
    warnings: list[str] = field(default_factory=list)
    dataset_key: tuple = ()      # the dataset both sides are scored on (see dataset_of)

    @property
    def state(self) -> str:
        states = {side.state for side in self.sides}
        if FAILED in states:
            return FAILED
        return READY if states == {READY} else WAITING

    @property
    def evaluation_ids(self) -> list[int | None]:
        return [side.evaluation_id for side in self.sides]


def default_instruction(db, model: str, spec: str | None) -> str:
    """What a model's queries get when no instruction is typed, said for people."""
    try:
        held_out = bool(spec) and (heldout_run_of(spec) is not None or corpus_of(spec) is not None)
    except StudioError:
        held_out = False
    if held_out and trained_with_instructions(db, model):
        return "each query's own task instruction (the model was trained with them)"
    prompt = instructions.saved_query_prompt(model)
    if prompt:
        return f"its saved query prompt “{instructions.instruction_in_prompt(prompt)}”"
    if trained_with_instructions(db, model):
        return "none: the model saves no query prompt, though it was trained with instructions (type one above)"
    return "none (the model saves no query prompt)"


def side_settings(request: SideRequest, spec: str, split: str) -> EvalSettings:
    """The evaluation settings one side of the tab stands for (what its job is launched with)."""
    return EvalSettings.for_dataset((request.model or "").strip(), spec, split,
                                    instruction=(request.instruction or "").strip() or None,
                                    no_instruction=bool(request.no_instruction)).validate()


def find_evaluation(db, settings: EvalSettings, dataset: RetrievalDataset,
                    instruction: instructions.QueryInstruction | None = None) -> dict | None:
    """A stored evaluation of this very model (same files, pooling, max length), with the same query
    instruction and the same identical-id rule, on this very corpus and these very queries, if there is one."""
    chosen = instruction or choose_instruction(db, settings, dataset)
    key = embedding_cache.model_key(settings.model, settings.pooling, settings.max_length)
    excluded = 0 if settings.keep_identical_ids else len(set(dataset.queries) & set(dataset.doc_ids))
    queries = dataset.query_fingerprint
    for row in evaluation_rows.evaluations_of(db, settings.model, dataset_label(settings.dataset_spec), dataset.split):
        details = row["details"]
        if (details.get("model_key") == key and details.get("corpus") == dataset.fingerprint
                and instructions.of_details(details) == (chosen.source, chosen.text)
                and details.get("excluded_identical_ids", 0) == excluded
                and details.get("queries", queries) == queries
                and details.get("n_queries", len(dataset.queries)) == len(dataset.queries)):
            return evaluation_rows.get_evaluation(db, row["id"])
    return None


def start(db_path, a: SideRequest, b: SideRequest, spec: str, split: str, launch_missing: bool = True) -> Comparison | None:
    """Find stored evaluations of both sides or start jobs for them (StudioError for a bad choice).

    With `launch_missing` False nothing is started: the comparison is returned only when both sides
    are already stored (the tab shows such a pair as soon as it opens)."""
    if not (a.model or "").strip() or not (b.model or "").strip():
        raise StudioError("choose both model A and model B")
    if not spec:
        raise StudioError("choose a dataset: a run's held-out set, a BEIR folder path or an uploaded zip")
    db = open_db(db_path)
    dataset = cached_dataset(db, spec, (split or "test").strip())
    settings = [side_settings(request, spec, dataset.split) for request in (a, b)]
    chosen = [choose_instruction(db, s, dataset) for s in settings]
    if settings[0].model == settings[1].model and chosen[0] == chosen[1]:
        raise StudioError("choose two different models, or give the same model two different instructions")
    sides = []
    for label, side_setting, instruction in zip("AB", settings, chosen):
        found = find_evaluation(db, side_setting, dataset, instruction)
        if found:
            sides.append(Side(label, side_setting, instruction, READY, evaluation_id=found["id"]))
        elif not launch_missing:
            return None
        else:
            sides.append(Side(label, side_setting, instruction, EVALUATING, job_id=launch_evaluation(db_path, side_setting),
                              message="starting"))
    return Comparison(spec, dataset.split, sides, warnings=list(dataset.warnings) + _warnings(db, sides, spec),
                      dataset_key=dataset_key(db, spec, (split or "test").strip()))


def _warnings(db, sides: list[Side], spec: str) -> list[str]:
    notes = []
    for side in sides:
        if side.instruction.source == instructions.NONE and expects_instructions(db, side.model):
            notes.append(f"{side.label} was trained with instructions but is evaluated without any: its figures "
                         "understate it. Leave its instruction empty (and *No instruction* unticked) to use its own.")
        overlap = training_overlap(db, side.model, spec)
        if overlap:
            run = run_of_model(db, side.model)
            notes.append(f"{overlap} of this dataset's queries were training examples of {side.label} (run "
                         f"{run['id']}): there its figures measure memory, not generalisation. Choose "
                         f"{side.label}'s own held-out set (heldout:run-{run['id']}) to measure it fairly.")
    return notes


def advance(db_path, comparison: Comparison) -> Comparison:
    """The comparison after looking at its jobs: finished ones give their evaluation, dead ones fail."""
    from studio import jobs

    db = open_db(db_path)
    jobs.reap(db)
    sides = []
    for side in comparison.sides:
        if side.state == EVALUATING:
            job = job_rows.get_job(db, side.job_id)
            if job["state"] == "done":
                found = evaluation_rows.evaluation_for_job(db, side.job_id)
                side = (replace(side, state=READY, evaluation_id=found["id"], message="") if found else
                        replace(side, state=FAILED, message="the job finished without storing a result"))
            elif job["state"] in ("failed", "cancelled", "interrupted"):
                side = replace(side, state=FAILED, message=f"{job['state']} — {job['error'] or job['message'] or ''}")
            else:
                side = replace(side, message=f"{100 * (job['progress'] or 0):.0f}% — {job['message'] or 'starting'}")
        sides.append(side)
    return replace(comparison, sides=sides)


def status_lines(comparison: Comparison) -> list[str]:
    """One Markdown line per side (what it is, its instruction, where it stands), then the warnings."""
    lines = []
    for side in comparison.sides:
        where = {READY: "ready.", EVALUATING: f"evaluating, {side.message}", FAILED: side.message}[side.state]
        lines.append(f"**{side.label}** `{side.model}` · instruction: {side.instruction.label} — {where}")
    if comparison.state == FAILED:
        lines.append("Fix the problem above and press **Compare** again.")
    lines += [f"⚠️ {warning}" for warning in comparison.warnings]
    return lines


def query_instructions(comparison: Comparison, typed_instruction: str | None = None):
    """Each side's instruction for a side-by-side search. A typed query has no task of its own, so a side
    that gives each query its own task instruction takes the typed one (if any) instead."""
    typed = (typed_instruction or "").strip()
    return tuple(instructions.QueryInstruction(instructions.GIVEN, typed)
                 if typed and side.instruction.source == instructions.PER_QUERY else side.instruction
                 for side in comparison.sides)


def evaluations(db, comparison: Comparison) -> list[dict]:
    return [evaluation_rows.get_evaluation(db, evaluation_id) for evaluation_id in comparison.evaluation_ids]


def metrics_rows(a: dict, b: dict) -> list[list]:
    """[metric, A, B, B − A] for each metric."""
    return [[METRIC_LABELS[name], round(a["metrics"][name], 4), round(b["metrics"][name], 4),
             round(b["metrics"][name] - a["metrics"][name], 4)] for name in METRIC_NAMES]


def per_query_rows(a: dict, b: dict, dataset: RetrievalDataset, order: str = "largest change",
                   metric: str = "ndcg_at_10") -> list[list]:
    """[query id, query, A, B, B − A] per query, sorted by the change of `metric`.

    order: "largest change" (wins and losses by size), "wins first" or "losses first". Only queries both
    evaluations scored are listed."""
    rows = []
    for query_id, scores_a in a["per_query"].items():
        if query_id not in b["per_query"]:
            continue
        score_a, score_b = scores_a.get(metric, 0.0), b["per_query"][query_id].get(metric, 0.0)
        text = dataset.queries.get(query_id, "(no longer in the dataset)")
        rows.append([query_id, text, round(score_a, 4), round(score_b, 4), round(score_b - score_a, 4)])
    if order == "wins first":
        rows.sort(key=lambda row: -row[4])
    elif order == "losses first":
        rows.sort(key=lambda row: row[4])
    else:
        rows.sort(key=lambda row: -abs(row[4]))
    return rows


def stored_rows(db, limit: int = 50) -> list[list]:
    """Recent evaluations for the history table: id, run, model, dataset, split, instruction, headline
    metrics, when."""
    rows = []
    for row in evaluation_rows.list_evaluations(db, limit=limit):
        metrics = row["metrics"]
        source, text = instructions.of_details(row["details"])
        rows.append([row["id"], row["run_id"] or "", row["model"], row["dataset"], row["split"],
                     text or source, round(metrics.get("ndcg_at_10", 0.0), 4),
                     round(metrics.get("mrr_at_10", 0.0), 4), round(metrics.get("recall_at_10", 0.0), 4),
                     row["created_at"][:19].replace("T", " ")])
    return rows


__all__ = ["Comparison", "METRIC_LABELS", "Side", "SideRequest", "advance", "cached_dataset", "dataset_of", "default_instruction",
           "evaluations", "query_instructions",
           "find_evaluation", "metrics_rows", "per_query_rows", "side_settings", "start", "status_lines",
           "stored_rows"]
