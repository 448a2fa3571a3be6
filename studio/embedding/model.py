"""The embedding model: a transformers backbone, a pooling, L2 normalisation, and the query format.

Used for training (it is an `nn.Module`: `model(features)` gives normalised embeddings with
gradients) and for inference (`encode_queries` / `encode_documents` give numpy arrays).
"""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.embedding.eos import ensure_eos_appended
from studio.embedding.pooling import POOLINGS, pool
from studio.embedding.query import QUERY_TEMPLATE, format_query  # noqa: F401 (re-exported)
from studio.embedding.saved_config import configured_max_length as _configured_max_length
from studio.errors import StudioError
from studio.model_registry import resolve_model

DEFAULT_MAX_LENGTH = 512  # METHOD.md §5


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class EmbeddingModel(nn.Module):
    """backbone → pooling (`last` or `mean`) → L2 normalisation.

    With `last` pooling the tokenizer is made to append its EOS token (and each batch is checked
    for it), and the embedding is the hidden state at the last real token per the attention mask.
    """

    def __init__(self, backbone: nn.Module, tokenizer, pooling: str, max_length: int, name: str = ""):
        super().__init__()
        if pooling not in POOLINGS:
            raise StudioError(f"unknown pooling {pooling!r}: use one of {', '.join(POOLINGS)}")
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = int(max_length)
        self.name = name
        if tokenizer.pad_token is None:
            # Padding is masked out, so reusing EOS as the pad token changes no embedding.
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        if pooling == "last":
            ensure_eos_appended(tokenizer)

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    @property
    def dimension(self) -> int:
        return int(self.backbone.config.hidden_size)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        features = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if self.pooling == "last":
            self._check_eos(features)
        return features

    def _check_eos(self, features) -> None:
        mask = features["attention_mask"]
        positions = torch.arange(mask.shape[1])
        last = (mask * positions).argmax(dim=1)
        last_ids = features["input_ids"][torch.arange(mask.shape[0]), last]
        if not bool((last_ids == self.tokenizer.eos_token_id).all()):
            raise StudioError("the tokenizer did not end every text with its EOS token; "
                              "last-token pooling would read the wrong position")

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        device = self.device
        input_ids = features["input_ids"].to(device)
        attention_mask = features["attention_mask"].to(device)
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = pool(hidden, attention_mask, self.pooling)
        return F.normalize(pooled.float(), p=2, dim=-1)

    def embed(self, texts: list[str]) -> torch.Tensor:
        """Normalised embeddings with gradients (training)."""
        return self(self.tokenize(texts))

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 32, precision: str | None = None) -> np.ndarray:
        """Normalised float32 embeddings of `texts`, as they are (no instruction added).

        `precision` None computes as evaluation does (bf16 autocast on CUDA, fp32 elsewhere); "bf16"
        autocasts to bfloat16 on any device, "fp32" never (studio.embedding.precision chooses)."""
        if precision not in (None, "bf16", "fp32"):
            raise StudioError(f"unknown precision {precision!r}: use bf16 or fp32")
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        was_training = self.training
        self.eval()
        # Longest first, so that each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        device = self.device
        bf16 = device.type == "cuda" if precision is None else precision == "bf16"
        try:
            for start in range(0, len(order), batch_size):
                index = order[start:start + batch_size]
                features = self.tokenize([texts[i] for i in index])
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    embeddings = self(features)
                out[index] = embeddings.float().cpu().numpy()
        finally:
            self.train(was_training)
        return out

    def encode_queries(self, texts: list[str], instruction: str | None = None, batch_size: int = 32) -> np.ndarray:
        return self.encode([format_query(text, instruction) for text in texts], batch_size=batch_size)

    def encode_documents(self, texts: list[str], batch_size: int = 32, precision: str | None = None) -> np.ndarray:
        return self.encode(list(texts), batch_size=batch_size, precision=precision)


def _transformer_folder(folder: Path) -> Path:
    """Where the transformers weights live: the folder itself, or a sentence-transformers module path."""
    modules_file = folder / "modules.json"
    if modules_file.exists():
        for module in json.loads(modules_file.read_text()):
            if module.get("type", "").endswith("Transformer"):
                return folder / module.get("path", "")
    return folder


