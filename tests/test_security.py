"""Security properties of the code base: the template sandbox, what imports Gradio, and that
nothing turns model output or user files into code."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.config import REPO_ROOT
from studio.prompts.templates import TemplateError, render, validate_template

# Server-side template injection payloads of the kinds seen in the wild, plus plain misuse.
ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ language.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].system('true') }}",
    "{{ language|attr('__class__') }}",
    "{{ language['__class__'] }}",
    "{{ language.upper() }}",
    "{{ range(10) }}",
    "{{ '%s' % language }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% set x = language %}{{ x }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% macro m() %}{{ caller() }}{% endmacro %}",
]
# Names that exist in a default Jinja environment but are no placeholder of ours.
JINJA_GLOBALS = ["lipsum", "cycler", "joiner", "namespace", "range", "dict", "config", "request"]


@pytest.mark.parametrize("body", ESCAPES)
def test_template_escapes_are_refused_when_rendering(body):
    with pytest.raises(TemplateError):
        render(body, {"language": "English", "task": "a task"})


@pytest.mark.parametrize("body", ESCAPES)
def test_template_escapes_are_refused_when_saving(body):
    with pytest.raises(TemplateError):
        validate_template("short-short", "generate",
                          body + " {{ task }} {{ language }} input positive_document")


def test_a_refused_template_never_runs_its_payload(tmp_path):
    marker = tmp_path / "pwned"
    body = "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}"
    with pytest.raises(TemplateError):
        render(body, {})
    assert not marker.exists()


@pytest.mark.parametrize("name", JINJA_GLOBALS)
def test_jinja_globals_are_not_visible_to_templates(name):
    with pytest.raises(TemplateError, match="undefined"):
        render("{{ " + name + " }}", {"language": "English"})


def test_undefined_placeholder_is_refused_with_its_name():
    with pytest.raises(TemplateError, match="query_lenght"):
        render("Write a query of {{ query_lenght }}.", {"query_length": "5 to 15 words"})
    with pytest.raises(TemplateError, match="query_lenght"):
        validate_template("short-long", "generate", "{{ task }} {{ query_lenght }} user_query positive_document "
                          "hard_negative_document")


def test_placeholder_values_are_text_not_templates():
    # A value that looks like a template (e.g. a brainstormed task written by the LLM) is
    # printed as it is, never rendered a second time.
    value = "{{ ''.__class__ }} {% include '/etc/passwd' %}"
    assert render("Task: {{ task }}", {"task": value}) == "Task: " + value


def _python_files(*roots: str) -> list[Path]:
    files = []
    for root in roots:
        path = REPO_ROOT / root
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return [f for f in files if "__pycache__" not in f.parts]


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _engine_files() -> list[Path]:
    ui = REPO_ROOT / "studio" / "ui"
    return [f for f in _python_files("studio", "storage") if ui not in f.parents]


def test_only_the_ui_and_app_py_import_gradio():
    offenders = []
    for path in _engine_files():
        modules = _imports(ast.parse(path.read_text(encoding="utf-8")))
        if any(name == "gradio" or name.startswith("gradio.") for name in modules):
            offenders.append(str(path.relative_to(REPO_ROOT)))
    assert not offenders, f"the engine must not import gradio: {offenders}"


def test_importing_the_whole_engine_does_not_load_gradio():
    # Catches indirect imports too: the engine has to run on a GPU machine without Gradio.
    modules = []
    for path in _engine_files():
        relative = path.relative_to(REPO_ROOT).with_suffix("")
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        if parts[-1] != "__main__":
            modules.append(".".join(parts))
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print('gradio' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def _dangerous_calls(tree: ast.AST) -> list[tuple[int, str]]:
    """Calls that run text as code or unpickle data: eval, exec, compile, __import__,
    yaml.load/unsafe_load, pickle/marshal loads, shell=True, torch.load(weights_only=False)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("eval", "exec", "compile", "__import__"):
            found.append((node.lineno, f"{func.id}()"))
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner, name = func.value.id, func.attr
            if owner in ("builtins", "__builtins__") and name in ("eval", "exec", "compile"):
                found.append((node.lineno, f"{owner}.{name}()"))
            if owner == "yaml" and name in ("load", "unsafe_load", "load_all", "full_load"):
                found.append((node.lineno, f"yaml.{name}() (use yaml.safe_load)"))
            if owner in ("pickle", "cPickle", "dill", "marshal") and name in ("load", "loads"):
                found.append((node.lineno, f"{owner}.{name}()"))
        for keyword in node.keywords:
            if keyword.arg == "shell" and isinstance(keyword.value, ast.Constant) and keyword.value.value:
                found.append((node.lineno, "shell=True"))
            if (keyword.arg == "weights_only" and isinstance(keyword.value, ast.Constant)
                    and keyword.value.value is False):
                found.append((node.lineno, "weights_only=False"))
    return found


