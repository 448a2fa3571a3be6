"""Retrieval datasets in the BEIR layout, from a folder or an uploaded zip.

A BEIR folder holds `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl` (`_id`, `text`) and
`qrels/<split>.tsv` (query-id, corpus-id, score, after a header row). A document is encoded as
`(title + " " + text).strip()`, as MTEB does.
"""

import hashlib
import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from studio.config import data_dir
from studio.errors import StudioError


@dataclass
class RetrievalDataset:
    name: str
    split: str
    doc_ids: list[str]
    doc_texts: list[str]
    queries: dict[str, str]                  # query id → text, only queries that have qrels
    qrels: dict[str, dict[str, int]]         # query id → document id → graded relevance
    instructions: dict[str, str] = field(default_factory=dict)  # query id → task instruction, if any
    source: str = ""                         # the folder, zip or run it came from
    warnings: list[str] = field(default_factory=list)
    cache_name: str = ""                     # names the documents when they are exactly a stored corpus's passages

    @property
    def fingerprint(self) -> str:
        """Identifies the corpus content (ids and texts): the key of cached document embeddings. A
        dataset whose documents are a stored corpus's passages, in order, is named as that corpus's
        vectors are, so mining, checks and evaluation encode it once per model."""
        if self.cache_name:
            return self.cache_name
        digest = hashlib.sha256()
        for doc_id, text in zip(self.doc_ids, self.doc_texts):
            digest.update(doc_id.encode("utf-8"))
            digest.update(b"\x1f")
            digest.update(text.encode("utf-8"))
            digest.update(b"\x1e")
        return digest.hexdigest()[:24]

    @property
    def query_fingerprint(self) -> str:
        """Identifies the queries and their judgements (a corpus's held-out queries change as examples do)."""
        digest = hashlib.sha256()
        for query_id in sorted(self.queries):
            digest.update(json.dumps([query_id, self.queries[query_id], self.instructions.get(query_id),
                                      sorted(self.qrels.get(query_id, {}).items())]).encode("utf-8"))
        return digest.hexdigest()[:24]

    def doc_index(self) -> dict[str, int]:
        return {doc_id: position for position, doc_id in enumerate(self.doc_ids)}


def load_beir(path, split: str = "test") -> RetrievalDataset:
    """Load a BEIR folder, or a .zip of one; raise StudioError naming the file and line of a problem."""
    source = Path(path).expanduser()
    if not source.exists():
        raise StudioError(f"dataset {path} not found: give a BEIR folder or a .zip of one")
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise StudioError(f"{source.name} is not a folder or a zip file: give a BEIR folder or a .zip of one")
        folder = unpack_zip(source)
        name = source.stem
    else:
        folder = source
        name = source.resolve().name
    return load_beir_folder(folder, split, name=name, source=str(source))


