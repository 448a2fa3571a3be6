"""Numbers and plotly charts about the examples: what there is, what was kept, what failed."""

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from storage.examples import STATUSES

STATUS_COLOURS = {"pending": "#9ca3af", "accepted": "#16a34a", "rejected": "#dc2626"}
LENGTH_SAMPLE = 20_000   # newest examples measured for the histograms
TOP_LANGUAGES = 30


def family_status_counts(db) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for family, status, n in db.execute("SELECT family, status, COUNT(*) FROM examples GROUP BY family, status"):
        counts.setdefault(family, {})[status] = n
    return counts


def language_counts(db) -> list[tuple[str, int]]:
    return [tuple(row) for row in db.execute(
        "SELECT language, COUNT(*) AS n FROM examples GROUP BY language ORDER BY n DESC, language")]


def acceptance_rates(db, by: str) -> list[dict]:
    """Accepted share of the reviewed (accepted + rejected) examples per template version or model."""
    if by == "template":
        sql = ("SELECT COALESCE(t.family || ' / ' || t.variant || ' v' || t.version, 'no template') AS label,"
               " SUM(e.status = 'accepted'), SUM(e.status = 'rejected'), COUNT(*)"
               " FROM examples e LEFT JOIN template_versions t ON t.id = e.template_version_id"
               " GROUP BY e.template_version_id ORDER BY label")
    elif by == "model":
        sql = ("SELECT COALESCE(model, 'unknown'), SUM(status = 'accepted'), SUM(status = 'rejected'), COUNT(*)"
               " FROM examples GROUP BY model ORDER BY 1")
    else:
        raise ValueError(by)
    rates = []
    for label, accepted, rejected, total in db.execute(sql):
        reviewed = accepted + rejected
        rates.append({"label": label, "accepted": accepted, "rejected": rejected, "total": total,
                      "rate": accepted / reviewed if reviewed else None})
    return rates


def failure_counts(db) -> list[tuple[str, int]]:
    return [tuple(row) for row in db.execute(
        "SELECT reason, COUNT(*) AS n FROM generation_failures GROUP BY reason ORDER BY n DESC, reason")]


def field_lengths(db, limit: int = LENGTH_SAMPLE) -> dict[str, list[int]]:
    rows = db.execute("SELECT length(query), length(positive), length(negative) FROM examples"
                      " ORDER BY id DESC LIMIT ?", [limit]).fetchall()
    return {"query": [r[0] for r in rows], "positive": [r[1] for r in rows],
            "negative": [r[2] for r in rows if r[2] is not None]}


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, height=330, margin=dict(l=40, r=20, t=50, b=40), legend_orientation="h")
    return fig


def chart_family_status(db) -> go.Figure:
    counts = family_status_counts(db)
    families = sorted(counts)
    fig = go.Figure([go.Bar(name=status, x=families, y=[counts[f].get(status, 0) for f in families],
                            marker_color=STATUS_COLOURS[status]) for status in STATUSES])
    fig.update_layout(barmode="stack")
    return _layout(fig, "Examples by family and status")


def chart_languages(db) -> go.Figure:
    counts = language_counts(db)
    shown = counts[:TOP_LANGUAGES]
    rest = sum(n for _, n in counts[TOP_LANGUAGES:])
    if rest:
        shown.append((f"{len(counts) - TOP_LANGUAGES} others", rest))
    fig = go.Figure(go.Bar(x=[name for name, _ in shown], y=[n for _, n in shown], marker_color="#2563eb"))
    return _layout(fig, "Examples by language")


def chart_lengths(db) -> go.Figure:
    lengths = field_lengths(db)
    fig = make_subplots(rows=1, cols=3, subplot_titles=[f"{name} (characters)" for name in lengths])
    for column, (name, values) in enumerate(lengths.items(), 1):
        fig.add_trace(go.Histogram(x=values, nbinsx=40, name=name, showlegend=False), row=1, col=column)
    return _layout(fig, f"Length of each field (newest {LENGTH_SAMPLE:,} examples)")


def _chart_rates(rates: list[dict], title: str) -> go.Figure:
    fig = go.Figure(go.Bar(
        x=[r["label"] for r in rates], y=[r["rate"] if r["rate"] is not None else 0 for r in rates],
        text=[f"{r['accepted']}/{r['accepted'] + r['rejected']}" for r in rates], textposition="auto",
        marker_color="#16a34a"))
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    return _layout(fig, title + " (accepted / reviewed)")


def chart_acceptance_by_template(db) -> go.Figure:
    return _chart_rates(acceptance_rates(db, "template"), "Acceptance by template version")


def chart_acceptance_by_model(db) -> go.Figure:
    return _chart_rates(acceptance_rates(db, "model"), "Acceptance by model")


def chart_failures(db) -> go.Figure:
    counts = failure_counts(db)
    fig = go.Figure(go.Bar(x=[reason for reason, _ in counts], y=[n for _, n in counts], marker_color="#dc2626"))
    return _layout(fig, "Generation failures by reason" + ("" if counts else " (none recorded)"))


def all_charts(db) -> list[go.Figure]:
    return [chart_family_status(db), chart_languages(db), chart_lengths(db), chart_acceptance_by_template(db),
            chart_acceptance_by_model(db), chart_failures(db)]
