"""Corpora: each format read, chunked with overlap, stored once, searchable; bad files refused whole."""

import json
import subprocess
import sys

import pytest

from storage import corpora
from storage.curation import fts_query
from storage.db import open_db
from studio.config import REPO_ROOT
from studio.corpus.chunking import chunk_words
from studio.corpus.importer import add_corpus
from studio.errors import StudioError
from tests.corpus_files import pdf_bytes, write_beir_corpus, write_zip


def _passages(db, name):
    return corpora.passages_of(db, corpora.corpus_by_name(db, name)["id"])


def test_chunking_cuts_windows_that_overlap_and_reach_the_end():
    words = [f"w{i}" for i in range(25)]
    chunks = chunk_words(" ".join(words), size=10, overlap=3)
    assert chunks == [" ".join(words[0:10]), " ".join(words[7:17]), " ".join(words[14:24]), " ".join(words[21:25])]
    assert chunk_words("  short   text\nkept as written ", 10, 3) == ["short   text\nkept as written"]
    assert chunk_words(" ".join(words[:10]), 10, 3) == [" ".join(words[:10])]
    assert chunk_words("   ", 10, 3) == []


def test_beir_corpus_keeps_ids_and_titles_chunks_long_documents_and_stores_repeats_once(db_path, tmp_path):
    long_text = " ".join(f"word{i}" for i in range(30))
    path = write_beir_corpus(tmp_path / "corpus.jsonl", [
        ("d1", "Aspirin", "Aspirin thins the blood."),
        ("d2", "Long", long_text),
        ("d3", "Copy", "Aspirin thins the blood."),
        ("d4", "Only a title", ""),
    ])
    db = open_db(db_path)
    report = add_corpus(db, path, name="sci", chunk=12, overlap=4)
    assert (report.documents, report.passages, report.repeated) == (4, 6, 1)
    rows = _passages(db, "sci")
    assert [(r["doc_id"], r["title"], r["position"]) for r in rows] == [
        ("d1", "Aspirin", 0), ("d2", "Long", 0), ("d2", "Long", 1), ("d2", "Long", 2), ("d2", "Long", 3),
        ("d4", "Only a title", 0)]
    assert rows[2]["text"].split()[:4] == long_text.split()[8:12]   # 4 words of overlap
    assert rows[5]["text"] == "Only a title"
    found = corpora.search_passages(db, corpora.corpus_by_name(db, "sci")["id"], fts_query("thins blood"))
    assert [r["doc_id"] for r in found] == ["d1"]
    assert corpora.find_by_text(db, corpora.corpus_by_name(db, "sci")["id"], "Aspirin thins the blood.")["doc_id"] == "d1"


def test_jsonl_and_csv_with_a_text_column_and_optional_id_and_title(db_path, tmp_path):
    db = open_db(db_path)
    (tmp_path / "notes.jsonl").write_text('{"text": "first note"}\n\n{"id": 7, "title": "T", "text": "second"}\n')
    add_corpus(db, tmp_path / "notes.jsonl")
    assert [(r["doc_id"], r["title"], r["text"]) for r in _passages(db, "notes")] == [
        ("1", "", "first note"), ("7", "T", "second")]
    (tmp_path / "faq.csv").write_text('Title,text,id\nRefunds,"Refunds take, at most, 5 days",r1\n,No title here,\n')
    add_corpus(db, tmp_path / "faq.csv", name="faq")
    assert [(r["doc_id"], r["title"], r["text"]) for r in _passages(db, "faq")] == [
        ("r1", "Refunds", "Refunds take, at most, 5 days"), ("3", "", "No title here")]


def test_a_zip_and_a_folder_of_txt_md_html_and_pdf(db_path, tmp_path):
    files = {
        "docs/a.txt": "Plain text about tides.",
        "docs/b.md": "# Moon guide\n\nThe moon pulls the sea.",
        "docs/c.html": "<html><head><title>Waves</title><style>p{}</style></head>"
                       "<body><p>Waves &amp; wind</p><script>var x = 1;</script><p>carry energy.</p></body></html>",
        "docs/d.pdf": pdf_bytes("Spring tides follow the full moon", title="Tide tables"),
        "__MACOSX/._a.txt": b"\x00\x01",
    }
    db = open_db(db_path)
    add_corpus(db, write_zip(tmp_path / "ocean.zip", files))
    rows = {r["doc_id"]: r for r in _passages(db, "ocean")}
    assert set(rows) == {"docs/a.txt", "docs/b.md", "docs/c.html", "docs/d.pdf"}
    assert (rows["docs/a.txt"]["title"], rows["docs/a.txt"]["text"]) == ("a", "Plain text about tides.")
    assert rows["docs/b.md"]["title"] == "Moon guide"
    assert (rows["docs/c.html"]["title"], rows["docs/c.html"]["text"]) == ("Waves", "Waves & wind\ncarry energy.")
    assert rows["docs/d.pdf"]["title"] == "Tide tables"
    assert "Spring tides follow the full moon" in rows["docs/d.pdf"]["text"]
    folder = tmp_path / "folder"
    for name, data in files.items():
        if name.startswith("docs/"):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
    (folder / ".hidden").write_text("skipped")
    add_corpus(db, folder, name="ocean-folder")
    assert {r["doc_id"] for r in _passages(db, "ocean-folder")} == set(rows)


