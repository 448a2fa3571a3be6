"""The LLM judge of `check --judge`: grades retrieved passages and proposes corrections.

For each example the LLM grades, on the scale of the `judge` template in prompts/corpus.yaml
(0 unrelated … 3 answers fully; edited in the Templates tab), its positive, its negative (when it has one) and the top n
passages retrieved for its query. A retrieved passage graded above the positive is proposed as
the new positive; a negative graded 2 or more (relevant: it answers the query) is flagged *false
negative*, and the best-ranked passage below it that was graded 0 (or not graded, lower still) and
is not of the positive's document is proposed instead (RLHN-style relabelling). Proposals are
stored and applied only when a person accepts them (studio.corpus.proposals).
"""

import asyncio
from dataclasses import dataclass

from storage.db import now, transaction
from studio.corpus import templates as corpus_templates
from studio.generation.llm import LOCAL_CONCURRENCY, LLMClient, LLMError, LLMSettings
from studio.generation.replies import _load_json
from studio.prompts.templates import render

RELEVANT = 2          # a grade at or above this answers the query
CONCURRENCY = 8


def parse_grades(text: str | None, count: int) -> list[int] | None:
    """The grades of a reply ({"grades": [...]} or a bare list), or None when unusable."""
    try:
        value = _load_json(text or "")
    except Exception:
        return None
    if isinstance(value, dict):
        value = value.get("grades")
    if not isinstance(value, list) or len(value) != count:
        return None
    grades = []
    for grade in value:
        if isinstance(grade, bool) or not isinstance(grade, (int, float)) or not 0 <= grade <= 3:
            return None
        grades.append(int(round(grade)))
    return grades


@dataclass
class Candidate:
    row: int          # row in the corpus index
    role: str         # positive | negative | retrieved


def candidates_for(example: dict, ranked_rows: list[int], negative_row: int | None, top: int) -> list[Candidate]:
    chosen = [Candidate(example["passage_row"], "positive")]
    if negative_row is not None and negative_row != example["passage_row"]:
        chosen.append(Candidate(negative_row, "negative"))
    seen = {c.row for c in chosen}
    retrieved = [row for row in ranked_rows if row not in seen][:top]
    return chosen + [Candidate(row, "retrieved") for row in retrieved]


class Judge:
    def __init__(self, db, settings: LLMSettings):
        self.db = db
        self.llm_settings = settings
        self.template = corpus_templates.active(db, "judge")["body"]
        self.model = settings.model or "local"
        self.proposals = 0
        self.failures = 0

    @classmethod
    def start(cls, db, check_settings) -> "Judge":
        return cls(db, LLMSettings.resolve(base_url=check_settings.judge_base_url, model=check_settings.judge_model))

    def prompt(self, example: dict, index, titles: dict[int, str], chosen: list[Candidate]) -> str:
        lines = []
        for number, candidate in enumerate(chosen, start=1):
            title = titles.get(index.passage_ids[candidate.row], "")
            text = " ".join(index.texts[candidate.row].split())   # one line each: "[n]" starts a passage
            lines.append(f"[{number}]{f' ({title})' if title else ''} {text}")
        return render(self.template, {"query": example["query"], "instruction": example.get("instruction") or "",
                                      "passages": "\n".join(lines), "count": len(chosen)})

    def grade_chunk(self, index, results, top: int, titles: dict[int, str]) -> None:
        """Grade every example of a chunk, set false-negative flags and store proposals."""
        negatives = dict(self.db.execute(
            "SELECT example_id, negative_passage_id FROM example_passages WHERE corpus_id = ?"
            " AND negative_passage_id IS NOT NULL", [index.corpus["id"]]).fetchall())
        text_rows = {text: row for row, text in enumerate(index.texts)}
        work = []
        for example, rows, _, flags, reasons in results:
            negative_row = index.row_of.get(negatives.get(example["id"]))
            if negative_row is None and example.get("negative"):
                negative_row = text_rows.get(example["negative"])   # a negative that is a passage, mined elsewhere
            chosen = candidates_for(example, rows.tolist(), negative_row, top)
            work.append((example, rows.tolist(), chosen, flags, reasons, self.prompt(example, index, titles, chosen)))
        replies = asyncio.run(self._ask([item[-1] for item in work]))
        proposals = []
        for (example, ranked, chosen, flags, reasons, _), reply in zip(work, replies):
            grades = parse_grades(reply, len(chosen)) if isinstance(reply, str) else None
            if grades is None:
                self.failures += 1
                reasons.append("judge: no usable grades" + (f" ({reply})" if isinstance(reply, Exception) else ""))
                continue
            proposals += self._decide(example, index, ranked, chosen, grades, flags, reasons)
        if proposals:
            stamp = now()
            with transaction(self.db):
                self.db.execute("DELETE FROM proposals WHERE state = 'open' AND example_id IN (%s)"
                                % ", ".join(str(p[0]) for p in proposals))
                self.db.conn.executemany(
                    "INSERT INTO proposals (example_id, field, passage_id, text, reason, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)", [p + [stamp] for p in proposals])
            self.proposals += len(proposals)

    def _decide(self, example, index, ranked, chosen, grades, flags, reasons) -> list[list]:
        graded = {c.row: grade for c, grade in zip(chosen, grades)}
        positive = graded[example["passage_row"]]
        own = index.doc_ids[example["passage_row"]]
        proposals = []
        summary = ", ".join(f"{c.role} {grade}" for c, grade in zip(chosen, grades) if c.role != "retrieved")
        reasons.append(f"judge ({self.model}): {summary}; retrieved {[g for c, g in zip(chosen, grades) if c.role == 'retrieved']}")
        better = [(grade, -i, c.row) for i, (c, grade) in enumerate(zip(chosen, grades))
                  if c.role == "retrieved" and grade > positive]
        if better:
            grade, _, row = max(better)
            proposals.append([example["id"], "positive", index.passage_ids[row], index.texts[row],
                              f"the judge graded this passage {grade}, the positive {positive}"])
        negative = next((c for c in chosen if c.role == "negative"), None)
        if negative is not None and graded[negative.row] >= RELEVANT:
            flags["false_negative"] = 1
            reasons.append(f"false negative: the judge graded the negative {graded[negative.row]} (relevant)")
            below = ranked[ranked.index(negative.row) + 1:] if negative.row in ranked else []
            for row in below:
                if (index.doc_ids[row] != own and graded.get(row, 0) == 0 and row != example["passage_row"]
                        and index.texts[row] != example["query"]):
                    proposals.append([example["id"], "negative", index.passage_ids[row], index.texts[row],
                                      f"replaces a negative the judge found relevant; ranked below it"
                                      f"{', graded 0' if row in graded else ''}"])
                    break
        return proposals

    async def _ask(self, prompts: list[str]) -> list:
        schema = {"type": "object", "properties": {"grades": {"type": "array", "items": {"type": "integer"}}},
                  "required": ["grades"], "additionalProperties": False}
        async with LLMClient(self.llm_settings) as client:
            self.model = client.model
            limit = asyncio.Semaphore(LOCAL_CONCURRENCY if client.is_local else CONCURRENCY)

            async def one(prompt):
                async with limit:
                    try:
                        return (await client.chat(prompt, schema=schema)).text
                    except LLMError as error:
                        return error

            return await asyncio.gather(*(one(prompt) for prompt in prompts))
