"""Embedding models: loading, pooling, the InfoNCE loss and cached in-batch negatives."""

from studio.embedding.model import EmbeddingModel, format_query, load_model

__all__ = ["EmbeddingModel", "format_query", "load_model"]
