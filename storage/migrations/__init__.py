"""Forward-only schema migrations: mNNNN_<name>.py modules, each with apply(db)."""
