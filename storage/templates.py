"""Template versions: every save is a new numbered version; one is active per family/kind/variant."""

import re

from storage.db import now, transaction
from studio.errors import StudioError
from studio.families import load_family

BRAINSTORM_VARIANT = "default"
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def default_bodies(family_name: str, kind: str) -> dict[str, str]:
    family = load_family(family_name)
    if kind == "brainstorm":
        return {BRAINSTORM_VARIANT: family.brainstorm} if family.has_brainstorm else {}
    return dict(family.generate)


def ensure_defaults(db, family_name: str, kind: str) -> None:
    """Store version 1 of every bundled template that the database does not know yet."""
    defaults = default_bodies(family_name, kind)
    known = {row[0] for row in db.execute(
        "SELECT DISTINCT variant FROM template_versions WHERE family = ? AND kind = ?", [family_name, kind])}
    missing = [variant for variant in defaults if variant not in known]
    if not missing:
        return
    with transaction(db):
        for variant in missing:
            db.execute(
                "INSERT OR IGNORE INTO template_versions (family, kind, variant, body, version, active, source,"
                " note, created_at) VALUES (?, ?, ?, ?, 1, 1, 'default', 'bundled default', ?)",
                [family_name, kind, variant, defaults[variant], now()],
            )


def active_templates(db, family_name: str, kind: str) -> list[dict]:
    ensure_defaults(db, family_name, kind)
    return list(db.query(
        "SELECT * FROM template_versions WHERE family = ? AND kind = ? AND active = 1 ORDER BY variant",
        [family_name, kind]))


def active_template(db, family_name: str, kind: str, variant: str) -> dict | None:
    for row in active_templates(db, family_name, kind):
        if row["variant"] == variant:
            return row
    return None


def get_version(db, version_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM template_versions WHERE id = ?", [version_id]))
    return rows[0] if rows else None


def history(db, family_name: str, kind: str, variant: str) -> list[dict]:
    ensure_defaults(db, family_name, kind)
    return list(db.query(
        "SELECT * FROM template_versions WHERE family = ? AND kind = ? AND variant = ? ORDER BY version DESC",
        [family_name, kind, variant]))


def save_template(db, family_name: str, kind: str, variant: str, body: str, source: str = "user",
                  note: str | None = None) -> dict:
    """Validate, then store `body` as the new active version. A refused template changes nothing."""
    from studio.templates import validate_template

    if kind == "brainstorm":
        variant = BRAINSTORM_VARIANT
    if not _VARIANT_NAME.match(variant or ""):
        raise StudioError("a variant name is 1 to 32 letters, digits, '-' or '_'")
    validate_template(family_name, kind, body)
    ensure_defaults(db, family_name, kind)
    with transaction(db):
        current = db.execute(
            "SELECT id, body FROM template_versions WHERE family = ? AND kind = ? AND variant = ? AND active = 1",
            [family_name, kind, variant]).fetchone()
        if current and current[1].rstrip() == body.rstrip():
            return get_version(db, current[0])
        latest = db.execute(
            "SELECT COALESCE(MAX(version), 0) FROM template_versions WHERE family = ? AND kind = ? AND variant = ?",
            [family_name, kind, variant]).fetchone()[0]
        db.execute("UPDATE template_versions SET active = 0 WHERE family = ? AND kind = ? AND variant = ?",
                   [family_name, kind, variant])
        cursor = db.execute(
            "INSERT INTO template_versions (family, kind, variant, body, version, active, source, note, created_at)"
            " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)",
            [family_name, kind, variant, body, latest + 1, source, note, now()])
        new_id = cursor.lastrowid
    return get_version(db, new_id)


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
