"""A user's own documents: reading them (readers), splitting them into passages (chunking), storing them (importer)."""
