"""Writing a trained model so that others can use it without the studio.

`out_dir` becomes a sentence-transformers folder: the merged transformers weights and tokenizer
(which appends EOS itself for last-token pooling), `modules.json` (Transformer → Pooling →
Normalize), the pooling config, `config_sentence_transformers.json` with the query prompt, and a
README model card. With LoRA the adapter alone is also saved in `out_dir/lora_adapter`.
"""

import json
from pathlib import Path

from studio.embedding.query import QUERY_TEMPLATE

ADAPTER_DIR = "lora_adapter"
DEFAULT_INSTRUCTION = "Given a query, retrieve relevant documents"


def export_model(model, out_dir, base_model: str, config: dict, data_counts: dict, metrics: dict,
                 instruction: str | None = None, outcome: dict | None = None) -> Path:
    """Save `model` (an EmbeddingModel, LoRA-wrapped or not) to `out_dir`; merges LoRA in place."""
    from peft import PeftModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    backbone = model.backbone
    if isinstance(backbone, PeftModel):
        backbone.save_pretrained(out / ADAPTER_DIR)
        backbone = backbone.merge_and_unload()
        model.backbone = backbone
    backbone.save_pretrained(out)
    model.tokenizer.save_pretrained(out)
    instruction = instruction or DEFAULT_INSTRUCTION
    bare = bool((outcome or {}).get("bare_queries"))  # the base weights, better with bare queries: no prompt
    query_prompt = "" if bare else QUERY_TEMPLATE.format(instruction=instruction, query="")
    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": model.max_length, "do_lower_case": False})
    (out / "1_Pooling").mkdir(exist_ok=True)
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": model.dimension,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": model.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_lasttoken": model.pooling == "last",
    })
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(out / "config_sentence_transformers.json", {
        "prompts": {"query": query_prompt, "document": ""},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    write_model_card(out, base_model, model.pooling, config, data_counts, metrics, instruction, outcome)
    return out


def write_model_card(out_dir, base_model: str, pooling: str, config: dict, data_counts: dict, metrics: dict,
                     instruction: str | None = None, outcome: dict | None = None) -> None:
    text = model_card(base_model, pooling, config, data_counts, metrics, instruction or DEFAULT_INSTRUCTION,
                      outcome or {})
    (Path(out_dir) / "README.md").write_text(text)


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")


def outcome_lines(outcome: dict) -> list[str]:
    """The model card's account of the held-out scores and of which step was exported."""
    if not outcome.get("evaluated"):
        return ["No held-out examples were scored during training: these are the weights of the last step."]
    lines = [f"**This model is {outcome['verdict']}** on the run's held-out tasks.", ""]
    if not outcome["better_than_base"] and outcome["kept_step"] == 0:
        lines.append("No training step beat the base model's held-out nDCG@10 "
                     f"({outcome['base_ndcg_at_10']:.4f}), so this folder holds the base model's weights (step 0)"
                     + (", with no query prompt: it searched better with bare queries." if outcome.get("bare_queries")
                        else "."))
    else:
        lines.append(f"Exported: step {outcome['kept_step']} ({'the best by held-out nDCG@10' if outcome['kept'] == 'best' else 'the last step, as asked'}); "
                     f"held-out nDCG@10 {outcome['kept_ndcg_at_10']:.4f}, base model {outcome['base_ndcg_at_10']:.4f}.")
    lines.append("Held-out nDCG@10 by step: " + ", ".join(f"{step}: {score:.4f}" for step, score in outcome["curve"]))
    return lines


def model_card(base_model: str, pooling: str, config: dict, data_counts: dict, metrics: dict, instruction: str,
               outcome: dict | None = None) -> str:
    shown_config = {k: v for k, v in config.items() if k not in ("heldout_ids", "train_ids", "trained_documents")}
    if (outcome or {}).get("bare_queries"):
        use = ["queries = model.encode(['how do plants make food?'])",
               "documents = model.encode(['Photosynthesis turns light into chemical energy.'])",
               "```",
               "Queries and documents take no instruction: no training step beat the base model, and the base "
               f"model searched the held-out queries better bare ({outcome['base_without_instructions_ndcg_at_10']:.4f}) "
               f"than with their instructions ({outcome['curve'][0][1]:.4f}), so it ships as it was, with no query "
               "prompt."]
    else:
        use = [f"queries = model.encode(['how do plants make food?'], prompt='Instruct: {instruction}\\nQuery: ')",
               "documents = model.encode(['Photosynthesis turns light into chemical energy.'])",
               "```",
               "Queries take the instruction format `Instruct: {task description}\\nQuery: {query}`; the saved "
               f"prompt `query` uses \"{instruction}\". Documents take no instruction."]
    lines = [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        "tags: [sentence-transformers, embedding-studio, infonce]",
        "---",
        f"# Embedding model fine-tuned from `{base_model}`",
        "",
        "Trained with Embedding Studio: InfoNCE over in-batch and hard negatives "
        f"(temperature {config.get('temperature')}), {pooling} pooling"
        f"{' with EOS appended by the tokenizer' if pooling == 'last' else ''}, L2-normalised outputs.",
        "",
        "## Use",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "model = SentenceTransformer('PATH_TO_THIS_FOLDER')",
        *use,
        "",
        "## Held-out result",
        *outcome_lines(outcome or {}),
        "",
        "## Data",
        f"- held-out split: {config.get('split') or 'none'}",
        f"- training examples: {data_counts.get('train', 0)} (with a hard negative: {data_counts.get('with_negative', 0)})",
        f"- held-out examples: {data_counts.get('heldout', 0)}",
        f"- by family: {json.dumps(data_counts.get('by_family', {}), ensure_ascii=False)}",
        f"- by language: {json.dumps(data_counts.get('by_language', {}), ensure_ascii=False)}",
        "",
        "## Training configuration",
        "```json",
        json.dumps(shown_config, indent=2, ensure_ascii=False),
        "```",
        "",
        "## Metrics",
        "```json",
        json.dumps(metrics, indent=2, ensure_ascii=False),
        "```",
    ]
    if (Path(config.get("out_dir", ".")) / ADAPTER_DIR).exists() or config.get("lora"):
        lines += ["", f"The LoRA adapter alone (r={config.get('lora_r')}, alpha={config.get('lora_alpha')}, "
                  f"all linear layers) is in `{ADAPTER_DIR}/`; this folder holds the merged weights."]
    return "\n".join(lines) + "\n"
