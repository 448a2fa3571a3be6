"""The layers of the house, read from the code: the store is the ground floor, migrations are
frozen, nothing imports in a circle, and only the UI imports Gradio."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("studio", "storage")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def imported(name: str, path: Path, known=MODULES) -> set[str]:
    """Every module of the project that `name` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {other for other in names if other in known and other != name}


GRAPH = {name: imported(name, path) for name, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None. A package and the modules
    inside it importing each other (re-exports) is not counted."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for other in sorted(graph[node]):
            if other.startswith(node + ".") or node.startswith(other + "."):
                continue
            if state.get(other) == "open":
                return stack[stack.index(other):] + [other]
            if other not in state and (found := visit(other)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_store_imports_nothing_from_the_engine():
    upward = sorted(f"{name} imports {other}" for name, others in GRAPH.items() if name.startswith("storage")
                    for other in others if other.startswith("studio"))
    assert upward == []


def test_a_migration_imports_no_live_code():
    live = sorted(f"{name} imports {other}" for name, others in GRAPH.items() if ".migrations." in name
                  for other in others)
    assert live == []


def test_no_module_imports_itself_through_others():
    assert _cycle(GRAPH) is None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}}) == ["a.x", "a.y", "a.z", "a.x"]
    assert _cycle({"a": {"a.x"}, "a.x": {"a"}}) is None


def test_relative_and_function_level_imports_count(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from .other import thing\n    import pkg.deep\n")
    known = {"pkg.mod": source, "pkg.other": source, "pkg.deep": source}
    assert imported("pkg.mod", source, known) == {"pkg.other", "pkg.deep"}


def test_only_the_ui_imports_gradio():
    outside = []
    for name, path in MODULES.items():
        if name.startswith("studio.ui"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            outside += [name for module in modules if module.split(".")[0] == "gradio"]
    assert outside == []


def test_the_generation_stage_is_one_package():
    loose = [n for n in ("brainstorm", "llm", "llm_pool", "local_llm", "batch_api", "replies", "generation",
                         "templates", "families", "languages") if (ROOT / "studio" / f"{n}.py").exists()]
    assert loose == []
    assert all(name in MODULES for name in ("studio.generation.llm", "studio.generation.examples",
                                            "studio.prompts.templates", "studio.prompts.families"))
