"""Small, varied example rows for curation tests (no LLM needed)."""

import random

WORDS = ("river bank money loan interest water fish boat bridge city market price tree forest "
         "garden flower music guitar piano song school teacher student exam book paper science").split()
FAMILIES = ("short-long", "long-short", "short-short", "long-long", "sts", "bitext")
LANGUAGES = ("English", "German", "French")


def make_rows(n: int, seed: int = 0, **overrides) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        family = FAMILIES[i % len(FAMILIES)]
        rows.append({
            "family": family,
            "language": LANGUAGES[i % len(LANGUAGES)],
            "instruction": f"Find documents about topic {i % 7}",
            "query": f"q{i} " + " ".join(rng.choice(WORDS) for _ in range(4)),
            "positive": f"p{i} " + " ".join(rng.choice(WORDS) for _ in range(30)),
            "negative": None if family in ("short-short", "long-long") else f"n{i} " + " ".join(
                rng.choice(WORDS) for _ in range(30)),
            "model": ("gpt-4", "gpt-3.5")[i % 2],
            "template_version_id": None,
            **overrides,
        })
    return rows
