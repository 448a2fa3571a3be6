"""The language table (prompts/languages.yaml) and weighted language sampling."""

import bisect
import random
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

import yaml

from studio.config import PROMPTS_DIR


@dataclass(frozen=True)
class Language:
    code: str
    name: str
    script: str
    weight: float


@lru_cache(maxsize=1)
def languages() -> tuple[Language, ...]:
    data = yaml.safe_load((PROMPTS_DIR / "languages.yaml").read_text(encoding="utf-8"))
    return tuple(Language(str(row["code"]), str(row["name"]), str(row["script"]), float(row["weight"]))
                 for row in data["languages"])


@lru_cache(maxsize=1)
def _cumulative() -> tuple[list[float], float]:
    cumulative = list(accumulate(language.weight for language in languages()))
    return cumulative, cumulative[-1]


def sample_language(rng: random.Random, exclude: str | None = None) -> str:
    """One language name, drawn with the table's weights (optionally never `exclude`)."""
    cumulative, total = _cumulative()
    table = languages()
    while True:
        name = table[bisect.bisect_right(cumulative, rng.random() * total)].name
        if name != exclude:
            return name


def language_by_name(name: str) -> Language | None:
    for language in languages():
        if language.name.lower() == name.strip().lower() or language.code == name.strip().lower():
            return language
    return None
