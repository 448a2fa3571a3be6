"""Evaluation runs by itself at the end of a training run, on the run's held-out examples."""

from storage import evaluations as evaluation_rows
from storage.db import open_db
from studio.training.config import TrainConfig
from studio.training.trainer import train
from tests.tiny_models import build_tiny_encoder
from tests.training_data import add_accepted_examples


def test_a_finished_run_has_heldout_evaluations_of_itself_and_its_base(db_path, tmp_path):
    base = build_tiny_encoder(tmp_path / "base")
    add_accepted_examples(db_path, 20)
    out = tmp_path / "run"
    summary = train(TrainConfig(base_model=str(base), out_dir=str(out), batch_size=4, max_steps=2, seed=3,
                                heldout_share=0.2), db_path)
    stored = evaluation_rows.list_evaluations(open_db(db_path), run_id=summary["run_id"])
    by_model = {row["model"]: row for row in stored}
    assert set(by_model) == {str(out), str(base)}
    tuned = by_model[str(out)]
    assert tuned["dataset"] == f"heldout:run-{summary['run_id']}" and tuned["details"]["n_queries"] == 4
    from studio.evaluation.instructions import NONE, PER_QUERY

    # what ships is what is measured: each query's own instruction, unless the run shipped the base model
    # bare (it searched better without instructions than any step did with them)
    bare = summary["outcome"]["bare_queries"]
    assert tuned["details"]["instruction_source"] == (NONE if bare else PER_QUERY)
    assert by_model[str(base)]["details"]["instruction_source"] == NONE
    assert 0.0 <= tuned["metrics"]["ndcg_at_10"] <= 1.0
