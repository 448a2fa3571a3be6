"""Stored template versions, read and written through the family table, and the exact prompt
that an active version renders to.

The store (storage.templates) keeps the rows; this module knows the bundled defaults of each
family, validates a template before it is saved, and renders the active one.
"""

import random
from dataclasses import dataclass, field

from storage import templates as rows
from storage.errors import StudioError
from storage.templates import BRAINSTORM_VARIANT, get_version
from studio.prompts.families import load_family
from studio.prompts.templates import DEFAULT_BRAINSTORM_N, TemplateError, render_body, validate_template

__all__ = ["BRAINSTORM_VARIANT", "RenderedPrompt", "active_template", "active_templates", "default_bodies",
           "get_version", "history", "render_prompt", "reset_to_default", "revert_to", "save_template"]


def default_bodies(family_name: str, kind: str) -> dict[str, str]:
    family = load_family(family_name)
    if kind == "brainstorm":
        return {BRAINSTORM_VARIANT: family.brainstorm} if family.has_brainstorm else {}
    return dict(family.generate)


def active_templates(db, family_name: str, kind: str) -> list[dict]:
    rows.ensure_defaults(db, family_name, kind, default_bodies(family_name, kind))
    return rows.active_rows(db, family_name, kind)


def active_template(db, family_name: str, kind: str, variant: str) -> dict | None:
    for row in active_templates(db, family_name, kind):
        if row["variant"] == variant:
            return row
    return None


def history(db, family_name: str, kind: str, variant: str) -> list[dict]:
    rows.ensure_defaults(db, family_name, kind, default_bodies(family_name, kind))
    return rows.version_rows(db, family_name, kind, variant)


def save_template(db, family_name: str, kind: str, variant: str, body: str, source: str = "user",
                  note: str | None = None) -> dict:
    """Validate, then store `body` as the new active version. A refused template changes nothing."""
    if kind == "brainstorm":
        variant = BRAINSTORM_VARIANT
    rows.check_variant_name(variant)
    validate_template(family_name, kind, body)
    rows.ensure_defaults(db, family_name, kind, default_bodies(family_name, kind))
    return rows.store_version(db, family_name, kind, variant, body, source, note)


def revert_to(db, version_id: int) -> dict:
    """Make an old version's text active again, as a new version (history is never rewritten)."""
    old = get_version(db, version_id)
    if old is None:
        raise StudioError(f"there is no template version {version_id}")
    return save_template(db, old["family"], old["kind"], old["variant"], old["body"], source="revert",
                         note=f"revert to version {old['version']}")


def reset_to_default(db, family_name: str, kind: str, variant: str) -> dict:
    defaults = default_bodies(family_name, kind)
    if variant not in defaults:
        raise StudioError(f"{variant!r} is not a bundled variant of {family_name}; nothing to reset to")
    return save_template(db, family_name, kind, variant, defaults[variant], source="reset",
                         note="reset to the bundled default")


@dataclass
class RenderedPrompt:
    text: str
    family: str
    kind: str
    variant: str
    template_version_id: int | None
    placeholders: dict = field(default_factory=dict)


def render_prompt(db, family_name: str, kind: str, rng: random.Random, task: str | None = None,
                  variant: str | None = None, n: int = DEFAULT_BRAINSTORM_N) -> RenderedPrompt:
    """The exact prompt that would be sent: an active template version, freshly sampled values.

    With `variant` None a generation variant is drawn from `rng` first, so the same seed always
    picks the same variant and the same placeholder values."""
    family = load_family(family_name)
    if kind == "brainstorm" and not family.has_brainstorm:
        raise TemplateError(f"the {family.name} family has no brainstorm step")
    versions = sorted(active_templates(db, family.name, kind), key=lambda row: row["variant"])
    if variant is None:
        chosen = rng.choice(versions)
    else:
        matching = [row for row in versions if row["variant"] == variant]
        if not matching:
            raise TemplateError(f"the {family.name} family has no active {kind} variant {variant!r}")
        chosen = matching[0]
    text, values = render_body(family.name, kind, chosen["body"], rng, task=task, n=n)
    return RenderedPrompt(text, family.name, kind, chosen["variant"], chosen["id"], values)
