"""Embedding Studio: synthetic training data and fine-tuning for text embedding models."""

__version__ = "0.1.0"
