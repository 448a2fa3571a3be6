"""Which accepted examples are held out of training, so that the held-out figures measure
generalisation rather than memory.

- **By group.** Whole groups go to one side. An example grounded in a corpus (its positive is a
  passage) belongs to its passage's document, so no document has queries on both sides; any other
  example belongs to its task (examples without a task id are grouped by their instruction).
  Holding out single examples of a task would let the model learn the task's instruction and
  topics from its siblings; holding out single queries of a document would let it learn the
  document from its other passages' queries.
- **Stratified by family.** Each family holds out its share of its own groups, so that every family
  with enough groups is represented; one group of each family always stays in training.
- **No leaked documents.** A held-out example's positive never appears in training: a training
  example with that positive is left out, and a training negative equal to it is dropped.

The grouping is a function of an example (`GROUPINGS`): "document" (the default) as above, or
"task" for every example alike.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from studio.training.data import Example

MIN_GROUPS_TO_HOLD_ONE = 4  # a family with fewer groups than this holds none out unless its share rounds up to one


def task_group(example: Example) -> str:
    if example.task_id is not None:
        return f"task:{example.task_id}"
    return "instruction:" + " ".join(example.instruction.split()).lower()


def document_group(example: Example) -> str:
    if example.document is not None:
        return f"document:{example.document}"
    return task_group(example)


GROUPINGS: dict[str, Callable[[Example], str]] = {"document": document_group, "task": task_group}


def _kind(group: str) -> str:
    return "documents" if group.startswith("document:") else "tasks"


def _text(text: str | None) -> str:
    return (text or "").strip()


@dataclass(frozen=True)
class Split:
    train: list[Example]
    heldout: list[Example]
    groups: int            # groups (tasks and documents) among the examples
    heldout_groups: int
    left_out: int          # training examples left out: their positive is a held-out positive
    negatives_dropped: int  # training negatives dropped: equal to a held-out positive
    documents: int         # distinct positives and negatives of all examples: what held-out queries search
    by_kind: dict = field(default_factory=dict)   # "tasks"/"documents" → (held out, all)

    def describe(self) -> str:
        """One line: how the examples were split."""
        kinds = self.by_kind or {"tasks": (self.heldout_groups, self.groups)}
        groups = " and ".join(f"{held} of {total} {kind}" for kind, (held, total) in sorted(kinds.items(), reverse=True))
        if not self.heldout:
            return f"held out {groups}"
        searched = f"searched among {self.documents} documents"
        if any(e.document is not None for e in self.heldout):
            searched += " and every passage of their corpus"
        line = f"held out {groups}, {len(self.heldout)} examples; {searched}"
        leaks = []
        if self.left_out:
            leaks.append(f"{self.left_out} training examples left out (their positive is a held-out positive)")
        if self.negatives_dropped:
            leaks.append(f"{self.negatives_dropped} training negatives dropped (a held-out positive)")
        return line + ("; " + ", ".join(leaks) if leaks else "")


def without_leaks(train: list[Example], heldout: list[Example]) -> tuple[list[Example], int, int]:
    """(training examples, how many were left out, how many negatives dropped): no held-out positive
    stays in training, as a positive or as a negative."""
    held_positives = {_text(e.positive) for e in heldout}
    kept, left_out, dropped = [], 0, 0
    for example in train:
        if _text(example.positive) in held_positives:
            left_out += 1
            continue
        if example.negative is not None and _text(example.negative) in held_positives:
            example = replace(example, negative=None, negative_document=None)
            dropped += 1
        kept.append(example)
    return kept, left_out, dropped


def split_heldout(examples: list[Example], share: float, seed: int, group_by: str = "document") -> Split:
    """Hold out about `share` of each family's groups (seeded), then keep their positives out of training."""
    key = GROUPINGS[group_by]
    family_of: dict[str, str] = {}
    for example in examples:
        family_of.setdefault(key(example), example.family)  # a group counts in the family it first appears in
    by_family: dict[str, list[str]] = {}
    for group, family in family_of.items():
        by_family.setdefault(family, []).append(group)
    rng = random.Random(f"heldout-{seed}")
    held: set[str] = set()
    for family in sorted(by_family):
        groups = sorted(by_family[family])
        count = round(len(groups) * share)
        if share > 0 and count == 0 and len(groups) >= MIN_GROUPS_TO_HOLD_ONE:
            count = 1
        count = min(count, len(groups) - 1)
        rng.shuffle(groups)
        held.update(groups[:count])
    heldout = [e for e in examples if key(e) in held]
    train, left_out, dropped = without_leaks([e for e in examples if key(e) not in held], heldout)
    documents = {_text(t) for e in examples for t in (e.positive, e.negative) if t is not None}
    by_kind: dict[str, tuple[int, int]] = {}
    for group in family_of:
        held_count, total = by_kind.get(_kind(group), (0, 0))
        by_kind[_kind(group)] = (held_count + (group in held), total + 1)
    return Split(train, heldout, len(family_of), len(held), left_out, dropped, len(documents), by_kind)
