"""The precision a corpus's passages are encoded in for mining and the checks (not for evaluation).

Mining and the round-trip check need the order of passages for a query, not their scores' fourth
decimal, so where the hardware computes bfloat16 natively (CUDA, or a CPU with AVX512-BF16 or AMX)
passages are encoded under bf16 autocast: on this project's development CPU about 1.8× faster
(benchmarks/corpus_mining.py). Elsewhere bf16 would be emulated and slower, so `auto` stays fp32.
Evaluation never goes through here: what is measured is encoded as before (fp32 on a CPU).
"""

from pathlib import Path

from studio.errors import StudioError

PRECISIONS = ("auto", "bf16", "fp32")
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
HELP = ("how the corpus's passages are encoded: auto (bf16 on CUDA or a CPU with native bf16, else fp32), "
        "bf16 or fp32 (default auto)")


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes bfloat16 natively (its flags name AVX512-BF16 or AMX-BF16)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:   # not Linux: no way to tell, so no
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(CPU_BF16_FLAGS & set(line.partition(":")[2].split()))
    return False


def check_precision(choice: str) -> None:
    if choice not in PRECISIONS:
        raise StudioError(f"unknown precision {choice!r}: use one of {', '.join(PRECISIONS)}")


def corpus_precision(choice: str, device_type: str, cpu_bf16: bool | None = None) -> str:
    """"bf16" or "fp32": `choice` itself, or for `auto` bf16 on CUDA and on a CPU with native bf16."""
    check_precision(choice)
    if choice != "auto":
        return choice
    if device_type == "cuda":
        return "bf16"
    if device_type == "cpu" and (cpu_has_bf16() if cpu_bf16 is None else cpu_bf16):
        return "bf16"
    return "fp32"
