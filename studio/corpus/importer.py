"""`corpus add`: read a corpus, split its documents into passages, store them once, all or nothing."""

import re
from dataclasses import dataclass
from pathlib import Path

from storage import corpora
from storage.corpora import Passage
from studio.corpus.chunking import DEFAULT_CHUNK_WORDS, DEFAULT_OVERLAP_WORDS, check_sizes, chunk_words
from studio.corpus.readers import MAX_EXPANDED_BYTES, Document, read_corpus
from studio.errors import StudioError

MAX_NAME_CHARS = 80
_NAME = re.compile(r"^[\w][\w .-]*$")


@dataclass
class AddReport:
    name: str
    documents: int
    passages: int
    repeated: int   # passages dropped because the same text was already a passage

    def summary(self) -> str:
        repeated = f" ({self.repeated} repeated passage(s) stored once)" if self.repeated else ""
        return f"corpus '{self.name}': {self.documents} document(s), {self.passages} passage(s){repeated}"


def default_name(path) -> str:
    """A corpus's name from its path: the file's stem, or for a BEIR corpus.jsonl its folder's name."""
    path = Path(path)
    if path.is_dir():
        return path.resolve().name
    if path.stem == "corpus" and path.parent.name:
        return path.resolve().parent.name
    return path.stem


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_CHARS or not _NAME.match(name):
        raise StudioError(f"'{name}' is not a corpus name: use up to {MAX_NAME_CHARS} letters, digits, spaces, "
                          "dots, dashes or underscores")
    return name


def split_documents(documents: list[Document], chunk: int, overlap: int) -> tuple[list[Passage], int]:
    """Passages of every document, a repeated text kept only the first time; (passages, repeats dropped)."""
    seen: set[str] = set()
    passages = []
    repeated = 0
    for document in documents:
        for position, text in enumerate(chunk_words(document.text, chunk, overlap)):
            if text in seen:
                repeated += 1
                continue
            seen.add(text)
            passages.append(Passage(document.doc_id, document.title, position, text))
    return passages, repeated


def add_corpus(db, path, name: str | None = None, chunk: int = DEFAULT_CHUNK_WORDS,
               overlap: int = DEFAULT_OVERLAP_WORDS, max_expanded_bytes: int = MAX_EXPANDED_BYTES,
               source: str | None = None) -> AddReport:
    """Read `path`, chunk it and store it as corpus `name`; a bad file stores nothing."""
    reason = check_sizes(chunk, overlap)
    if reason:
        raise StudioError(reason)
    name = check_name(name or default_name(path))
    if corpora.corpus_by_name(db, name):
        raise StudioError(f"a corpus named '{name}' exists already: remove it first or choose another --name")
    documents = read_corpus(path, max_expanded_bytes)
    passages, repeated = split_documents(documents, chunk, overlap)
    corpora.add_corpus(db, name, source or str(path), chunk, overlap, len({d.doc_id for d in documents}), passages)
    return AddReport(name, len({d.doc_id for d in documents}), len(passages), repeated)
