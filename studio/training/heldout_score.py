"""Keeping score during training: the held-out nDCG@10 of the model being trained, at step 0 (the
base model) and every few steps, the best weights seen so far, and what the run ends as.

The held-out set is the run's own (studio/evaluation/heldout.py): held-out queries with their task
instructions, searched among every document of the run's examples (and, for queries grounded in a
corpus, a seeded sample of its passages: TrainConfig.heldout_passages). Encoding runs in eval mode
without gradients and draws no random numbers, so scoring does not change the training itself.
"""

from dataclasses import dataclass, field

import numpy as np

from studio.evaluation.beir import RetrievalDataset
from studio.evaluation.metrics import evaluate_run
from studio.evaluation.search import top_k
from studio.training.checkpoint import trainable_state

NO_BETTER = "no better than the base model"


def heldout_ndcg(model, dataset: RetrievalDataset, with_instructions: bool = True, doc_vectors=None) -> float:
    """nDCG@10 of `model` (an EmbeddingModel) on `dataset`, each query with its own instruction
    (or, with `with_instructions=False`, none). `doc_vectors`: the documents already encoded by `model`."""
    if doc_vectors is None:
        doc_vectors = model.encode_documents(dataset.doc_texts)
    query_ids = list(dataset.queries)
    by_instruction: dict[str | None, list[int]] = {}
    for position, query_id in enumerate(query_ids):
        instruction = dataset.instructions.get(query_id) if with_instructions else None
        by_instruction.setdefault(instruction, []).append(position)
    query_vectors = np.zeros((len(query_ids), doc_vectors.shape[1]), dtype=np.float32)
    for instruction, positions in by_instruction.items():
        query_vectors[positions] = model.encode_queries([dataset.queries[query_ids[p]] for p in positions],
                                                        instruction=instruction)
    indices, scores = top_k(query_vectors, doc_vectors, 100)
    run = {query_id: {dataset.doc_ids[i]: float(s) for i, s in zip(indices[row], scores[row])}
           for row, query_id in enumerate(query_ids)}
    return evaluate_run(dataset.qrels, run).metrics["ndcg_at_10"]


@dataclass
class Scoreboard:
    """The held-out curve of a run and the trainable weights of its best step (step 0 counts).

    `base_without_instructions` is the base model scored as people use an untuned model, with bare
    queries. The verdict compares against the better of the two ways of using the base model, so a
    run is never called better only because instructions hurt the base model it started from; and
    when the base used bare beats every step, it is what ships (`bare_queries`: base weights, no
    query prompt), so the model a person takes away is never worse than the one they started from."""
    curve: dict[int, float] = field(default_factory=dict)
    base_without_instructions: float | None = None
    best_step: int | None = None
    best_weights: dict | None = None
    base_weights: dict | None = None   # step 0's, kept when the base model searched better with bare queries

    def record(self, step: int, ndcg: float, model) -> bool:
        """Note the score after `step` steps; keep the weights when strictly better. True if kept."""
        self.curve[step] = ndcg
        state = None
        if step == 0 and self.base_without_instructions is not None and self.base_without_instructions > ndcg:
            self.base_weights = state = trainable_state(model)
        if self.best_step is None or ndcg > self.curve[self.best_step]:
            self.best_step, self.best_weights = step, state if state is not None else trainable_state(model)
            return True
        return False

    def outcome(self, keep: str, final_step: int) -> dict:
        """What the run ends as: which step is exported, and whether any step beat the base model."""
        if not self.curve:
            return {"kept": "last", "kept_step": final_step, "evaluated": False}
        base = self.curve.get(0)
        if base is not None and self.base_without_instructions is not None:
            base = max(base, self.base_without_instructions)
        better = base is not None and any(score > base for step, score in self.curve.items() if step > 0)
        # The base model used bare beat every step: it ships as it was, base weights and no query prompt.
        bare = (keep == "best" and self.base_weights is not None
                and self.base_without_instructions > self.curve[self.best_step])
        kept_step = 0 if bare else self.best_step if keep == "best" else final_step
        verdict = NO_BETTER if not better else (
            f"better than the base model: held-out nDCG@10 {base:.4f} → {self.curve[self.best_step]:.4f} "
            f"at step {self.best_step}")
        return {"kept": keep, "kept_step": kept_step, "evaluated": True, "better_than_base": better,
                "verdict": verdict, "base_ndcg_at_10": base,
                "base_without_instructions_ndcg_at_10": self.base_without_instructions, "best_step": self.best_step,
                "best_ndcg_at_10": self.curve[self.best_step], "bare_queries": bare,
                "kept_ndcg_at_10": self.base_without_instructions if bare else self.curve.get(kept_step),
                "curve": [[step, self.curve[step]] for step in sorted(self.curve)]}

    def kept_weights(self, outcome: dict) -> dict | None:
        """The trainable weights of the step `outcome` exports (None: the model's weights as they are)."""
        return self.base_weights if outcome.get("bare_queries") else self.best_weights


def eval_steps(eval_every: int | None, total_steps: int, has_heldout: bool) -> set[int]:
    """The steps after which the held-out set is scored: 0, every N, and the last (empty: never)."""
    if not has_heldout or eval_every == 0:
        return set()
    every = eval_every or max(1, round(total_steps / 10))
    return {0, total_steps, *range(every, total_steps, every)}
