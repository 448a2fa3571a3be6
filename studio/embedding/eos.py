"""Making a tokenizer end every text with its EOS token, as last-token pooling needs.

Some tokenizers (and some versions of the same tokenizer) no longer append EOS. Rather than add
it by hand at every call, we install it in the tokenizer's own post-processor: the tokenizer
saved with a trained model then appends it too, so `SentenceTransformer(out_dir)` reproduces
our embeddings without knowing about us.
"""

from tokenizers import processors

from studio.errors import StudioError

_PROBE = "a probe sentence"


def appends_eos(tokenizer) -> bool:
    ids = tokenizer(_PROBE)["input_ids"]
    return bool(ids) and ids[-1] == tokenizer.eos_token_id


def ensure_eos_appended(tokenizer):
    """Make `tokenizer` append its EOS token to every encoded text (verified); return it."""
    if tokenizer.eos_token_id is None:
        raise StudioError("this model's tokenizer has no EOS token, so last-token pooling cannot work: "
                          "use --pooling mean or another model")
    if appends_eos(tokenizer):
        return tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise StudioError("last-token pooling needs a fast (tokenizers-based) tokenizer for this model: "
                          "use --pooling mean or another model")
    eos = tokenizer.eos_token
    template = processors.TemplateProcessing(
        single=f"$A:0 {eos}:0",
        pair=f"$A:0 {eos}:0 $B:1 {eos}:1",
        special_tokens=[(eos, tokenizer.eos_token_id)],
    )
    # Keep what the tokenizer already does (a BOS token, byte-level offsets) and add EOS after it.
    current = backend.post_processor
    backend.post_processor = template if current is None else processors.Sequence([current, template])
    if not appends_eos(tokenizer):
        raise StudioError("could not make this model's tokenizer append its EOS token: use --pooling mean")
    return tokenizer
