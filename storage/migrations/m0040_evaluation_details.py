"""Evaluations remember how they were made: model key, corpus fingerprint, sizes, time, warnings."""


def apply(db):
    db.execute("ALTER TABLE evaluations ADD COLUMN details TEXT NOT NULL DEFAULT '{}'")
    db.execute("CREATE INDEX idx_evaluations_model_dataset ON evaluations (model, dataset, split)")
