"""Small BEIR folders written on the fly for evaluation tests."""

import json
from pathlib import Path

DOCS = {
    "d1": ("Cats", "Cats are small domesticated carnivorous mammals that purr."),
    "d2": ("Dogs", "Dogs are loyal animals that bark and fetch sticks."),
    "d3": ("Proteins", "Proteins fold into three-dimensional shapes that decide their function."),
    "d4": ("", "The stock market fell sharply on Monday after the announcement."),
    "d5": ("Volcanoes", "A volcano erupts when magma rises through the crust."),
    "d6": ("Rivers", "Rivers carry water from mountains to the sea."),
}
QUERIES = {"q1": "what sound does a cat make", "q2": "how do proteins get their shape",
           "q3": "why do volcanoes erupt", "q9": "a query with no judgements"}
QRELS = {"test": [("q1", "d1", 2), ("q1", "d2", 1), ("q2", "d3", 1), ("q3", "d5", 1), ("q3", "d4", 0)],
         "dev": [("q2", "d3", 1)]}


def write_beir(folder: Path, docs=DOCS, queries=QUERIES, qrels=QRELS) -> Path:
    folder = Path(folder)
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as handle:
        for doc_id, (title, text) in docs.items():
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w") as handle:
        for query_id, text in queries.items():
            handle.write(json.dumps({"_id": query_id, "text": text, "metadata": {}}) + "\n")
    for split, rows in qrels.items():
        with open(folder / "qrels" / f"{split}.tsv", "w") as handle:
            handle.write("query-id\tcorpus-id\tscore\n")
            for row in rows:
                handle.write("\t".join(map(str, row)) + "\n")
    return folder
