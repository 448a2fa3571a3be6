"""GPU benchmark: the paper's recipe in miniature on a model shaped like SmolLM2-135M.

A randomly initialised LlamaConfig of SmolLM2-135M (hidden 576, 30 layers, 9 heads, 3 key/value
heads, intermediate 1536, vocabulary 49152; nothing downloaded) trained through the studio's own
trainer pieces: LoRA r16/α32 on all linear layers, gradient checkpointing, bf16 autocast,
last-token pooling with EOS, InfoNCE τ=0.02, batch 512 with cached negatives (mini-batch 64),
queries of 64 tokens and documents of 256, one hard negative each. A word-level tokenizer with
one token per synthetic word makes every length exact. For reference it also runs a plain
(uncached) batch of 32. Prints tokens/s and peak GPU memory; needs only torch, peft and
transformers. `--tiny` runs a 2-layer model on CPU in seconds (a smoke test of this script).

    python benchmarks/gpu_smollm2.py            # on a GPU machine, a few minutes at most
    python benchmarks/gpu_smollm2.py --tiny     # anywhere
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

SMOLLM2_135M = dict(hidden_size=576, num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                    intermediate_size=1536, vocab_size=49152, max_position_embeddings=2048, rms_norm_eps=1e-5,
                    rope_theta=100000.0, tie_word_embeddings=True)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128, vocab_size=1000, max_position_embeddings=256)


def build_folder(folder: Path, shape: dict) -> Path:
    """A random LlamaModel of `shape` and a word-level tokenizer (word `w{i}` is token i) saved to `folder`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    vocab = {token: i for i, token in enumerate(specials)}
    vocab.update({f"w{i}": i for i in range(len(specials), shape["vocab_size"])})
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(**shape, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    LlamaModel(config).save_pretrained(folder)
    return folder


def texts(rng: random.Random, count: int, tokens: int, vocab: int) -> list[str]:
    # One token per word, plus the EOS the model appends.
    return [" ".join(f"w{rng.randrange(4, vocab)}" for _ in range(tokens - 1)) for _ in range(count)]


def run(folder: Path, batch: int, mini_batch: int | None, steps: int, query_len: int, doc_len: int,
        vocab: int) -> dict:
    from studio.embedding.gradcache import contrastive_backward
    from studio.embedding.loss import InfoNCELoss
    from studio.training.config import TrainConfig
    from studio.training.trainer import build_model, make_optimizer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = TrainConfig(base_model=str(folder), out_dir="unused", lora=True, batch_size=batch,
                         mini_batch=mini_batch, max_length=max(query_len, doc_len), gradient_checkpointing=True)
    torch.manual_seed(0)
    model = build_model(config, device)
    model.train()
    optimizer = make_optimizer(model, config)
    loss_fn = InfoNCELoss(0.02)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else None
    rng = random.Random(0)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    speeds, losses = [], []
    for step in range(steps):
        queries = texts(rng, batch, query_len, vocab)
        positives = texts(rng, batch, doc_len, vocab)
        negatives = texts(rng, batch, doc_len, vocab)
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        kwargs = {"autocast": autocast} if autocast else {}
        result = contrastive_backward(model, loss_fn, queries, positives, negatives, mini_batch=mini_batch, **kwargs)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
        speeds.append(result.tokens / elapsed)
        losses.append(result.loss)
        print(f"  batch {batch} mini-batch {mini_batch}: step {step + 1}/{steps} {elapsed:.2f} s, "
              f"{result.tokens / elapsed:,.0f} tokens/s, loss {result.loss:.3f}", flush=True)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    measured = speeds[1:] or speeds  # step 1 pays for kernel selection and allocator growth
    del model, optimizer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"tokens_per_s": statistics.median(measured), "peak_gib": peak, "loss": losses[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model on CPU: checks this script runs")
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    shape = TINY if args.tiny else SMOLLM2_135M
    batch, mini, reference, query_len, doc_len = (16, 4, 8, 8, 16) if args.tiny else (512, 64, 32, 64, 256)
    steps = args.steps or (2 if args.tiny else 3)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(f"device: {device}; torch {torch.__version__}; model: {'tiny' if args.tiny else 'SmolLM2-135M shape'}, "
          f"random weights, LoRA r16/α32, bf16 autocast on CUDA, gradient checkpointing", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        build_folder(Path(folder), shape)
        plain = run(Path(folder), reference, None, steps, query_len, doc_len, shape["vocab_size"])
        cached = run(Path(folder), batch, mini, steps, query_len, doc_len, shape["vocab_size"])
    print(f"reference, plain batch {reference}: {plain['tokens_per_s']:,.0f} tokens/s, "
          f"peak GPU memory {plain['peak_gib']:.2f} GiB")
    print(f"batch {batch}, cached in mini-batches of {mini}: {cached['tokens_per_s']:,.0f} tokens/s, "
          f"peak GPU memory {cached['peak_gib']:.2f} GiB (queries {query_len} tokens, documents {doc_len})")
    print(f"total time {time.perf_counter() - started:.0f} s")
    print(f"smollm2-shape LoRA bf16 batch {batch} cached: {cached['tokens_per_s']:,.0f} tokens/s, "
          f"peak {cached['peak_gib']:.2f} GiB")


if __name__ == "__main__":
    main()
