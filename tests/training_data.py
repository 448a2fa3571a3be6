"""Accepted training examples written to a real database, for the training tests.

Examples come in groups of a task: example i belongs to group i % 10. Groups 0 and 5 are sts
examples without a task (grouped by their shared instruction); the other eight are short-long
tasks stored in the tasks table, four examples each per 40.
"""

from storage.db import open_db
from storage.examples import insert_examples
from storage.tasks import add_tasks

TOPICS = ["cats", "dogs", "proteins", "rivers", "volcanoes", "violins", "comets", "tulips", "glaciers", "bridges",
          "owls", "coffee", "chess", "deserts", "sailing", "bees", "copper", "opera", "lichens", "tides"]
STS_GROUPS = (0, 5)


def add_accepted_examples(db_path, count: int = 40, languages=("English", "French")) -> list[int]:
    db = open_db(db_path)
    task_groups = [g for g in range(10) if g not in STS_GROUPS]
    texts = [f"Retrieve documents that answer questions of kind {g}" for g in task_groups]
    stored = {row["text"]: row["id"] for row in db.query("SELECT id, text FROM tasks")}
    add_tasks(db, "short-long", [t for t in texts if t not in stored])
    stored = {row["text"]: row["id"] for row in db.query("SELECT id, text FROM tasks")}
    task_of = {g: (stored[t], t) for g, t in zip(task_groups, texts)}
    rows = []
    for i in range(count):
        topic = TOPICS[i % len(TOPICS)]
        group = i % 10
        task_id, instruction = task_of.get(group, (None, "Retrieve semantically similar text."))
        rows.append({
            "family": "sts" if group in STS_GROUPS else "short-long",
            "language": languages[i % len(languages)],
            "instruction": instruction,
            "task_id": task_id,
            "query": f"what about {topic} number {i}",
            "positive": f"a document explaining {topic} in detail, part {i}",
            "negative": None if i % 3 == 0 else f"an unrelated note on {TOPICS[(i + 7) % len(TOPICS)]} {i}",
            "status": "accepted",
        })
    return insert_examples(db, rows).ids
