"""Prompt templates: sandboxed rendering, validation, and seeded placeholder sampling.

A template is Jinja text that may only print placeholders and constants, branch with `if`, and
apply a few harmless filters. Attribute access, item access and calls are refused before
anything runs, and rendering happens in jinja2's sandbox with undefined names as errors.
"""

import os
import random
from functools import lru_cache

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from studio.errors import StudioError
from studio.prompts.families import Family, load_family
from studio.prompts.languages import sample_language

KINDS = ("brainstorm", "generate")
SAFE_FILTERS = {"upper", "lower", "title", "capitalize", "trim", "default", "replace"}
ALLOWED_NODES = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const, nodes.If,
    nodes.Compare, nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Filter, nodes.Concat,
    nodes.CondExpr,
)
# Names Jinja binds by itself (the template object, loop state, …): never placeholders.
RESERVED_NAMES = {"self", "loop", "super", "caller", "varargs", "kwargs"}
MAX_TEMPLATE_CHARS = 20_000
DEFAULT_BRAINSTORM_N = 20


class TemplateError(StudioError):
    """A template that cannot be used, with the reason."""


_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                     keep_trailing_newline=True)
# Jinja's default globals (range, lipsum, cycler, joiner, namespace, dict) would render as
# objects even though no placeholder has those names; a template sees only its variables.
_env.globals.clear()


def _parse(body: str) -> nodes.Template:
    if len(body) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"the template is {len(body)} characters long; the limit is {MAX_TEMPLATE_CHARS}")
    try:
        return _env.parse(body)
    except TemplateSyntaxError as error:
        raise TemplateError(f"syntax error on line {error.lineno}: {error.message}") from None


def _check_constructs(tree: nodes.Template) -> None:
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Name) and node.name in RESERVED_NAMES:
            raise TemplateError(f"line {node.lineno}: '{node.name}' is Jinja's own name, not a placeholder")
        if isinstance(node, nodes.Filter) and node.name not in SAFE_FILTERS:
            raise TemplateError(f"line {node.lineno}: the filter '{node.name}' is not allowed; "
                                f"allowed filters: {', '.join(sorted(SAFE_FILTERS))}")
        if isinstance(node, (nodes.Getattr, nodes.Getitem)):
            raise TemplateError(f"line {node.lineno}: attribute and item access (such as .name or [0]) "
                                "is not allowed in templates; use the placeholders as they are")
        if isinstance(node, nodes.Call):
            raise TemplateError(f"line {node.lineno}: calling functions is not allowed in templates")
        if not isinstance(node, ALLOWED_NODES):
            raise TemplateError(f"line {node.lineno}: '{type(node).__name__}' is not allowed in templates; "
                                "use {{ placeholder }} and {% if %} only")


@lru_cache(maxsize=256)
def _compile(body: str):
    tree = _parse(body)
    _check_constructs(tree)
    return _env.from_string(tree), frozenset(meta.find_undeclared_variables(tree))


def render(body: str, variables: dict) -> str:
    """Render a template in the sandbox; refuses unsafe constructs and undefined placeholders."""
    template, _ = _compile(body)
    try:
        return template.render(**variables)
    except UndefinedError as error:
        raise TemplateError(f"undefined placeholder: {error.message}") from None
    except SecurityError as error:
        raise TemplateError(f"refused by the sandbox: {error}") from None


def validate_template(family_name: str, kind: str, body: str) -> None:
    """Raise TemplateError with the reason if this template cannot be used for the family."""
    family = load_family(family_name)
    if kind not in KINDS:
        raise TemplateError(f"unknown template kind {kind!r}: use brainstorm or generate")
    if kind == "brainstorm" and not family.has_brainstorm:
        raise TemplateError(f"the {family.name} family has no brainstorm step")
    if not body.strip():
        raise TemplateError("the template is empty")
    _, used = _compile(body)
    allowed = family.variables(kind)
    unknown = sorted(used - allowed)
    if unknown:
        raise TemplateError(f"unknown placeholder {{{{ {unknown[0]} }}}}; this template may use: "
                            f"{', '.join(sorted(allowed))}")
    if kind == "generate":
        missing = [key for key in family.output_keys if key not in body]
        if missing:
            raise TemplateError(f"the template never names the output key \"{missing[0]}\"; the LLM must be "
                                f"asked for {', '.join(family.output_keys)}")
        if family.has_brainstorm and "task" not in used:
            raise TemplateError("the template never uses {{ task }}, so every task would get the same prompt")
    render(body, _sample_variables(family, kind, make_rng(0)))


def make_rng(seed: int | None, worker: int = 0) -> random.Random:
    """A private random stream: the same (seed, worker) always gives the same draws, and
    different workers get independent streams (no shared global state)."""
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "little")
    return random.Random(f"studio:{seed}:{worker}")


def sample_placeholders(family: Family, rng: random.Random) -> dict:
    values = {}
    for name, placeholder in family.placeholders.items():
        if placeholder.from_language_table:
            # bitext: the target language must differ from the source language
            exclude = values.get("src_lang") if name == "tgt_lang" else None
            values[name] = sample_language(rng, exclude=exclude)
        else:
            values[name] = rng.choice(placeholder.values)
    return values


def _sample_variables(family: Family, kind: str, rng: random.Random, task: str | None = None,
                      n: int = DEFAULT_BRAINSTORM_N) -> dict:
    if kind == "brainstorm":
        return {"n": n}
    values = sample_placeholders(family, rng)
    if family.has_brainstorm:
        values["task"] = task or family.example_task or "the task"
    return values


def render_body(family_name: str, kind: str, body: str, rng: random.Random, task: str | None = None,
                n: int = DEFAULT_BRAINSTORM_N) -> tuple[str, dict]:
    """Render one template text with freshly sampled placeholder values; returns (text, values)."""
    family = load_family(family_name)
    values = _sample_variables(family, kind, rng, task=task, n=n)
    return render(body, values), values


def version_diff(old_body: str, new_body: str, old_label: str = "before", new_label: str = "after") -> str:
    """A unified diff of two template texts ('' when they are the same)."""
    import difflib

    return "".join(difflib.unified_diff(old_body.splitlines(keepends=True), new_body.splitlines(keepends=True),
                                        fromfile=old_label, tofile=new_label))
