"""Peak memory of one training step: cached negatives (--mini-batch 16) at batch 512 against a plain batch of 32.

minilm, full fine-tuning, on CPU; queries of 12 words, documents of 60, one hard negative each.
Each configuration runs in its own process. Memory is the process's resident set, sampled every
2 ms during one training step (forward, InfoNCE, backward, AdamW step); "step" is the peak minus
the resident set just before the step (the model, optimizer and libraries already loaded).
Last line: the ratio of the step's peak memory, batch 512 cached over batch 32 plain.

    python benchmarks/memory_gradcache.py
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = [(32, None), (128, 16), (512, 16)]


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure(batch: int, mini_batch: int | None) -> dict:
    import torch

    from benchmarks.bench_data import examples
    from studio.embedding.gradcache import contrastive_backward
    from studio.embedding.loss import InfoNCELoss
    from studio.training.config import TrainConfig
    from studio.training.trainer import build_model, make_optimizer

    torch.manual_seed(0)
    config = TrainConfig(base_model="minilm", out_dir="unused", batch_size=batch, mini_batch=mini_batch, lr=2e-5)
    model = build_model(config, torch.device("cpu"))
    model.train()
    optimizer = make_optimizer(model, config)
    rows = examples(batch, query_words=12, doc_words=60)
    # One small step first, so that optimizer state and allocator pools exist before we measure.
    warm = rows[:2]
    contrastive_backward(model, InfoNCELoss(), [r["query"] for r in warm], [r["positive"] for r in warm],
                         [r["negative"] for r in warm])
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

    before = _rss()
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    result = contrastive_backward(model, InfoNCELoss(), [r["query"] for r in rows], [r["positive"] for r in rows],
                                  [r["negative"] for r in rows], mini_batch=mini_batch)
    optimizer.step()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    peak[0] = max(peak[0], _rss())
    return {"batch": batch, "mini_batch": mini_batch, "before_mib": before / 2**20, "peak_mib": peak[0] / 2**20,
            "step_mib": (peak[0] - before) / 2**20, "seconds": elapsed, "loss": result.loss}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        mini = None if sys.argv[3] == "none" else int(sys.argv[3])
        print(json.dumps(measure(int(sys.argv[2]), mini)))
        return
    results = []
    for batch, mini in CONFIGS:
        output = subprocess.run([sys.executable, __file__, "--measure", str(batch), str(mini).lower()],
                                capture_output=True, text=True, check=True, cwd=str(ROOT))
        result = json.loads(output.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"batch {batch:4d} mini-batch {str(mini):>4}: process {result['before_mib']:.0f} MiB before the step, "
              f"peak {result['peak_mib']:.0f} MiB; the step itself +{result['step_mib']:.0f} MiB; "
              f"{result['seconds']:.1f} s; loss {result['loss']:.3f}", flush=True)
    plain = next(r for r in results if r["batch"] == 32 and r["mini_batch"] is None)
    cached = next(r for r in results if r["batch"] == 512)
    print(f"whole-process peak ratio (batch 512 cached / batch 32 plain): {cached['peak_mib'] / plain['peak_mib']:.2f}")
    print(f"training-step peak memory ratio (batch 512, mini-batch 16 / batch 32 plain): "
          f"{cached['step_mib'] / plain['step_mib']:.2f}")


if __name__ == "__main__":
    main()
