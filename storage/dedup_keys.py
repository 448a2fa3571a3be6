"""The duplicate keys of an example: the exact content hash and the normalised-text hash.

Both are sha256 of a JSON list of the four texts (instruction, query, positive, negative); the
normalised one after folding case, whitespace, punctuation and Unicode form away. Their values must
never change: stored rows and the demo's held-out list are keyed by them.

This module needs nothing beyond the standard library, so the hashing helper process of
storage.key_worker starts in under a tenth of a second.
"""

import hashlib
import unicodedata
from json.encoder import encode_basestring

_ASCII = bytes(range(128))
_ASCII_PUNCTUATION = bytes(code for code in range(128) if unicodedata.category(chr(code)).startswith("P"))
# One bytes.translate pass lower-cases ASCII letters and turns the separators that str.split() knows
# but bytes.split() does not (\x1c-\x1f) into spaces; whitespace runs are then collapsed by replace.
_FOLD = bytearray(range(256))
for _code in range(ord("A"), ord("Z") + 1):
    _FOLD[_code] = _code + 32
for _code in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F):
    _FOLD[_code] = 0x20
_FOLD = bytes(_FOLD)
_CONTROL = bytes(range(0x20))
_NEEDS_ESCAPE = _CONTROL + b'"\\'


def _json_literal(text: str | None) -> bytes:
    """json.dumps(text, ensure_ascii=False) as UTF-8. Text without quotes, backslashes or control
    characters (most of it) is its own literal; only the rest goes through the escaper."""
    if text is None:
        return b"null"
    raw = text.encode("utf-8")
    if len(raw.translate(None, _NEEDS_ESCAPE)) == len(raw):
        return b'"' + raw + b'"'
    return encode_basestring(text).encode("utf-8")


def content_hash(instruction, query, positive, negative) -> str:
    """The exact-duplicate key: the four texts as they are.

    sha256 of json.dumps([instruction or "", query, positive, negative], ensure_ascii=False), built
    directly (json.dumps sets up a new encoder on every call, which cost more than the hashing)."""
    payload = b"[" + b", ".join(map(_json_literal, (instruction or "", query, positive, negative))) + b"]"
    return hashlib.sha256(payload).hexdigest()


def _squeeze(raw: bytes) -> bytes:
    while b"  " in raw:
        raw = raw.replace(b"  ", b" ")
    return raw.strip(b" ")


def _folded_utf8(text: str) -> bytes:
    """normalize_text(text) as UTF-8, working on bytes (ASCII bytes never occur inside a multi-byte
    UTF-8 sequence, so translating and replacing them is safe)."""
    if text.isascii():
        return _squeeze(text.encode("ascii").translate(_FOLD, _ASCII_PUNCTUATION))
    text = unicodedata.normalize("NFKC", text)
    raw = text.encode("utf-8").translate(_FOLD, _ASCII_PUNCTUATION)
    others = raw.translate(None, _ASCII).decode("utf-8")  # just the non-ASCII characters, usually few
    # Case folding works character by character, and the translate above has folded the ASCII
    # ones: the whole text needs str.casefold (slow outside ASCII) only if one of the others folds.
    if others.casefold() != others:
        raw = text.casefold().encode("utf-8").translate(_FOLD, _ASCII_PUNCTUATION)
        others = raw.translate(None, _ASCII).decode("utf-8")
    if others.isalpha():  # letters only (most text): no punctuation or space among them
        return _squeeze(raw)
    distinct = set(others)
    for mark in distinct:
        if unicodedata.category(mark).startswith("P"):
            raw = raw.replace(mark.encode("utf-8"), b"")
    if any(ch.isspace() for ch in distinct):  # spaces outside ASCII (NFKC maps most to U+0020)
        return " ".join(raw.decode("utf-8").split()).encode("utf-8")
    return _squeeze(raw)


def normalize_text(text: str | None) -> str:
    """Case, whitespace, punctuation and Unicode form folded away."""
    if not text:
        return ""
    return _folded_utf8(text).decode("utf-8")


def _folded_json(text: str | None) -> bytes:
    if not text:
        return b'""'
    folded = _folded_utf8(text)
    if len(folded.translate(None, _CONTROL)) == len(folded):  # quotes and backslashes are punctuation: gone
        return b'"' + folded + b'"'
    return encode_basestring(folded.decode("utf-8")).encode("utf-8")


def norm_hash(instruction, query, positive, negative) -> str:
    """sha256 of json.dumps([normalize_text(...) of the four], ensure_ascii=False), built directly."""
    payload = b"[" + b", ".join(map(_folded_json, (instruction, query, positive, negative))) + b"]"
    return hashlib.sha256(payload).hexdigest()


def both_hashes(texts: list[tuple]) -> list[tuple[str, str]]:
    """(content_hash, norm_hash) of each (instruction, query, positive, negative)."""
    return [(content_hash(*four), norm_hash(*four)) for four in texts]


NORM_KEY_DIGITS = 15


def norm_key(norm_hash_hex: str | None) -> int | None:
    """The indexed duplicate key: the first 60 bits of the normalised hash (rows with equal keys are
    then compared by the whole hash)."""
    return int(norm_hash_hex[:NORM_KEY_DIGITS], 16) if norm_hash_hex else None


def norm_key_sql(expression: str) -> str:
    """norm_key() in SQL, for triggers, which run in connections without our Python functions."""
    digits = [f"(instr('0123456789abcdef', substr({expression}, {i + 1}, 1)) - 1) * {16 ** (NORM_KEY_DIGITS - 1 - i)}"
              for i in range(NORM_KEY_DIGITS)]
    return "(" + " + ".join(digits) + ")"
