"""Accepted training examples written to a real database, for the training tests."""

from storage.db import open_db
from storage.examples import insert_examples

TOPICS = ["cats", "dogs", "proteins", "rivers", "volcanoes", "violins", "comets", "tulips", "glaciers", "bridges",
          "owls", "coffee", "chess", "deserts", "sailing", "bees", "copper", "opera", "lichens", "tides"]


def add_accepted_examples(db_path, count: int = 40, languages=("English", "French")) -> list[int]:
    rows = []
    for i in range(count):
        topic = TOPICS[i % len(TOPICS)]
        rows.append({
            "family": "short-long" if i % 4 else "sts",
            "language": languages[i % len(languages)],
            "instruction": "Retrieve documents that answer the question" if i % 4 else "Retrieve semantically similar text.",
            "query": f"what about {topic} number {i}",
            "positive": f"a document explaining {topic} in detail, part {i}",
            "negative": None if i % 3 == 0 else f"an unrelated note on {TOPICS[(i + 7) % len(TOPICS)]} {i}",
            "status": "accepted",
        })
    return insert_examples(open_db(db_path), rows).ids
