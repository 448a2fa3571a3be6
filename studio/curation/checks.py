"""Text checks that need no embedding model: empty fields, the language each field is in, length
against num_words."""

import re

from studio.curation.language_id import mismatch
from studio.prompts.languages import language_by_name

# Scripts written without spaces between words: words are estimated from letters instead.
UNSPACED_SCRIPTS = ("Han", "Japanese", "Thai", "Lao", "Khmer", "Myanmar")
_NUMBER = re.compile(r"\d+")


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
    """Which language each field should be in, for the fields whose language is known. Some are
    cross-language by design: a bitext pair has its source sentence in the row's language and its
    translations in the target language (unchecked where the target is not recorded, as in
    imported rows), and a long-short label may be in any language, so labels are never checked."""
    if row["family"] == "bitext":
        target = placeholders.get("tgt_lang")
        source = placeholders.get("src_lang") or row.get("language")
        return {"query": source, **({"positive": target, "negative": target} if target else {})}
    if row["family"] == "long-short":
        return {"query": row.get("language")}
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
    wrong_language = 0
    for name, language in field_languages(row, placeholders).items():
        found = mismatch(row.get(name), language)
        if found:
            wrong_language = 1
            problems.append(f"{name} is in {found.detected}, not {language}")
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
    return {"q_empty_flag": empty, "q_language_flag": wrong_language, "q_length_ratio": ratio,
            "q_length_flag": length_flag, "problems": problems}