def load_beir_folder(folder: Path, split: str, name: str, source: str) -> RetrievalDataset:
    corpus_file, queries_file = folder / "corpus.jsonl", folder / "queries.jsonl"
    qrels_file = folder / "qrels" / f"{split}.tsv"
    for required in (corpus_file, queries_file):
        if not required.is_file():
            raise StudioError(f"{folder} has no {required.name}: a BEIR folder needs corpus.jsonl, "
                              "queries.jsonl and qrels/<split>.tsv")
    if not qrels_file.is_file():
        splits = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        hint = f"choose one of: {', '.join(splits)}" if splits else "add qrels/<split>.tsv"
        raise StudioError(f"{folder} has no qrels/{split}.tsv: {hint}")

    doc_ids, doc_texts = [], []
    seen = set()
    for line_no, record in _read_jsonl(corpus_file):
        doc_id = _record_id(record, corpus_file, line_no)
        if doc_id in seen:
            raise StudioError(f"{corpus_file.name} line {line_no}: document id {doc_id!r} appears twice; "
                              "give every document its own _id")
        seen.add(doc_id)
        title = _text_field(record, "title", corpus_file, line_no)
        text = _text_field(record, "text", corpus_file, line_no)
        doc_ids.append(doc_id)
        doc_texts.append((title + " " + text).strip())
    if not doc_ids:
        raise StudioError(f"{corpus_file.name} holds no documents: add one JSON object per line")

    all_queries = {}
    for line_no, record in _read_jsonl(queries_file):
        query_id = _record_id(record, queries_file, line_no)
        all_queries[query_id] = _text_field(record, "text", queries_file, line_no)

    qrels = read_qrels(qrels_file)
    warnings = []
    missing = [query_id for query_id in qrels if query_id not in all_queries]
    if len(missing) == len(qrels):
        raise StudioError(f"none of the queries in qrels/{split}.tsv is in queries.jsonl: "
                          "check that the files belong to the same dataset")
    if missing:
        warnings.append(f"{len(missing)} queries of qrels/{split}.tsv are not in queries.jsonl and were skipped")
        for query_id in missing:
            del qrels[query_id]
    unknown_docs = {doc_id for judged in qrels.values() for doc_id in judged if doc_id not in seen}
    if unknown_docs:
        warnings.append(f"{len(unknown_docs)} documents named in qrels/{split}.tsv are not in corpus.jsonl")
    queries = {query_id: all_queries[query_id] for query_id in qrels}
    return RetrievalDataset(name=name, split=split, doc_ids=doc_ids, doc_texts=doc_texts, queries=queries,
                            qrels=qrels, source=source, warnings=warnings)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 3:
                raise StudioError(f"qrels/{path.name} line {line_no}: expected three tab-separated columns "
                                  "(query-id, corpus-id, score)")
            query_id, doc_id, score = fields[0].strip(), fields[1].strip(), fields[-1].strip()
            try:
                grade = int(score)
            except ValueError:
                if line_no == 1:
                    continue  # the header row
                raise StudioError(f"qrels/{path.name} line {line_no}: score {score!r} is not a whole number")
            qrels.setdefault(query_id, {})[doc_id] = grade
    if not qrels:
        raise StudioError(f"qrels/{path.name} holds no judgements: add rows of query-id, corpus-id, score")
    return qrels


def unpack_zip(zip_path: Path) -> Path:
    """Extract an uploaded zip once (keyed by its content) and return the folder with corpus.jsonl."""
    digest = hashlib.sha256()
    with open(zip_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    target = data_dir() / "datasets" / digest.hexdigest()[:16]
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with zipfile.ZipFile(zip_path) as archive:
            for member in archive.infolist():
                destination = (partial / member.filename).resolve()
                if not destination.is_relative_to(partial.resolve()):
                    raise StudioError(f"{zip_path.name} contains the unsafe path {member.filename!r}: "
                                      "zip the BEIR folder again without absolute or '..' paths")
            archive.extractall(partial)
        partial.rename(target)
    candidates = sorted(p.parent for p in target.rglob("corpus.jsonl") if "__MACOSX" not in p.parts)
    if not candidates:
        raise StudioError(f"{zip_path.name} contains no corpus.jsonl: zip a BEIR folder "
                          "(corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    return min(candidates, key=lambda p: len(p.parts))


def _read_jsonl(path: Path):
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise StudioError(f"{path.name} line {line_no} is not valid JSON ({error.msg}): "
                                  "fix or remove that line")
            if not isinstance(record, dict):
                raise StudioError(f"{path.name} line {line_no} is not a JSON object: "
                                  "each line needs an object with _id and text")
            yield line_no, record


def _record_id(record: dict, path: Path, line_no: int) -> str:
    value = record.get("_id")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise StudioError(f"{path.name} line {line_no} has no _id: give every line an _id")
    return str(value)


def _text_field(record: dict, key: str, path: Path, line_no: int) -> str:
    value = record.get(key)
    if value is None:
        if key == "title":
            return ""
        raise StudioError(f"{path.name} line {line_no} has no {key!r}: give every line a {key}")
    if not isinstance(value, str):
        raise StudioError(f"{path.name} line {line_no}: {key!r} must be a string")
    return value
