"""What Curate shows of an example's corpus checks and the judge's open proposals."""

import html

from studio.corpus.proposals import open_proposals


def check_of(db, example_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM example_checks WHERE example_id = ?", [example_id]))
    return rows[0] if rows else None


def _cell(text: str | None, limit: int = 600) -> str:
    text = " ".join((text or "—").split())
    return html.escape(text[:limit] + ("…" if len(text) > limit else ""), quote=False).replace("|", "\\|")


def describe(db, example_id: int | None) -> tuple[str, bool]:
    """Markdown of the example's corpus check (reasons) and open proposals side by side; whether any is open."""
    if example_id in (None, ""):
        return "Open an example to see its corpus checks and proposals.", False
    example_id = int(example_id)
    check = check_of(db, example_id)
    lines = []
    if check is None:
        lines.append("Not checked against a corpus (run **Check examples** in the Corpus tab).")
    else:
        rank = f"rank {check['rank']} of its corpus's passages" if check["rank"] else f"not in the top {check['k']}"
        lines.append(f"**Corpus check** ({check['model']}): positive {rank}.")
        lines += [f"- {_cell(reason, 300)}" for reason in (check["reasons"] or "").splitlines()] or ["- no problems"]
    proposals = open_proposals(db, [example_id])
    if proposals:
        current = {row[0]: row[1] for row in db.execute(
            "SELECT 'positive', positive FROM examples WHERE id = ? UNION ALL "
            "SELECT 'negative', negative FROM examples WHERE id = ?", [example_id, example_id])}
        lines += ["", "**Proposals of the judge** (nothing changes until you accept):", "",
                  "| field | now | proposed | why |", "|---|---|---|---|"]
        lines += [f"| {p['field']} | {_cell(current.get(p['field']))} | {_cell(p['text'])} | {_cell(p['reason'], 200)} |"
                  for p in proposals]
    return "\n".join(lines), bool(proposals)


def proposal_ids(db, example_id) -> list[int]:
    return [p["id"] for p in open_proposals(db, [int(example_id)])] if example_id not in (None, "") else []