@pytest.mark.parametrize("name, content, reason", [
    ("broken.jsonl", '{"text": "good"}\n{"text": "cut\n', "broken.jsonl line 2: not valid JSON"),
    ("notext.jsonl", '{"body": "x"}\n', "notext.jsonl line 1: no 'text' field"),
    ("table.csv", "id,body\n1,hello\n", "table.csv: no 'text' column (the header has: id, body)"),
    ("empty.csv", "id,text\n1,hello\n2,\n", "empty.csv line 3: the text is empty"),
])
def test_a_bad_file_is_refused_with_its_line_and_nothing_is_stored(db_path, tmp_path, name, content, reason):
    (tmp_path / name).write_text(content)
    db = open_db(db_path)
    with pytest.raises(StudioError, match="^" + reason.replace("(", r"\(").replace(")", r"\)")):
        add_corpus(db, tmp_path / name)
    assert corpora.list_corpora(db) == []
    assert db.execute("SELECT count(*) FROM passages").fetchone()[0] == 0


@pytest.mark.parametrize("files, reason", [
    ({}, "empty.zip: the zip holds no"),
    ({"ok.txt": "fine", "../evil.txt": "escape"}, "empty.zip: the entry '../evil.txt' points outside"),
    ({"/etc/evil.txt": "escape"}, "empty.zip: the entry '/etc/evil.txt' points outside"),
    ({"ok.txt": "fine", "image.txt": b"\x89PNG\x00\x00"}, "image.txt: not a text file"),
    ({"ok.txt": "fine", "bad.pdf": b"%PDF-1.4 garbage"}, "bad.pdf: not a readable PDF"),
    ({"photo.png": b"x"}, "photo.png: not a supported file"),
])
def test_a_bad_zip_is_refused_and_nothing_is_stored(db_path, tmp_path, files, reason):
    db = open_db(db_path)
    with pytest.raises(StudioError, match="^" + reason.replace("(", r"\(")):
        add_corpus(db, write_zip(tmp_path / "empty.zip", files))
    assert corpora.list_corpora(db) == []


def test_a_zip_that_unpacks_beyond_the_limit_is_refused(db_path, tmp_path):
    path = write_zip(tmp_path / "bomb.zip", {"a.txt": "a " * 50_000})
    with pytest.raises(StudioError, match="unpack to .* over the limit"):
        add_corpus(open_db(db_path), path, max_expanded_bytes=10_000)


def test_remove_drops_passages_and_their_search_entries(db_path, tmp_path):
    db = open_db(db_path)
    add_corpus(db, write_beir_corpus(tmp_path / "one.jsonl", [("a", "", "shared word here")]))
    add_corpus(db, write_beir_corpus(tmp_path / "two.jsonl", [("b", "", "shared word there")]))
    assert corpora.remove_corpus(db, "one")
    assert [r["name"] for r in corpora.list_corpora(db)] == ["two"]
    assert db.execute("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH 'shared'").fetchone()[0] == 1
    db.execute("INSERT INTO passages_fts (passages_fts) VALUES ('integrity-check')")


def _cli(*args, db):
    return subprocess.run([sys.executable, "-m", "studio", *args, "--db", str(db)], cwd=REPO_ROOT,
                          capture_output=True, text=True)


def test_cli_add_list_remove_and_one_line_errors(db_path, tmp_path):
    path = write_beir_corpus(tmp_path / "corpus.jsonl", [("a", "A", "one two three four five six")])
    added = _cli("corpus", "add", str(path), "--name", "mine", "--chunk-words", "4", "--overlap-words", "1", db=db_path)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "corpus 'mine': 1 document(s), 2 passage(s)"
    listed = json.loads(_cli("corpus", "list", "--json", db=db_path).stdout)
    assert [(c["name"], c["passages"], c["chunk_words"], c["overlap_words"]) for c in listed] == [("mine", 2, 4, 1)]
    again = _cli("corpus", "add", str(path), "--name", "mine", db=db_path)
    assert again.returncode == 2 and again.stderr.strip().startswith("error: a corpus named 'mine' exists already")
    bad = _cli("corpus", "add", str(path), "--chunk-words", "5", "--overlap-words", "5", db=db_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert _cli("corpus", "remove", "mine", db=db_path).returncode == 0
    missing = _cli("corpus", "remove", "mine", db=db_path)
    assert missing.returncode == 2 and "no corpus named 'mine'" in missing.stderr
    assert _cli("corpus", "list", db=db_path).stdout.startswith("no corpora yet")
