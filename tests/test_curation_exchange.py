import csv
import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from storage import curation
from storage.curation import ExampleFilter
from storage.db import open_db
from storage.examples import insert_examples
from studio.config import REPO_ROOT
from studio.curation import exchange
from studio.errors import StudioError
from tests.example_rows import make_rows

TRICKY = [
    {"query": "naïve café — “quoted” and 'single' \\ backslash", "positive": "line one\nline two\r\n\ttab",
     "negative": None, "instruction": "Find it", "family": "short-short", "language": "French"},
    {"query": "日本語の質問 😀", "positive": "答え\u2028separator\u2029para", "negative": "null bytes \u0000 inside",
     "instruction": "", "family": "short-long", "language": "Japanese"},
    {"query": "مرحبا بالعالم", "positive": "{\"json\": [1, 2]} inside text", "negative": "",
     "instruction": "Retrieve parallel sentences.", "family": "bitext", "language": "Arabic"},
    {"query": "x", "positive": "null", "negative": "None", "instruction": "null", "family": "sts",
     "language": "English"},
]


def lines_of(rows):
    return [{key: row[key] for key in exchange.LINE_KEYS} for row in rows]


def write_jsonl(path, objects):
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects), encoding="utf-8")
    return path


@pytest.fixture
def db(db_path):
    return open_db(db_path)


def test_valid_lines_round_trip_exactly(db, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", TRICKY)
    report = exchange.import_file(db, source, status="accepted")
    assert report.inserted == len(TRICKY)
    out = tmp_path / "out.jsonl"
    exchange.export(db, "jsonl", out)
    # U+2028 inside a JSON string is not a line break for JSONL readers; split on \n only.
    lines = out.read_text(encoding="utf-8").split("\n")[:-1]
    exported = [json.loads(line) for line in lines]
    # An empty negative means "none" everywhere: the store keeps it as null.
    expected = [{**row, "negative": row["negative"] or None} for row in TRICKY]
    assert [{k: v for k, v in row.items() if k not in ("id", "status")} for row in exported] == expected
    assert all(row["status"] == "accepted" for row in exported)
    # Export → import into a fresh store → export is byte-identical.
    fresh = open_db(tmp_path / "fresh.db")
    exchange.import_file(fresh, out, status="accepted")
    again = tmp_path / "again.jsonl"
    exchange.export(fresh, "jsonl", again)
    assert again.read_bytes() == out.read_bytes()


def test_malformed_file_is_refused_whole_with_line_numbers(db, tmp_path):
    good = lines_of(make_rows(3))
    text = (json.dumps(good[0]) + "\n" + "{not json\n" + json.dumps(good[1]) + "\n\n"
            + json.dumps({"query": "q", "positive": "p", "family": "nope"}) + "\n"
            + json.dumps({**good[2], "postive": "typo"}) + "\n")
    source = tmp_path / "bad.jsonl"
    source.write_text(text)
    with pytest.raises(StudioError) as error:
        exchange.import_file(db, source)
    assert "lines 2, 5, 6" in str(error.value) and "not imported" in str(error.value)
    assert curation.count(db, ExampleFilter()) == 0
    report = exchange.import_file(db, source, skip_bad=True)
    assert report.inserted == 2 and report.skipped_lines == [2, 5, 6]
    assert curation.count(db, ExampleFilter(status="pending")) == 2


def test_size_and_row_limits_give_clear_errors(db, tmp_path):
    source = write_jsonl(tmp_path / "many.jsonl", lines_of(make_rows(30)))
    with pytest.raises(StudioError, match="more than 10 examples"):
        exchange.import_file(db, source, max_rows=10)
    with pytest.raises(StudioError, match="over the import limit"):
        exchange.import_file(db, source, max_bytes=1000)
    assert curation.count(db, ExampleFilter()) == 0


def test_csv_import_with_multiline_cells_and_bad_row_numbers(db, tmp_path):
    source = tmp_path / "in.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query", "positive", "negative", "instruction", "family", "language"])
        writer.writerow(["q one", "two\nline positive", "", "inst", "short-short", "English"])
        writer.writerow(["q two", "p", "n", "inst", "bogus-family", "English"])
    with pytest.raises(StudioError, match="line 4"):
        exchange.import_file(db, source)
    exchange.import_file(db, source, skip_bad=True)
    (row,) = curation.page(db, ExampleFilter()).rows
    assert row["positive"] == "two\nline positive" and row["negative"] is None


