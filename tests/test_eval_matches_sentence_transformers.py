"""What is measured is what ships: `studio eval` on a model the studio trained with instructions and
exported equals sentence-transformers (`encode_query` / `encode_document` on the exported folder)
+ exact cosine + trec_eval (pytrec_eval) on the same BEIR folder, to 0.002 on every metric."""

import json

import numpy as np
import pytest
import pytrec_eval

from storage import evaluations as evaluation_rows
from storage.db import open_db
from studio.cli import main
from studio.evaluation.beir import load_beir
from studio.training.config import TrainConfig
from studio.training.trainer import train
from tests.beir_files import write_beir
from tests.tiny_models import build_tiny_decoder, build_tiny_encoder
from tests.training_data import add_accepted_examples

TOLERANCE = 0.002
TREC_MEASURES = {"ndcg_cut_10", "recall_1", "recall_5", "recall_10", "recall_100", "map_cut_100"}
OURS_TO_TREC = {"ndcg_at_10": "ndcg_cut_10", "recall_at_1": "recall_1", "recall_at_5": "recall_5",
                "recall_at_10": "recall_10", "recall_at_100": "recall_100", "map_at_100": "map_cut_100"}
TYPED = "Find the encyclopedia passage about this"


@pytest.fixture(scope="module", params=["encoder", "decoder"])
def exported(request, tmp_path_factory):
    """A tiny model trained for a few steps on examples with instructions, exported by the trainer."""
    import torch

    folder = tmp_path_factory.mktemp(f"trained-{request.param}")
    db_path = folder / "studio.db"
    build = build_tiny_encoder if request.param == "encoder" else build_tiny_decoder
    base = build(folder / "base")
    add_accepted_examples(db_path, 24)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig(base_model=str(base), out_dir=str(folder / "out"), batch_size=8, max_steps=3, lr=1e-3,
                          heldout_share=0.0, checkpoint_every=100), db_path)
    finally:
        torch.set_num_threads(threads)
    return folder / "out"


def reference_metrics(model_dir, beir_dir, prompt: str | None) -> tuple[dict[str, float], dict]:
    """sentence-transformers encodes, numpy scores every document by cosine, pytrec_eval scores the run."""
    from sentence_transformers import SentenceTransformer

    dataset = load_beir(beir_dir, "test")
    model = SentenceTransformer(str(model_dir), device="cpu")
    texts = list(dataset.queries.values())
    if prompt == "saved":
        queries = model.encode_query(texts)
    else:
        queries = model.encode(texts, prompt=prompt)
    docs = model.encode_document(dataset.doc_texts)
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    docs = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    scores = queries @ docs.T
    run = {query_id: {doc_id: float(s) for doc_id, s in zip(dataset.doc_ids, row)}
           for query_id, row in zip(dataset.queries, scores)}
    per_query = pytrec_eval.RelevanceEvaluator(dataset.qrels, TREC_MEASURES).evaluate(run)
    top10 = {q: dict(sorted(docs_.items(), key=lambda item: (-item[1], item[0]))[:10]) for q, docs_ in run.items()}
    reciprocal = pytrec_eval.RelevanceEvaluator(dataset.qrels, {"recip_rank"}).evaluate(top10)
    metrics = {ours: float(np.mean([values[trec] for values in per_query.values()]))
               for ours, trec in OURS_TO_TREC.items()}
    metrics["mrr_at_10"] = float(np.mean([values["recip_rank"] for values in reciprocal.values()]))
    return metrics, run


def studio_eval(model_dir, beir_dir, db_path, capsys, *flags) -> dict:
    assert main(["eval", "--model", str(model_dir), "--beir", str(beir_dir), "--json", "--db", str(db_path),
                 *flags]) == 0
    return json.loads(capsys.readouterr().out.strip())


@pytest.mark.parametrize("flags, prompt", [((), "saved"), (("--no-instruction",), None),
                                           (("--instruction", TYPED), f"Instruct: {TYPED}\nQuery: ")])
def test_studio_eval_equals_sentence_transformers_and_trec_eval(exported, tmp_path, db_path, capsys, flags, prompt):
    saved = json.loads((exported / "config_sentence_transformers.json").read_text())["prompts"]["query"]
    assert saved.startswith("Instruct: ") and saved.endswith("\nQuery: ")  # trained with instructions
    beir_dir = write_beir(tmp_path / "toy")
    ours = studio_eval(exported, beir_dir, db_path, capsys, *flags)
    expected_instruction = {"saved": saved.removeprefix("Instruct: ").removesuffix("\nQuery: "), None: None}.get(
        prompt, TYPED)
    assert ours["query_instruction"] == expected_instruction
    reference, scores = reference_metrics(exported, beir_dir, prompt)
    for name, value in reference.items():
        assert abs(ours[name] - value) <= TOLERANCE, (name, ours[name], value)
    # Not only the figures: each stored top document carries sentence-transformers' own cosine.
    stored = evaluation_rows.get_evaluation(open_db(db_path), ours["evaluation_id"])
    for query_id, result in stored["per_query"].items():
        for doc_id, score in result["top"]:
            assert score == pytest.approx(scores[query_id][doc_id], abs=1e-4), (query_id, doc_id)
