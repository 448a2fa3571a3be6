"""Retrieval evaluation: metrics, BEIR datasets, held-out sets, search, evaluation jobs."""


def evaluate_run_heldout(db_path, run_id: int, include_base: bool = True, progress=None) -> dict:
    """Metrics of a run's model on its held-out examples (stored in evaluations); see runner."""
    from studio.evaluation.runner import evaluate_run_heldout as run

    return run(db_path, run_id, include_base=include_base, progress=progress)


__all__ = ["evaluate_run_heldout"]
