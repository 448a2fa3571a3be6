"""Checks of examples against their corpus, each flag with its reason (`check --corpus NAME`).

- not found (round trip, as Promptagator filters): the example's positive passage is not among
  the top k passages of the corpus for its own query (k = 20 by default); the rank is stored.
- copied: the query is mostly a run of the passage's (or its title's) words in order: a model
  trained on it learns to match strings, not meaning.
- wrong language and off length: the cheap checks of studio.curation.checks (language of each
  field against the example's language, length against the template's num_words), plus two
  rules for queries: under MIN_QUERY_WORDS words, or longer than the passage they came from.
The optional LLM judge (studio.corpus.judge) adds proposals, which a person accepts or not.
"""

import json
import re
from dataclasses import asdict, dataclass

import numpy as np

from storage.db import now, transaction
from studio.corpus.index import open_for_job
from studio.curation.checks import expected_script, text_checks, word_count
from studio.curation.quality import encode_queries_by_instruction
from studio.embedding.precision import check_precision
from studio.errors import StudioError

CHUNK = 256
MIN_QUERY_WORDS = 2
COPIED_SHARE = 0.8          # this share of the query's words form one run of the passage's words...
COPIED_MIN_WORDS = 4        # ...and the query has at least this many words (a 2-word keyword query may match anyway)
_WORD = re.compile(r"\w+")

FLAG_COLUMNS = ("not_found", "copied", "wrong_language", "off_length", "false_negative")


