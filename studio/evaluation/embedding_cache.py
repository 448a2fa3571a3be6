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

ENCODE_CHUNK = 512  # documents per call to the model: the unit of progress and cancellation


class EncodingCancelled(Exception):
    """The caller asked to stop while documents were being encoded."""


def model_key(name_or_path: str, pooling: str | None = None, max_length: int | None = None) -> str:
    digest = hashlib.sha256(f"{name_or_path}|{pooling}|{max_length}".encode())
    folder = _local_folder(name_or_path)
    if folder is not None:
        digest.update(str(folder.resolve()).encode())
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(str(name_or_path)).name or "model").strip("-")[:40]
    return f"{slug or 'model'}-{digest.hexdigest()[:16]}"


def _local_folder(name_or_path: str) -> Path | None:
    try:
        from studio.model_registry import resolve_model

        resolved = resolve_model(name_or_path)
    except Exception:  # an unresolvable name is keyed by its text alone
        return None
    return Path(resolved.path) if resolved.is_local else None


def cache_path(model_key_: str, corpus_fingerprint: str) -> Path:
    return data_dir() / "embeddings" / model_key_ / f"{corpus_fingerprint}.npy"


def document_embeddings(model, key: str, corpus_fingerprint: str, texts: list[str],
                        progress: Callable[[int, int], None] | None = None,
                        should_stop: Callable[[], bool] | None = None, batch_size: int = 64) -> np.ndarray:
    """The corpus's embeddings (n_docs × dim, read-only memory map): from the cache, or encoded now."""
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
    out = None
    try:
        for start in range(0, len(order), ENCODE_CHUNK):
            if should_stop and should_stop():
                raise EncodingCancelled()
            positions = order[start:start + ENCODE_CHUNK]
            vectors = np.asarray(model.encode_documents([texts[i] for i in positions], batch_size=batch_size),
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