def _configured_pooling(folder: Path) -> str | None:
    """The pooling a sentence-transformers folder declares, if any (legacy or current keys)."""
    modules_file = folder / "modules.json"
    if not modules_file.exists():
        return None
    for module in json.loads(modules_file.read_text()):
        if module.get("type", "").endswith("Pooling"):
            config_file = folder / module.get("path", "") / "config.json"
            if not config_file.exists():
                return None
            config = json.loads(config_file.read_text())
            mode = config.get("pooling_mode")
            if mode == "lasttoken" or config.get("pooling_mode_lasttoken"):
                return "last"
            if mode == "mean" or config.get("pooling_mode_mean_tokens"):
                return "mean"
    return None


def _adapter_backbone(folder: Path):
    """A LoRA adapter folder (adapter_config.json, no weights of its own): its base with the adapter merged in.

    The base is the adapter's `base_model_name_or_path` (a studio name, folder or hub id). The
    pooling is the one the export beside it declares (`out_dir/lora_adapter` sits in `out_dir`),
    else the base's.
    """
    from peft import PeftModel

    try:
        base = json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as error:
        raise StudioError(f"could not read the LoRA adapter's settings in {folder}: {error}") from error
    if not base or Path(base).expanduser().resolve() == folder.resolve():
        raise StudioError(f"the LoRA adapter in {folder} does not name its base model: "
                          "set base_model_name_or_path in its adapter_config.json")
    backbone, tokenizer, default_pooling, max_length = load_backbone(base)
    try:
        backbone = PeftModel.from_pretrained(backbone, str(folder)).merge_and_unload()
    except (OSError, ValueError, RuntimeError) as error:
        raise StudioError(f"could not apply the LoRA adapter in {folder} to {base!r} "
                          f"({error.__class__.__name__}): is it an adapter for that model?") from error
    pooling = _configured_pooling(folder.parent) or default_pooling
    return backbone, tokenizer, pooling, _configured_max_length(folder.parent) or max_length


def load_backbone(name_or_path: str):
    """(backbone, tokenizer, default pooling, configured max length) for a name, folder, GGUF or hub id,
    or a LoRA adapter folder (merged into its base)."""
    from transformers import AutoModel, AutoTokenizer

    resolved = resolve_model(name_or_path)
    if resolved.is_local and not resolved.gguf_file:
        folder = Path(resolved.path)
        if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
            return _adapter_backbone(folder)
    extra = {"gguf_file": resolved.gguf_file} if resolved.gguf_file else {}
    default_pooling = resolved.default_pooling
    max_length = None
    path = resolved.path
    if resolved.is_local and not resolved.gguf_file:
        folder = Path(resolved.path)
        default_pooling = _configured_pooling(folder) or default_pooling
        weights = _transformer_folder(folder)
        max_length = _configured_max_length(weights) or _configured_max_length(folder)
        path = str(weights)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **extra)
        backbone = AutoModel.from_pretrained(path, dtype=torch.float32, **extra)
    except OSError as error:
        raise StudioError(f"could not load model {name_or_path!r} ({error.__class__.__name__}): "
                          "check the folder or hub id, or use minilm / smollm2 offline") from error
    if resolved.gguf_file:
        # transformers dequantizes GGUF weights into ordinary tensors but keeps the quantizer's
        # mark, which makes save_pretrained refuse; the weights are plain, so drop the mark.
        backbone.hf_quantizer = None
        if getattr(backbone.config, "quantization_config", None) is not None:
            del backbone.config.quantization_config
    return backbone, tokenizer, default_pooling, max_length


def load_model(name_or_path: str, pooling: str | None = None, device=None,
               max_length: int | None = None) -> EmbeddingModel:
    """Load an embedding model ready to encode: `minilm`, `smollm2`, a local folder or a hub id."""
    backbone, tokenizer, default_pooling, configured_length = load_backbone(name_or_path)
    max_length = max_length or configured_length or min(DEFAULT_MAX_LENGTH, tokenizer.model_max_length)
    model = EmbeddingModel(backbone, tokenizer, pooling or default_pooling, max_length, name=str(name_or_path))
    model.to(torch.device(device) if device else default_device())
    model.eval()
    return model
