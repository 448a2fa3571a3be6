import json
import zipfile

import pytest

from studio.errors import StudioError
from studio.evaluation.beir import load_beir
from tests.beir_files import DOCS, write_beir


def test_loads_a_beir_folder_with_title_and_text_joined_like_mteb(tmp_path):
    dataset = load_beir(write_beir(tmp_path / "toy"), "test")
    assert dataset.name == "toy"
    assert dataset.doc_ids[:2] == ["d1", "d2"]
    assert dataset.doc_texts[0] == "Cats Cats are small domesticated carnivorous mammals that purr."
    assert dataset.doc_texts[3] == "The stock market fell sharply on Monday after the announcement."  # empty title
    assert set(dataset.queries) == {"q1", "q2", "q3"}  # only queries with judgements
    assert dataset.qrels["q1"] == {"d1": 2, "d2": 1}
    assert dataset.qrels["q3"] == {"d5": 1, "d4": 0}
    assert load_beir(tmp_path / "toy", "dev").qrels == {"q2": {"d3": 1}}


def test_loads_a_zip_upload_with_the_folder_nested_inside(tmp_path):
    folder = write_beir(tmp_path / "src" / "toy")
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in folder.rglob("*"):
            if path.is_file():
                handle.write(path, path.relative_to(tmp_path / "src"))
    dataset = load_beir(archive, "test")
    assert len(dataset.doc_ids) == 6 and dataset.qrels["q2"] == {"d3": 1}
    assert load_beir(archive, "test").fingerprint == dataset.fingerprint  # unpacked once, same content


def test_fingerprint_changes_with_corpus_content(tmp_path):
    first = load_beir(write_beir(tmp_path / "a"), "test")
    docs = {**DOCS, "d1": ("Cats", "Changed text.")}
    second = load_beir(write_beir(tmp_path / "b", docs=docs), "test")
    assert first.fingerprint != second.fingerprint


@pytest.mark.parametrize("breakage,expected", [
    (lambda f: (f / "corpus.jsonl").unlink(), "has no corpus.jsonl"),
    (lambda f: (f / "corpus.jsonl").write_text('{"_id": "d1", "text": "ok"}\n{not json\n'),
     "corpus.jsonl line 2 is not valid JSON"),
    (lambda f: (f / "corpus.jsonl").write_text('{"title": "no id", "text": "x"}\n'), "corpus.jsonl line 1 has no _id"),
    (lambda f: (f / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n'),
     "document id 'a' appears twice"),
    (lambda f: (f / "queries.jsonl").write_text('["a list"]\n'), "queries.jsonl line 1 is not a JSON object"),
    (lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n"),
     "line 2: score 'high' is not a whole number"),
    (lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1 d1\n"),
     "expected three tab-separated columns"),
    (lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nqX\td1\t1\n"),
     "none of the queries in qrels/test.tsv is in queries.jsonl"),
])
def test_bad_files_get_an_error_naming_the_problem(tmp_path, breakage, expected):
    folder = write_beir(tmp_path / "toy")
    breakage(folder)
    with pytest.raises(StudioError, match=expected.replace("(", r"\(").replace("[", r"\[")):
        load_beir(folder, "test")


def test_a_missing_split_lists_the_splits_there_are(tmp_path):
    with pytest.raises(StudioError, match="no qrels/train.tsv: choose one of: dev, test"):
        load_beir(write_beir(tmp_path / "toy"), "train")


def test_not_a_folder_or_zip_is_refused(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(StudioError, match="not a folder or a zip"):
        load_beir(tmp_path / "x.txt")
    with pytest.raises(StudioError, match="not found"):
        load_beir(tmp_path / "missing")


def test_zip_with_an_escaping_path_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("../escape.txt", "x")
        handle.writestr("corpus.jsonl", json.dumps({"_id": "a", "text": "b"}))
    with pytest.raises(StudioError, match="unsafe path"):
        load_beir(archive)
    assert not (tmp_path / "data" / "escape.txt").exists()


def test_unknown_queries_in_qrels_are_skipped_with_a_warning(tmp_path):
    folder = write_beir(tmp_path / "toy", qrels={"test": [("q1", "d1", 1), ("qX", "d2", 1), ("q2", "dZ", 1)]})
    dataset = load_beir(folder, "test")
    assert set(dataset.qrels) == {"q1", "q2"}
    assert any("1 queries" in w for w in dataset.warnings)
    assert any("not in corpus.jsonl" in w for w in dataset.warnings)
