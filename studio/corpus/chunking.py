"""Documents into passages: windows of words that overlap, so no sentence is only ever cut in half."""

DEFAULT_CHUNK_WORDS = 200   # about 256 tokens: what minilm (max_seq_length 256) reads whole
DEFAULT_OVERLAP_WORDS = 40


def check_sizes(chunk_words: int, overlap_words: int) -> str | None:
    """The reason these sizes cannot chunk, or None."""
    if chunk_words < 1:
        return "the chunk size must be at least 1 word"
    if overlap_words < 0 or overlap_words >= chunk_words:
        return f"the overlap must be at least 0 and smaller than the chunk size ({chunk_words} words)"
    return None


def chunk_words(text: str, size: int = DEFAULT_CHUNK_WORDS, overlap: int = DEFAULT_OVERLAP_WORDS) -> list[str]:
    """`text` as passages of at most `size` words, each starting `size - overlap` words after the last.

    A text of at most `size` words is one passage, kept as written (stripped); longer texts are
    cut at whitespace and their words joined by single spaces. The last window always reaches the
    end, and no window lies wholly inside the one before it."""
    stripped = text.strip()
    words = stripped.split()
    if not words:
        return []
    if len(words) <= size:
        return [stripped]
    step = size - overlap
    passages = []
    start = 0
    while True:
        passages.append(" ".join(words[start:start + size]))
        if start + size >= len(words):
            return passages
        start += step
