"""Text as the search index sees it: scripts written without spaces split into single characters.

SQLite's unicode61 tokenizer cuts words at spaces and punctuation. Chinese and Japanese are
written without spaces, and Korean attaches particles to its nouns, so a whole run of characters
would be one token and a search for a word inside it would find nothing. Thai, Lao, Khmer and
Burmese have no spaces between words either, and the tokenizer cuts them at every vowel sign
instead, which is no better. Before text is indexed, and in a search, a zero-width space (U+200B:
a separator to the tokenizer, invisible on screen) goes between adjacent characters of these
scripts; a word then matches as a phrase of characters, wherever it stands (vowel signs, being
separators, do not count). All other text is indexed as it is.

Every connection the studio opens has the SQL function `search_text` (storage.db.open_db): the
search triggers and the index's content view call it. A tool that writes to example_texts
through a bare connection has to register it too (`register(conn)`). Changing what `for_index`
does needs a migration that rebuilds the index, as migration 24 did: the index removes an old
text by the tokens it gets for it now.
"""

import re

SPLIT = "\u200b"
# Thai, Lao, Myanmar, Khmer, Hiragana, Katakana, CJK ideographs (extension A, the main block,
# compatibility), Hangul syllables, halfwidth Katakana, and the ideographs of the supplementary planes.
_SCRIPTS = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
            "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff")
_RUN = re.compile(f"[{_SCRIPTS}]{{2,}}")


def _split_run(match: re.Match) -> str:
    return SPLIT.join(match.group())


def for_index(text: str | None) -> str | None:
    """The text with a separator between every two adjacent Chinese, Japanese or Korean characters."""
    if not text or text.isascii():
        return text
    return _RUN.sub(_split_run, text)


def for_display(text: str | None) -> str | None:
    """Indexed text (as highlight() returns it) without the separators."""
    return text.replace(SPLIT, "") if text else text


# Indexes the rows with ids in a range (those the triggers left to a bulk step or to the backlog).
INDEX_RANGE = ("INSERT INTO examples_fts (rowid, query, positive, negative)"
               " SELECT id, query, positive, negative FROM examples_search_source WHERE id BETWEEN ? AND ?")


def register(conn) -> None:
    conn.create_function("search_text", 1, for_index, deterministic=True)
