"""Template versions: every save is a new numbered version; one is active per family/kind/variant.

The rows only: which texts are the bundled defaults, and whether a text is a valid template, is
the engine's knowledge (studio.prompts.versions), passed in or checked before a row is written.
"""

import re

from storage.db import now, transaction
from storage.errors import StudioError

BRAINSTORM_VARIANT = "default"
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def ensure_defaults(db, family_name: str, kind: str, defaults: dict[str, str]) -> None:
    """Store version 1 of every bundled template (`defaults`: variant → text) that the database does not know yet."""
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


def active_rows(db, family_name: str, kind: str) -> list[dict]:
    return list(db.query(
        "SELECT * FROM template_versions WHERE family = ? AND kind = ? AND active = 1 ORDER BY variant",
        [family_name, kind]))


def get_version(db, version_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM template_versions WHERE id = ?", [version_id]))
    return rows[0] if rows else None


def version_rows(db, family_name: str, kind: str, variant: str) -> list[dict]:
    return list(db.query(
        "SELECT * FROM template_versions WHERE family = ? AND kind = ? AND variant = ? ORDER BY version DESC",
        [family_name, kind, variant]))


def check_variant_name(variant: str | None) -> None:
    if not _VARIANT_NAME.match(variant or ""):
        raise StudioError("a variant name is 1 to 32 letters, digits, '-' or '_'")


def store_version(db, family_name: str, kind: str, variant: str, body: str, source: str,
                  note: str | None) -> dict:
    """Store `body` as the new active version (the text as it is active already changes nothing)."""
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
