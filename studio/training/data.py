"""Training data: accepted examples, filtered, served in batches (the held-out split is in split.py)."""

import random
from collections import Counter
from dataclasses import dataclass

from studio.embedding.query import format_query
from studio.errors import StudioError


# Families whose queries ask for documents: their instruction is what a retrieval prompt should say.
RETRIEVAL_FAMILIES = ("short-long", "long-long", "short-short")


@dataclass(frozen=True)
class Example:
    id: int
    family: str
    language: str
    instruction: str
    query: str            # already formatted with its instruction
    positive: str
    negative: str | None
    task_id: int | None = None
    document: str | None = None   # "corpus id:document id" of the positive, for examples grounded in a corpus
    negative_document: str | None = None   # the same of the hard negative, when it is a passage of the corpus


def load_examples(db, families: list[str] | None = None, languages: list[str] | None = None) -> list[Example]:
    """Accepted examples matching the filters (empty filter: everything), in id order. An example whose
    positive is a passage of a corpus (example_passages) carries that passage's document."""
    sql = ("SELECT e.id, e.family, e.language, e.instruction, e.query, e.positive, e.negative, e.task_id,"
           " p.corpus_id, p.doc_id, n.corpus_id, n.doc_id FROM examples e"
           " LEFT JOIN example_passages ep ON ep.example_id = e.id"
           " LEFT JOIN passages p ON p.id = ep.passage_id"
           " LEFT JOIN passages n ON n.id = ep.negative_passage_id"
           " WHERE e.status = 'accepted'")
    params: list = []
    for column, values in (("e.family", families), ("e.language", languages)):
        if values:
            sql += f" AND {column} IN ({', '.join('?' for _ in values)})"
            params.extend(values)
    rows = db.execute(sql + " ORDER BY e.id", params).fetchall()
    examples = []
    for row in rows:
        negative = row[6] if row[6] and row[6].strip() else None
        examples.append(Example(row[0], row[1], row[2], row[3] or "", format_query(row[4], row[3]), row[5], negative,
                                row[7], f"{row[8]}:{row[9]}" if row[8] is not None else None,
                                f"{row[10]}:{row[11]}" if row[10] is not None and negative else None))
    return examples


def trained_documents(examples: list[Example]) -> list[str]:
    """The corpus documents ("corpus id:document id") whose passages these examples train on."""
    return sorted({d for e in examples for d in (e.document, e.negative_document) if d is not None})


def default_query_instruction(examples: list[Example]) -> str | None:
    """The instruction saved as a trained model's query prompt unless one is chosen: the most frequent
    instruction of the retrieval families; of all families only when no retrieval example has one."""
    for pool in ([e for e in examples if e.family in RETRIEVAL_FAMILIES], examples):
        counts = Counter(e.instruction.strip() for e in pool if e.instruction.strip())
        if counts:
            return counts.most_common(1)[0][0]
    return None


def data_counts(train: list[Example], heldout: list[Example]) -> dict:
    by_family: dict[str, int] = {}
    by_language: dict[str, int] = {}
    for example in train:
        by_family[example.family] = by_family.get(example.family, 0) + 1
        by_language[example.language] = by_language.get(example.language, 0) + 1
    return {"train": len(train), "heldout": len(heldout),
            "with_negative": sum(e.negative is not None for e in train),
            "by_family": by_family, "by_language": by_language}


class BatchPlan:
    """Which examples form each global batch: a fresh seeded shuffle per epoch, full batches only.

    The batch of a given step depends only on (seed, step), so a resumed run sees exactly the
    batches the uninterrupted run would have.
    """

    def __init__(self, examples: list[Example], batch_size: int, seed: int, world_size: int = 1):
        if len(examples) < 2:
            raise StudioError("training needs at least 2 accepted examples (after filters and the held-out share)")
        batch_size = min(batch_size, len(examples))
        batch_size -= batch_size % world_size  # every process gets the same number of examples
        if batch_size < 2 * world_size:
            raise StudioError("too few examples for this many processes: accept more or use fewer processes")
        self.examples = examples
        self.batch_size = batch_size
        self.seed = seed
        self.world_size = world_size
        self.steps_per_epoch = len(examples) // batch_size
        self._epoch, self._epoch_order = None, []

    def _order(self, epoch: int) -> list[int]:
        if epoch != self._epoch:  # shuffle once per epoch, not once per step
            self._epoch_order = list(range(len(self.examples)))
            random.Random(f"epoch-{self.seed}-{epoch}").shuffle(self._epoch_order)
            self._epoch = epoch
        return self._epoch_order

    def batch(self, step: int) -> list[Example]:
        """The global batch of `step` (0-based)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        order = self._order(epoch)
        return [self.examples[i] for i in order[index * self.batch_size:(index + 1) * self.batch_size]]

    def local_batch(self, step: int, rank: int) -> list[Example]:
        """This process's contiguous slice of the global batch (the gather restores rank order)."""
        batch = self.batch(step)
        per_rank = len(batch) // self.world_size
        return batch[rank * per_rank:(rank + 1) * per_rank]
