"""Synthetic (query, positive, negative) examples of fixed lengths, shared by the training benchmarks."""

import random

WORDS = ("river mountain protein engine violin comet glacier harbor lantern orchard copper tide opera "
         "lichen falcon meadow quartz canyon ember pillar velvet saffron tundra beacon").split()


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def examples(count: int, query_words: int = 12, doc_words: int = 60, seed: int = 0) -> list[dict]:
    """`count` rows with queries of `query_words` words and documents of `doc_words` words."""
    rng = random.Random(seed)
    return [{"query": sentence(rng, query_words), "positive": sentence(rng, doc_words),
             "negative": sentence(rng, doc_words)} for _ in range(count)]
