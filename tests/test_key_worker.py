"""Duplicate keys computed in the helper process (storage.key_worker): the same keys as in the
inserting thread, whatever the helper does (answers, dies, hangs, never starts), and no process
left behind."""

import collections
import pickle
import random
import subprocess
import sys
import time
from contextlib import closing

import pytest

from storage import examples, key_worker
from storage.db import open_db
from storage.dedup_keys import both_hashes
from storage.examples import get_example, insert_examples
from tests.example_rows import make_rows

ALPHABET = "abcXYZ 0123 .,;!?'\"\\\n\t\x00 éÉüßİΣσ 日本語の「」“”«» \u00a0\u3000 ﬁⅫＡ。 हिन्दी"


def _texts(count: int, seed: int = 1) -> list[tuple]:
    rng = random.Random(seed)

    def text():
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60)))

    return [(rng.choice([None, "", text()]), text(), text(), rng.choice([None, text()])) for _ in range(count)]


@pytest.fixture
def helpers(monkeypatch):
    """Every helper process started, recorded; small chunks so that a test has many."""
    started = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(key_worker.subprocess, "Popen", recording_popen)
    monkeypatch.setattr(key_worker, "PARALLEL_MIN", 100)
    return started


def _hashed_by_the_inserting_thread(monkeypatch) -> list:
    """The chunks the inserting thread hashed itself (the rest came from the helper)."""
    mine = []
    real = key_worker.both_hashes

    def counting(texts):
        mine.append(len(texts))
        return real(texts)

    monkeypatch.setattr(key_worker, "both_hashes", counting)
    return mine


def _collect(texts, chunk, pause=0.0) -> list:
    keys = []
    with closing(key_worker.hashed_chunks(texts, chunk=chunk)) as chunks:
        for part in chunks:
            keys.extend(part)
            time.sleep(pause)  # the inserting thread's SQLite work
    return keys


def test_the_helper_gives_the_same_keys_as_the_inserting_thread(helpers, monkeypatch):
    texts = _texts(3000)
    expected = both_hashes(texts)
    mine = _hashed_by_the_inserting_thread(monkeypatch)
    assert _collect(texts, chunk=100, pause=0.02) == expected
    assert len(helpers) == 1 and helpers[0].returncode is not None  # started, and ended with the chunks
    assert sum(mine) < len(texts), "the helper process answered no chunk"


def test_texts_and_keys_cross_the_pipe_unchanged_and_a_frame_cannot_name_code():
    texts = _texts(500, seed=2) + [(None, "", "x", None), ("", "\x00", "a\nb\r\n", "")]
    assert key_worker.decode_texts(pickle.dumps(texts, protocol=pickle.HIGHEST_PROTOCOL)) == texts
    keys = both_hashes(texts)
    assert key_worker.decode_keys(key_worker.encode_keys(keys)) == keys
    for smuggled in (print, collections.OrderedDict(a=1), [("q", subprocess.Popen)]):
        with pytest.raises(pickle.UnpicklingError, match="may not name"):
            key_worker.decode_texts(pickle.dumps(smuggled))
    with pytest.raises(key_worker.HelperStopped):
        key_worker.decode_keys(key_worker.encode_keys(keys)[:-1])


def test_a_small_insert_starts_no_helper(helpers):
    texts = _texts(99)
    assert _collect(texts, chunk=10) == both_hashes(texts)
    assert helpers == []


@pytest.mark.parametrize("program", [
    "import sys; sys.stdin.buffer.read(20)",                      # dies in the middle of the first frame
    "import sys, time; sys.stdin.buffer.read(20); time.sleep(60)",  # hangs
    # answers the first chunk with keys for one example (of 100), then waits
    "import sys, time\n"
    "size = int.from_bytes(sys.stdin.buffer.read(8), 'little'); sys.stdin.buffer.read(size)\n"
    "sys.stdout.buffer.write((128).to_bytes(8, 'little') + b'0' * 128); sys.stdout.buffer.flush()\n"
    "time.sleep(60)",
], ids=["dies", "hangs", "garbles"])
def test_a_helper_that_fails_is_replaced_by_the_inserting_thread(helpers, monkeypatch, program):
    monkeypatch.setattr(key_worker, "HELPER_COMMAND", [sys.executable, "-c", program])
    monkeypatch.setattr(key_worker, "STALL_S", 0.5)
    texts = _texts(600)
    started = time.monotonic()
    assert _collect(texts, chunk=100) == both_hashes(texts)
    assert time.monotonic() - started < 20
    assert len(helpers) == 1 and helpers[0].returncode is not None


def test_a_helper_that_cannot_start_leaves_the_work_to_the_inserting_thread(helpers, monkeypatch, tmp_path):
    monkeypatch.setattr(key_worker, "HELPER_COMMAND", [str(tmp_path / "no-such-python")])
    texts = _texts(500)
    assert _collect(texts, chunk=100) == both_hashes(texts)


def test_stopping_early_ends_the_helper(helpers):
    chunks = key_worker.hashed_chunks(_texts(2000), chunk=100)
    next(chunks)
    chunks.close()
    assert len(helpers) == 1 and helpers[0].returncode is not None


def test_a_large_insert_through_the_helper_stores_what_a_small_one_does(db_path, helpers, monkeypatch):
    monkeypatch.setattr(key_worker, "CHUNK", 50)
    rows = make_rows(400, seed=3)
    rows[350] = dict(rows[20], query=rows[20]["query"].upper() + " !")  # a duplicate, seven chunks later
    rows[5]["query"] = "naïve “Café” — 日本語の質問"
    rows[6].update(task_id=None, cost=0.25, prompt_tokens=12, raw_response='{"q": 1}', placeholders={"n": "5"})
    big = insert_examples(open_db(db_path), rows)
    assert len(helpers) == 1 and helpers[0].returncode is not None

    small_db = open_db(db_path.with_name("small.db"))
    small = [insert_examples(small_db, [row]) for row in rows]
    assert big.row_ids == [result.row_ids[0] for result in small]
    assert big.row_ids[350] is None and big.duplicates == 1
    db = open_db(db_path)
    for example_id in (1, 6, 7, 300, 399):
        assert get_example(db, example_id) | {"created_at": 0, "updated_at": 0} == get_example(
            small_db, example_id) | {"created_at": 0, "updated_at": 0}
    assert get_example(db, 7)["cost"] == 0.25 and get_example(db, 7)["placeholders"] == '{"n": "5"}'
    assert get_example(db, 8)["cost"] is None and get_example(db, 8)["raw_response"] is None


def test_columns_no_row_of_a_batch_sets_are_stored_as_null_and_the_rest_line_up(db_path):
    db = open_db(db_path)
    rows = make_rows(3, seed=4)
    rows[1].update(task_id=None, cost=1.5, job_id=None, model=None, completion_tokens=7, raw_response="raw")
    rows[2].update(negative=None, model="m2")
    result = insert_examples(db, rows)
    stored = [get_example(db, example_id) for example_id in result.ids]
    assert [row["cost"] for row in stored] == [None, 1.5, None]
    assert [row["completion_tokens"] for row in stored] == [None, 7, None]
    assert [row["model"] for row in stored] == ["gpt-4", None, "m2"]
    assert [row["raw_response"] for row in stored] == [None, "raw", None]
    assert stored[2]["negative"] is None and stored[0]["negative"] == rows[0]["negative"]
    assert [row["query"] for row in stored] == [row["query"] for row in rows]
    assert examples.NULLABLE <= set(examples.ROW_COLUMNS + examples.TEXT_COLUMNS)
