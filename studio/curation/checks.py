"""Cheap text checks that need no model: empty fields, writing script, length against num_words."""

import re
import unicodedata
from functools import lru_cache

from studio.prompts.languages import language_by_name

# The language table names a script per language; these are the Unicode name prefixes that count
# as that script (Japanese mixes kanji and kana, Korean text may carry hanja).
SCRIPT_PREFIXES = {
    "Han": ("CJK",),
    "Japanese": ("CJK", "HIRAGANA", "KATAKANA"),
    "Hangul": ("HANGUL", "CJK"),
}
# Scripts written without spaces between words: words are estimated from letters instead.
UNSPACED_SCRIPTS = ("Han", "Japanese", "Thai", "Lao", "Khmer", "Myanmar")
MIN_LETTERS_TO_JUDGE = 3
WRONG_SCRIPT_SHARE = 0.5
_NUMBER = re.compile(r"\d+")


@lru_cache(maxsize=65536)
def char_script(ch: str) -> str:
    """The first word of a letter's Unicode name (LATIN, CYRILLIC, CJK, HIRAGANA...)."""
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0]
    if first in ("FULLWIDTH", "HALFWIDTH") and " " in name:
        return name.split(" ", 2)[1]
    return first


def script_share(text: str, script: str) -> float | None:
    """Share of the letters of `text` written in `script`; None when there are too few letters."""
    prefixes = SCRIPT_PREFIXES.get(script, (script.upper(),))
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) < MIN_LETTERS_TO_JUDGE:
        return None
    inside = sum(1 for ch in letters if char_script(ch) in prefixes)
    return inside / len(letters)


def expected_script(language: str | None) -> str | None:
    found = language_by_name(language) if language else None
    return found.script if found else None


def word_count(text: str, script: str | None) -> int:
    if script in UNSPACED_SCRIPTS:
        # Roughly two characters per word in Chinese/Japanese/Thai-like scripts.
        return max(len(text.split()), sum(1 for ch in text if ch.isalpha()) // 2)
    return len(text.split())


def parse_num_words(value) -> tuple[str, int] | None:
    """("min", 50) for "50" or "at least 50"; ("max", 10) for "less than 10"; None if unreadable."""
    if value is None:
        return None
    text = str(value).strip().lower()
    number = _NUMBER.search(text)
    if not number:
        return None
    return ("max" if text.startswith(("less", "fewer", "under", "at most")) else "min"), int(number.group())


def field_languages(row: dict, placeholders: dict) -> dict[str, str | None]:
    """Which language each field should be in (bitext: query in the source, the rest in the target)."""
    if row["family"] == "bitext" and placeholders.get("src_lang") and placeholders.get("tgt_lang"):
        return {"query": placeholders["src_lang"], "positive": placeholders["tgt_lang"],
                "negative": placeholders["tgt_lang"]}
    return {name: row.get("language") for name in ("query", "positive", "negative")}


# Which fields must meet num_words, per family; long-long asks for 300 words on both sides.
LENGTH_RULES = {
    "short-long": (("positive",), None),
    "long-short": (("query",), None),
    "long-long": (("query", "positive"), ("min", 300)),
}


def text_checks(row: dict, placeholders: dict, has_negative_key: bool, length_tolerance: float = 0.75) -> dict:
    """The model-free quality columns for one example row."""
    problems = []
    empty = 0
    for name in ("query", "positive"):
        if not (row.get(name) or "").strip():
            empty = 1
            problems.append(f"{name} empty")
    negative = row.get("negative")
    if (negative is not None and not negative.strip()) or (negative is None and has_negative_key
                                                           and not row.get("negative_mined")):
        empty = 1
        problems.append("negative empty")
    wrong_script = 0
    for name, language in field_languages(row, placeholders).items():
        script = expected_script(language)
        text = row.get(name)
        if not script or not text:
            continue
        share = script_share(text, script)
        if share is not None and share < WRONG_SCRIPT_SHARE:
            wrong_script = 1
            problems.append(f"{name} not in {script} script")
    ratio, length_flag = None, None
    rule = LENGTH_RULES.get(row["family"])
    if rule:
        fields, fixed = rule
        wanted = fixed or parse_num_words(placeholders.get("num_words"))
        if wanted:
            kind, number = wanted
            script = expected_script(row.get("language"))
            ratios = [word_count(row.get(name) or "", script) / max(number, 1) for name in fields]
            ratio = min(ratios) if kind == "min" else max(ratios)
            length_flag = int(ratio < length_tolerance if kind == "min" else ratio > 1 / length_tolerance)
            if length_flag:
                problems.append(f"{'too short' if kind == 'min' else 'too long'} for num_words {number}"
                                f" ({ratio:.0%})")
    return {"q_empty_flag": empty, "q_script_flag": wrong_script, "q_length_ratio": ratio,
            "q_length_flag": length_flag, "problems": problems}
