"""The prompts: task families (loaded from prompts/*.yaml), the language table, the sandboxed
template renderer, and the stored template versions."""
