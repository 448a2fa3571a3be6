"""The six task families of the method, loaded from prompts/<family>.yaml."""

from dataclasses import dataclass
from functools import lru_cache

import yaml

from studio.config import PROMPTS_DIR
from studio.errors import StudioError

FAMILIES = ("short-long", "long-short", "short-short", "long-long", "sts", "bitext")
LANGUAGE_TABLE = "languages"  # a placeholder whose values come from the language table


@dataclass(frozen=True)
class Placeholder:
    name: str
    values: tuple[str, ...]      # empty for placeholders drawn from the language table
    from_language_table: bool = False


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    description: str
    brainstorm: str | None
    generate: dict[str, str]
    placeholders: dict[str, Placeholder]
    output_keys: tuple[str, ...]
    instruction: str | None
    query_key: str
    positive_key: str
    negative_key: str | None
    example_task: str | None = None  # shown when a preview needs a task and none is stored

    @property
    def has_brainstorm(self) -> bool:
        return self.brainstorm is not None

    def variables(self, kind: str) -> set[str]:
        """The names a template of this kind may use."""
        if kind == "brainstorm":
            return {"n"}
        names = set(self.placeholders)
        if self.has_brainstorm:
            names.add("task")
        return names

    def to_training(self, obj: dict, task_text: str | None) -> dict:
        """Map an LLM reply of this family to (instruction, query, positive, negative)."""
        negative = obj.get(self.negative_key) if self.negative_key else None
        return {
            "instruction": self.instruction or (task_text or ""),
            "query": obj[self.query_key],
            "positive": obj[self.positive_key],
            "negative": negative,
        }


def _load(name: str) -> Family:
    data = yaml.safe_load((PROMPTS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    placeholders = {}
    for key, values in (data.get("placeholders") or {}).items():
        if values == LANGUAGE_TABLE:
            placeholders[key] = Placeholder(key, (), True)
        else:
            placeholders[key] = Placeholder(key, tuple(str(value) for value in values))
    mapping = data["mapping"]
    return Family(
        name=data["family"],
        title=data["title"],
        description=" ".join(str(data.get("description", "")).split()),
        brainstorm=data.get("brainstorm"),
        generate=dict(data["generate"]),
        placeholders=placeholders,
        output_keys=tuple(data["output_keys"]),
        instruction=data.get("instruction"),
        query_key=mapping["query"],
        positive_key=mapping["positive"],
        negative_key=mapping.get("negative"),
        example_task=data.get("example_task"),
    )


@lru_cache(maxsize=None)
def load_family(name: str) -> Family:
    if name not in FAMILIES:
        raise StudioError(f"unknown family {name!r}: choose one of {', '.join(FAMILIES)}")
    return _load(name)


def load_families() -> dict[str, Family]:
    return {name: load_family(name) for name in FAMILIES}


def placeholder_rows(family: Family) -> list[list[str]]:
    """(placeholder, values, weights) rows for display: what sampling draws from."""
    from studio.prompts.languages import languages

    rows = []
    for name, placeholder in family.placeholders.items():
        if placeholder.from_language_table:
            groups: dict[float, list[str]] = {}
            for language in languages():
                groups.setdefault(language.weight, []).append(language.name)
            parts = []
            for weight, names in sorted(groups.items(), reverse=True):
                listed = ", ".join(names) if len(names) <= 13 else f"{len(names)} others"
                parts.append(f"{listed}: {weight:.2f}% each" if len(names) > 1 else f"{listed}: {weight:.1f}%")
            rows.append([name, f"{len(languages())} languages (XLM-R)", " · ".join(parts)])
        else:
            share = 100 / len(placeholder.values)
            rows.append([name, ", ".join(placeholder.values), f"uniform, {share:.1f}% each"])
    return rows