def test_no_code_evaluates_text_as_python():
    offenders = []
    for path in _python_files("app.py", "studio", "storage", "benchmarks", "tests"):
        for line, what in _dangerous_calls(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(REPO_ROOT)}:{line}: {what}")
    assert not offenders, "\n".join(offenders)


def test_the_scanner_recognises_what_it_forbids():
    # The scan above passes trivially if the scanner is blind; prove it is not.
    source = ("eval(s)\nexec(s)\nbuiltins.eval(s)\nyaml.load(f)\npickle.loads(b)\n"
              "subprocess.run(c, shell=True)\ntorch.load(p, weights_only=False)\n"
              "model.eval()\nre.compile('x')\nyaml.safe_load(f)\n")
    found = [what for _, what in _dangerous_calls(ast.parse(source))]
    assert len(found) == 7, found


def test_imports_over_the_size_or_row_limit_are_refused_with_what_to_do(db_path, tmp_path):
    from storage.db import open_db
    from studio.curation.exchange import import_file
    from studio.errors import StudioError

    db = open_db(db_path)
    lines = [json.dumps({"query": f"q{i}", "positive": f"p{i}", "family": "sts"}) for i in range(5)]
    upload = tmp_path / "upload.jsonl"
    upload.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(StudioError, match="over the import limit.*split it"):
        import_file(db, upload, max_bytes=100)
    with pytest.raises(StudioError, match="more than 3 examples.*split it"):
        import_file(db, upload, max_rows=3)
    assert db.execute("SELECT COUNT(*) FROM examples").fetchone()[0] == 0  # nothing half-imported
    assert import_file(db, upload).inserted == 5


def test_a_user_file_is_data_never_code(db_path, tmp_path):
    # A JSONL line that looks like Python, a template, or a formula goes in as text, unchanged.
    from storage.db import open_db
    from studio.curation.exchange import import_file

    marker = tmp_path / "pwned"
    payloads = [f"__import__('os').system('touch {marker}')", "{{ ''.__class__ }}", "=cmd|' /C calc'!A0"]
    upload = tmp_path / "upload.jsonl"
    upload.write_text("\n".join(json.dumps({"query": p, "positive": p + " doc", "family": "sts"})
                                for p in payloads) + "\n", encoding="utf-8")
    db = open_db(db_path)
    import_file(db, upload)
    stored = [row[0] for row in db.execute("SELECT query FROM examples ORDER BY id")]
    assert stored == payloads and not marker.exists()


@pytest.mark.parametrize("name", ["../escape.jsonl", "../../etc/passwd", "/tmp/outside.jsonl", "a/../../b.jsonl",
                                  ".."])
def test_exports_from_the_browser_cannot_leave_the_data_directory(name, isolated_data_dir):
    from studio.curation.exchange import ui_export_path
    from studio.errors import StudioError

    with pytest.raises(StudioError, match="inside the data folder"):
        ui_export_path(name, "jsonl")
    inside = ui_export_path("accepted", "jsonl")
    assert inside.is_relative_to(isolated_data_dir.resolve()) and inside.name == "accepted.jsonl"
