"""Tiny randomly initialised models built on the fly, saved as ordinary transformers folders.

A 2-layer Llama-like decoder with a small byte-level BPE tokenizer trained here (its EOS is
*not* appended by the tokenizer, as with several real decoders), and a 2-layer BERT encoder
that reuses MiniLM's vocabulary.
"""

import shutil
from pathlib import Path

import torch

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a query about cats and dogs and their food",
    "retrieve documents that answer the question",
    "instruct query: how do embeddings work in retrieval",
    "sentence similarity between two short texts",
    "proteins fold into shapes that decide their function",
] * 5


def build_tiny_decoder(folder: Path, seed: int = 0, layers: int = 2, hidden: int = 32, tokenizer=None) -> Path:
    """With `tokenizer` (a transformers tokenizer), the model is sized for it and saved with it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer is None:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(CORPUS, trainer)
        tok.post_processor = processors.ByteLevel(trim_offsets=False)  # no EOS: the model must add it
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                            pad_token="<pad>", unk_token="<unk>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         attention_dropout=0.0, is_decoder=True)
    config.architectures = ["LlamaForCausalLM"]
    LlamaModel(config).save_pretrained(folder)
    return folder


def build_tiny_encoder(folder: Path, seed: int = 0, layers: int = 2, hidden: int = 32, dropout: float = 0.0) -> Path:
    from transformers import BertConfig, BertModel

    from studio.model_registry import minilm_dir

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_dir() / name, folder / name)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                        intermediate_size=2 * hidden, max_position_embeddings=256,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    BertModel(config).save_pretrained(folder)
    return folder