def test_duplicates_are_skipped_on_import(db, tmp_path):
    rows = lines_of(make_rows(5))
    source = write_jsonl(tmp_path / "dup.jsonl", rows + rows[:2])
    report = exchange.import_file(db, source)
    assert (report.inserted, report.duplicates) == (5, 2)


def test_export_status_filter_defaults_to_accepted(db, tmp_path):
    insert_examples(db, make_rows(12))
    curation.set_status(db, ExampleFilter(family="sts"), "accepted")
    out = tmp_path / "acc.jsonl"
    assert exchange.export(db, "jsonl", out).count == 2
    assert exchange.export(db, "jsonl", out, status="all").count == 12
    assert exchange.export(db, "jsonl", out, status="pending", flt=ExampleFilter(language="German")).count == 2


def test_hf_export_writes_parquet_and_dataset_card(db, tmp_path):
    insert_examples(db, make_rows(12, status="accepted"))
    report = exchange.export(db, "hf", tmp_path / "hf")
    table = pq.read_table(tmp_path / "hf" / exchange.HF_DATA_FILE)
    assert table.num_rows == 12 == report.count
    assert table.column_names == list(exchange.EXPORT_KEYS)
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "path: data/train-00000-of-00001.parquet" in card
    assert "| short-long | 2 |" in card and "| English | 4 |" in card
    assert table.to_pylist()[2]["negative"] is None  # short-short keeps its null


def test_st_export_has_anchor_positive_negative_and_leaves_out_missing_negatives(db, tmp_path):
    insert_examples(db, make_rows(12, status="accepted"))
    report = exchange.export(db, "st", tmp_path / "st.parquet")
    table = pq.read_table(tmp_path / "st.parquet")
    assert table.column_names == ["anchor", "positive", "negative"]
    assert (table.num_rows, report.left_out) == (8, 4)
    first = table.to_pylist()[0]
    assert first["anchor"].startswith("Instruct: Find documents about topic 0\nQuery: q0 ")
    jsonl = exchange.export(db, "st", tmp_path / "st.jsonl")
    assert jsonl.count == 8 and len((tmp_path / "st.jsonl").read_text().splitlines()) == 8


def test_ui_export_paths_stay_inside_data_dir(isolated_data_dir):
    inside = exchange.ui_export_path("accepted.jsonl", "jsonl")
    assert inside.is_relative_to(isolated_data_dir / "exports")
    for escape in ("../x.jsonl", "/tmp/x.jsonl", "a/../../x.jsonl", ""):
        with pytest.raises(StudioError):
            exchange.ui_export_path(escape, "jsonl")


def _cli(*argv, db_path):
    return subprocess.run([sys.executable, "-m", "studio", *argv, "--db", str(db_path)], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=120)


def test_cli_import_export_and_refusal(db_path, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", lines_of(make_rows(6)) + ["not an object"])
    refused = _cli("import", str(source), db_path=db_path)
    assert refused.returncode == 2 and "line 7" in refused.stderr
    done = _cli("import", str(source), "--status", "accepted", "--skip-bad", db_path=db_path)
    assert done.returncode == 0, done.stderr
    assert "imported 6" in done.stdout
    out = tmp_path / "out.jsonl"
    exported = _cli("export", "--format", "jsonl", "--out", str(out), "--family", "sts", db_path=db_path)
    assert exported.returncode == 0, exported.stderr
    assert [json.loads(line)["family"] for line in out.read_text().splitlines()] == ["sts"]


def test_cli_mine_refuses_a_bad_rank_window(db_path):
    refused = _cli("mine", "--rank-from", "50", "--rank-to", "10", db_path=db_path)
    assert refused.returncode == 2 and "rank window" in refused.stderr
