"""Embedding models: loading, pooling, the InfoNCE loss and cached in-batch negatives.

The names below load lazily: importing the package (e.g. for `studio.embedding.query`) does not
import torch; the first use of `load_model` or `EmbeddingModel` does.
"""

__all__ = ["EmbeddingModel", "format_query", "load_model"]


def __getattr__(name):
    if name in __all__:
        from studio.embedding import model

        return getattr(model, name)
    raise AttributeError(f"module 'studio.embedding' has no attribute {name!r}")