@dataclass
class CheckSettings:
    corpus: str
    model: str = "minilm"
    consistency_k: int = 20
    status: str | None = None   # None: every example that is not rejected
    batch_size: int = 64
    precision: str = "auto"     # the passages' encoding: auto (bf16 where native), bf16 or fp32
    judge: bool = False
    judge_top: int = 5          # passages the judge grades per example (besides the positive and negative)
    judge_model: str | None = None      # the judge's LLM; None: STUDIO_LLM_MODEL (or the offline model)
    judge_base_url: str | None = None   # None: OPENAI_BASE_URL (the key only ever comes from the environment)

    def as_args(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        if self.consistency_k < 1:
            raise StudioError("--consistency-k must be at least 1, e.g. 20")
        if self.judge_top < 1:
            raise StudioError("the judge must grade at least 1 retrieved passage")
        check_precision(self.precision)


def words(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


def longest_run(query: list[str], passage: list[str]) -> int:
    """Length of the longest run of consecutive query words that occurs, in order and unbroken, in the passage."""
    best = 0
    previous = [0] * (len(passage) + 1)
    for word in query:
        current = [0] * (len(passage) + 1)
        for j, other in enumerate(passage, start=1):
            if word == other:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def copied_reason(query: str, passage: str, title: str = "") -> str | None:
    """Why the query counts as copied from the passage or its title, or None."""
    query_words = words(query)
    if not query_words:
        return None
    if title and query_words == words(title):
        return "copied: the query is the passage's title"
    if len(query_words) < COPIED_MIN_WORDS:
        return None
    for source, name in ((passage, "passage"), (title, "title")):
        run = longest_run(query_words, words(source))
        if run >= COPIED_SHARE * len(query_words):
            return f"copied: {run} of the query's {len(query_words)} words appear in order in the {name}"
    return None


def text_flags(example: dict, passage: str, title: str) -> tuple[dict, list[str]]:
    """The flags that need no model: copied, wrong language, off length; with their reasons."""
    reasons = []
    copied = copied_reason(example["query"], passage, title)
    if copied:
        reasons.append(copied)
    placeholders = _placeholders(example.get("placeholders"))
    cheap = text_checks(example, placeholders, has_negative_key=False)
    wrong_language = cheap["q_language_flag"]
    reasons += [f"wrong language: {p}" for p in cheap["problems"] if ", not " in p]
    off_length = cheap["q_length_flag"] or 0
    reasons += [f"off length: {p}" for p in cheap["problems"] if p.startswith(("too short", "too long"))]
    script = expected_script(example.get("language"))
    query_words = word_count(example["query"], script)
    if query_words < MIN_QUERY_WORDS:
        off_length = 1
        reasons.append(f"too short: the query has {query_words} word(s)")
    elif query_words > word_count(passage, script):
        off_length = 1
        reasons.append(f"too long: the query ({query_words} words) is longer than its passage")
    return {"copied": int(bool(copied)), "wrong_language": int(wrong_language), "off_length": int(off_length)}, reasons


def positive_rank(ranked_rows, passage_row: int) -> int | None:
    """1-based rank of the positive's passage in the top-k rows, None when it is not among them."""
    hits = np.nonzero(np.asarray(ranked_rows) == passage_row)[0]
    return int(hits[0]) + 1 if len(hits) else None


def run_check_job(job, settings: CheckSettings) -> dict:
    from studio.evaluation.search import top_k

    settings.check()
    db = job.db
    stats = {"examples": 0, "not_found": 0, "copied": 0, "wrong_language": 0, "off_length": 0,
             "false_negative": 0, "proposals": 0, "passages": 0}
    with job.failing("the check job", stats):
        corpus, model, index, examples = open_for_job(job, settings, "e.status != 'rejected'")
        stats["passages"] = len(index.texts)
        stats["examples"] = len(examples)
        titles = {row["id"]: row["title"] for row in db.query(
            "SELECT id, title FROM passages WHERE corpus_id = ?", [corpus["id"]])}
        judge = None
        if settings.judge:
            from studio.corpus.judge import Judge

            judge = Judge.start(db, settings)
        for start in range(0, len(examples), CHUNK):
            if job.cancel_requested():
                job.cancelled(stats=stats)
                return stats
            chunk = examples[start:start + CHUNK]
            _add_placeholders(db, chunk)
            queries = encode_queries_by_instruction(model, chunk, settings.batch_size)
            depth = max(settings.consistency_k, settings.judge_top + 2 if judge else 0)
            ranked, _ = top_k(queries, index.vectors, depth)
            results = []
            for example, rows in zip(chunk, ranked):
                passage_row = example["passage_row"]
                rank = positive_rank(rows[:settings.consistency_k], passage_row)
                flags, reasons = text_flags(example, index.texts[passage_row],
                                            titles.get(index.passage_ids[passage_row], ""))
                flags["not_found"] = int(rank is None)
                if rank is None:
                    reasons.insert(0, f"not found: the positive is not in the top {settings.consistency_k} "
                                      "passages for its own query")
                flags["false_negative"] = 0
                results.append((example, rows, rank, flags, reasons))
            if judge:
                judge.grade_chunk(index, results, settings.judge_top, titles)
            _store(db, corpus["id"], settings, results, judge)
            for _, _, _, flags, _ in results:
                for name in FLAG_COLUMNS:
                    stats[name] += flags[name]
            if judge:
                stats["proposals"] = judge.proposals
            job.progress(min(start + CHUNK, len(examples)), len(examples), "checking", stats=stats)
        job.finish(stats=stats, message=summary(stats))
        return stats


def _store(db, corpus_id: int, settings: CheckSettings, results, judge) -> None:
    stamp = now()
    with transaction(db):
        db.conn.executemany(
            "INSERT INTO example_checks (example_id, corpus_id, rank, k, not_found, copied, wrong_language, off_length,"
            " false_negative, reasons, model, judge_model, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (example_id) DO UPDATE SET corpus_id = excluded.corpus_id, rank = excluded.rank,"
            " k = excluded.k, not_found = excluded.not_found, copied = excluded.copied,"
            " wrong_language = excluded.wrong_language, off_length = excluded.off_length,"
            " false_negative = excluded.false_negative, reasons = excluded.reasons, model = excluded.model,"
            " judge_model = excluded.judge_model, checked_at = excluded.checked_at",
            [[example["id"], corpus_id, rank, settings.consistency_k, flags["not_found"], flags["copied"],
              flags["wrong_language"], flags["off_length"], flags["false_negative"], "\n".join(reasons) or None,
              settings.model, judge.model if judge else None, stamp]
             for example, _, rank, flags, reasons in results])


def _add_placeholders(db, chunk: list[dict]) -> None:
    found = dict(db.execute("SELECT id, placeholders FROM example_texts WHERE id IN (SELECT value FROM json_each(?))",
                            [json.dumps([example["id"] for example in chunk])]).fetchall())
    for example in chunk:
        example["placeholders"] = found.get(example["id"])


def _placeholders(value) -> dict:
    try:
        parsed = json.loads(value) if value else {}
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def summary(stats: dict) -> str:
    text = (f"checked {stats['examples']} example(s) against {stats['passages']} passage(s): "
            f"{stats['not_found']} not found, {stats['copied']} copied, {stats['wrong_language']} wrong language, "
            f"{stats['off_length']} off length")
    if stats.get("proposals") or stats.get("false_negative"):
        text += f", {stats['false_negative']} false negative(s), {stats['proposals']} proposal(s) to review"
    return text
