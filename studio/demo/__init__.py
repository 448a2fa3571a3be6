"""The bundled demo: hand-written tasks and examples, and a pre-computed comparison."""
