"""Proposals of the LLM judge, applied only when a person accepts them (one by one or in bulk).

Accepting replaces the example's positive or negative with the proposed passage through the
same undoable edit as Curate's (one action for a bulk accept), records the passage in
example_passages, and drops the example's corpus check (its texts changed, so it must be checked
again). Dismissing leaves the example as it is.
"""

import json

from storage import curation
from storage.db import now, transaction
from studio.errors import StudioError


def open_proposals(db, example_ids=None) -> list[dict]:
    sql = ("SELECT p.id, p.example_id, p.field, p.passage_id, p.text, p.reason, p.created_at FROM proposals p"
           " WHERE p.state = 'open'")
    params = []
    if example_ids is not None:
        sql += " AND p.example_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(list(example_ids)))
    return list(db.query(sql + " ORDER BY p.id", params))


def accept(db, proposal_ids, who: str = "user") -> int:
    """Apply open proposals (one undoable action); returns how many were applied."""
    proposals = {row["id"]: row for row in db.query(
        "SELECT * FROM proposals WHERE id IN (SELECT value FROM json_each(?))", [json.dumps(list(proposal_ids))])}
    missing = [pid for pid in proposal_ids if pid not in proposals]
    if missing:
        raise StudioError(f"proposal {missing[0]} does not exist; refresh the view")
    closed = [pid for pid in proposal_ids if proposals[pid]["state"] != "open"]
    if closed:
        raise StudioError(f"proposal {closed[0]} was {proposals[closed[0]]['state']} already; refresh the view")
    by_example: dict[int, list[dict]] = {}
    for pid in proposal_ids:
        by_example.setdefault(proposals[pid]["example_id"], []).append(proposals[pid])
    with transaction(db):
        action_id = curation.begin_action(db, who, "edit", f"accept {len(proposal_ids)} judge proposal(s)")
        for example_id, chosen in by_example.items():
            # One edit per example: an action's undo restores one history row per example.
            changes = {proposal["field"]: proposal["text"] for proposal in chosen}
            if "negative" in changes:
                changes["negative_mined"] = 1
            curation.edit(db, example_id, changes, who=who, kind="edit", action_id=action_id)
            db.execute("DELETE FROM example_checks WHERE example_id = ?", [example_id])
            for proposal in chosen:
                column = "passage_id" if proposal["field"] == "positive" else "negative_passage_id"
                db.execute(f"UPDATE example_passages SET {column} = ? WHERE example_id = ?",
                           [proposal["passage_id"], example_id])
                db.execute("UPDATE proposals SET state = 'accepted', decided_at = ?, decided_by = ? WHERE id = ?",
                           [now(), who, proposal["id"]])
                # Another open proposal for the same field no longer applies to the changed example.
                db.execute("UPDATE proposals SET state = 'dismissed', decided_at = ?, decided_by = ?"
                           " WHERE example_id = ? AND field = ? AND state = 'open'",
                           [now(), who, example_id, proposal["field"]])
        curation.finish_action(db, action_id)
    return len(proposal_ids)


def dismiss(db, proposal_ids, who: str = "user") -> int:
    with transaction(db):
        cursor = db.execute("UPDATE proposals SET state = 'dismissed', decided_at = ?, decided_by = ?"
                            " WHERE state = 'open' AND id IN (SELECT value FROM json_each(?))",
                            [now(), who, json.dumps(list(proposal_ids))])
    return cursor.rowcount
