"""Document embeddings cached on disk per (model, corpus), so a corpus is encoded once per model.

Files live at `<data_dir>/embeddings/<model key>/<corpus fingerprint>.npy` and are opened as
read-only memory maps. The model key covers the model's files (so retraining into the same folder
invalidates it), its pooling and its max length.
"""

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap

from studio.config import data_dir
from studio.embedding.saved_config import configured_max_length

ENCODE_CHUNK = 512  # documents per call to the model: the unit of progress and cancellation


class EncodingCancelled(Exception):
    """The caller asked to stop while documents were being encoded."""


def model_key(name_or_path: str, pooling: str | None = None, max_length: int | None = None) -> str:
    """The cache's name for a model as it encodes: its files, pooling and max length in effect.

    `None` means the model's own pooling and max length, and is keyed as those values: a caller that
    passes the defaults and one that leaves them out find the same cached embeddings and evaluations."""
    resolved = _resolved(name_or_path)
    folder = Path(resolved.path) if resolved is not None and resolved.is_local and not resolved.gguf_file else None
    if resolved is not None:
        pooling = pooling or resolved.default_pooling
    if folder is not None:
        max_length = max_length or configured_max_length(folder)
    digest = hashlib.sha256(f"{name_or_path}|{pooling}|{max_length}".encode())
    if resolved is not None and resolved.is_local:
        files = Path(resolved.path)
        digest.update(str(files.resolve()).encode())
        for path in sorted(p for p in files.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(files)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(name_or_path)).name or "model").strip("-")[:40]
    return f"{slug or 'model'}-{digest.hexdigest()[:16]}"


def _resolved(name_or_path: str):
    try:
        from studio.model_registry import resolve_model

        return resolve_model(name_or_path)
    except Exception:  # an unresolvable name is keyed by its text alone
        return None


def cache_path(model_key_: str, corpus_fingerprint: str) -> Path:
    return data_dir() / "embeddings" / model_key_ / f"{corpus_fingerprint}.npy"


def document_embeddings(model, key: str, corpus_fingerprint: str, texts: list[str],
                        progress: Callable[[int, int], None] | None = None,
                        should_stop: Callable[[], bool] | None = None, batch_size: int = 64,
                        precision: str | None = None) -> np.ndarray:
    """The corpus's embeddings (n_docs × dim, read-only memory map): from the cache, or encoded now.

    `precision` (bf16 or fp32; None: the model's default, as evaluation encodes) is passed to the
    model; a caller choosing one makes it part of `corpus_fingerprint`, so the file says how it was made."""
    path = cache_path(key, corpus_fingerprint)
    if path.exists():
        cached = np.load(path, mmap_mode="r")
        if cached.shape[0] == len(texts):
            if progress:
                progress(len(texts), len(texts))
            return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
    # Longest first, globally: batches hold texts of similar length, so little padding is encoded.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    options = {"precision": precision} if precision else {}
    out = None
    try:
        for start in range(0, len(order), ENCODE_CHUNK):
            if should_stop and should_stop():
                raise EncodingCancelled()
            positions = order[start:start + ENCODE_CHUNK]
            vectors = np.asarray(model.encode_documents([texts[i] for i in positions], batch_size=batch_size, **options),
                                 dtype=np.float32)
            if out is None:
                out = open_memmap(partial, mode="w+", dtype=np.float32, shape=(len(texts), vectors.shape[1]))
            out[np.asarray(positions)] = vectors
            if progress:
                progress(min(start + ENCODE_CHUNK, len(order)), len(order))
        if out is None:
            raise ValueError("cannot encode an empty corpus")
        out.flush()
        del out
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()
    return np.load(path, mmap_mode="r")
