"""The Compare tab: a base model and a fine-tuned one on the same dataset, query by query.

Thin handlers over studio.evaluation.compare; evaluations run as background jobs that a timer polls.
"""

import html
import shutil
from functools import partial
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from storage import evaluations as evaluation_rows
from storage import jobs as job_rows
from storage.db import open_db
from studio import jobs
from studio.config import data_dir
from studio.errors import StudioError
from studio.evaluation import compare

HELP = (
    "**How it works.** Pick **model A** (the reference, e.g. the base `minilm`) and **model B** (e.g. a "
    "finished training run), then a **dataset**: a run's held-out examples, the path of a BEIR folder on "
    "the server (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`), or a zip of one uploaded here. "
    "**Compare** evaluates both in the background (document embeddings are cached, so a second look is "
    "quick) and shows their metrics, the queries where B wins or loses most, and both top-10 lists for "
    "any query. Deltas are B − A."
)
EMPTY = ("**Nothing compared yet.** Choose two models and a dataset above, then press **Compare**. "
         "No fine-tuned model yet? Train one in the *Train* tab; its held-out set appears here by itself.")
MAX_QUERY_CHOICES = 1000
ORDERS = ["largest change", "wins first", "losses first"]
PER_QUERY_HEADERS = ["query id", "query", "nDCG@10 A", "nDCG@10 B", "Δ (B − A)"]
HISTORY_HEADERS = ["id", "run", "model", "dataset", "split", "nDCG@10", "MRR@10", "Recall@10", "when (UTC)"]
COLORS = {"query": "#d62728", "relevant document": "#2ca02c", "other document": "#b0b7c3"}


def _choices(db_path):
    db = open_db(db_path)
    return compare.model_choices(db), compare.dataset_choices(db)


def refresh_lists(db_path, model_a, model_b, dataset):
    models, datasets = _choices(db_path)
    values = [value for _, value in models]
    default_b = next((value for value in values if value not in compare.BASE_MODELS), None)
    return (gr.update(choices=models, value=model_a or "minilm"),
            gr.update(choices=models, value=model_b or default_b),
            gr.update(choices=datasets, value=dataset or (datasets[0][1] if datasets else None)))


def open_tab(db_path, state, model_a, model_b, spec, split):
    """Coming to the tab: fresh lists (a run may have finished or the demo been loaded since the page
    opened), and with nothing shown yet, the chosen pair at once if both are already evaluated on the
    chosen dataset (e.g. the demo's pre-computed comparison). Nothing is evaluated from here."""
    lists = refresh_lists(db_path, model_a, model_b, spec)
    history = compare.stored_rows(open_db(db_path))
    unchanged = (state, gr.update(), gr.update())
    chosen = [update["value"] for update in lists]
    if state or not all(chosen):
        return (*lists, history, *unchanged)
    model_a, model_b, spec = chosen
    try:
        dataset = _dataset(db_path, spec, split)
        db = open_db(db_path)
        stored = model_a != model_b and all(compare.find_evaluation(db, model, dataset, spec) for model in (model_a, model_b))
    except Exception:  # e.g. a folder that is gone: the person sees why when they press Compare
        stored = False
    if not stored:
        return (*lists, history, *unchanged)
    return (*lists, history, *start(db_path, model_a, model_b, spec, split))


def keep_upload(file_path):
    """Copy an uploaded zip into the data folder (the upload's temp file may vanish) and select it."""
    if not file_path:
        return gr.update()
    uploads = data_dir() / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    target = uploads / Path(file_path).name
    shutil.copyfile(file_path, target)
    return gr.update(value=str(target))


def _dataset(db_path, spec, split):
    if not spec:
        raise StudioError("choose a dataset: a run's held-out set, a BEIR folder path or an uploaded zip")
    return compare.cached_dataset(open_db(db_path), spec, (split or "test").strip())


def start(db_path, model_a, model_b, spec, split):
    """Find stored evaluations of both models or start jobs for them; the timer takes it from there."""
    try:
        if not model_a or not model_b:
            raise StudioError("choose both model A and model B")
        if model_a == model_b:
            raise StudioError("choose two different models to compare")
        dataset = _dataset(db_path, spec, split)
        db = open_db(db_path)
        sides = [compare.prepare_side(db, db_path, model, dataset, spec, dataset.split) for model in (model_a, model_b)]
    except StudioError as error:
        return None, f"⚠️ {error}", gr.update(active=False)
    except Exception as error:  # e.g. an unreadable dataset file: say so, keep the tab alive
        return None, f"⚠️ Could not start the comparison ({error.__class__.__name__}: {error}).", gr.update(active=False)
    state = {"spec": spec, "split": dataset.split, "models": [model_a, model_b],
             "evaluations": [side.evaluation["id"] if side.evaluation else None for side in sides],
             "jobs": [side.job_id for side in sides]}
    notes = "".join(f"\n\n⚠️ {w}" for w in dataset.warnings)
    return state, _status(db_path, state) + notes, gr.update(active=True)


def _status(db_path, state) -> str:
    db = open_db(db_path)
    lines = []
    for label, model, evaluation_id, job_id in zip("AB", state["models"], state["evaluations"], state["jobs"]):
        if evaluation_id:
            lines.append(f"**{label}** `{model}`: ready.")
            continue
        job = job_rows.get_job(db, job_id)
        if job["state"] in ("queued", "running"):
            share = f"{100 * (job['progress'] or 0):.0f}%"
            lines.append(f"**{label}** `{model}`: evaluating, {share} — {job['message'] or 'starting'}")
        else:
            lines.append(f"**{label}** `{model}`: {job['state']} — {job['error'] or job['message'] or ''}")
    return "\n\n".join(lines)


def poll(db_path, state):
    """Advance waiting jobs; when both sides have evaluations, stop the timer and show everything."""
    if not state:
        return (state, gr.update(), gr.update(active=False)) + _no_results()
    db = open_db(db_path)
    jobs.reap(db)
    failed = False
    for position, job_id in enumerate(state["jobs"]):
        if state["evaluations"][position] or not job_id:
            continue
        job = job_rows.get_job(db, job_id)
        if job["state"] == "done":
            found = evaluation_rows.evaluation_for_job(db, job_id)
            state["evaluations"][position] = found["id"] if found else None
            failed = failed or found is None
        elif job["state"] in ("failed", "cancelled", "interrupted"):
            failed = True
    status = _status(db_path, state)
    if failed:
        return (state, status + "\n\nFix the problem above and press **Compare** again.",
                gr.update(active=False)) + _no_results()
    if not all(state["evaluations"]):
        return (state, status, gr.update(active=True)) + _no_results()
    return (state, status, gr.update(active=False)) + results(db_path, state, ORDERS[0]) + (
        gr.update(visible=True), compare.stored_rows(db))


def _no_results():
    return (gr.update(),) * 7


def _evaluations(db_path, state):
    db = open_db(db_path)
    return [evaluation_rows.get_evaluation(db, evaluation_id) for evaluation_id in state["evaluations"]]


def results(db_path, state, order):
    """Metrics table, bar chart, per-query table and the query picker."""
    try:
        a, b = _evaluations(db_path, state)
        dataset = _dataset(db_path, state["spec"], state["split"])
    except StudioError as error:
        return (gr.update(), gr.update(), gr.update(), gr.update(), f"⚠️ {error}")
    metric_rows = compare.metrics_rows(a, b)
    figure = go.Figure([
        go.Bar(name=f"A · {_short(state['models'][0])}", x=[r[0] for r in metric_rows], y=[r[1] for r in metric_rows]),
        go.Bar(name=f"B · {_short(state['models'][1])}", x=[r[0] for r in metric_rows], y=[r[2] for r in metric_rows]),
    ])
    figure.update_layout(barmode="group", yaxis_range=[0, 1], height=320, margin=dict(l=40, r=10, t=30, b=40),
                         legend=dict(orientation="h", y=1.12))
    # A dropdown of a huge query set would choke the browser; the per-query table reaches every query.
    query_choices = [(f"{query_id} · {text[:90]}", query_id)
                     for query_id, text in list(dataset.queries.items())[:MAX_QUERY_CHOICES]]
    summary = (f"{len(dataset.queries)} queries, {len(dataset.doc_ids)} documents. "
               f"nDCG@10: A {a['metrics']['ndcg_at_10']:.4f}, B {b['metrics']['ndcg_at_10']:.4f} "
               f"(Δ {b['metrics']['ndcg_at_10'] - a['metrics']['ndcg_at_10']:+.4f}).")
    return (metric_rows, figure, compare.per_query_rows(a, b, dataset, order),
            gr.update(choices=query_choices, value=None), summary)


def reorder(db_path, state, order):
    if not state or not all(state.get("evaluations") or [None]):
        return gr.update()
    a, b = _evaluations(db_path, state)
    return compare.per_query_rows(a, b, _dataset(db_path, state["spec"], state["split"]), order)


def _short(model: str) -> str:
    return Path(model).name if "/" in model else model


def _hits_html(title: str, hits: list, with_change: bool) -> str:
    rows = []
    for hit in hits:
        if hit.relevance is None:
            mark = ""
        elif hit.relevance > 0:
            mark = f"<span title='relevant (grade {hit.relevance})' style='color:#15803d'>✓{'' if hit.relevance == 1 else hit.relevance}</span>"
        else:
            mark = "<span title='not relevant' style='color:#9ca3af'>✗</span>"
        change = ""
        if with_change:
            colour = {"n": "#2563eb", "↑": "#15803d", "↓": "#b91c1c"}.get(hit.change[:1], "#6b7280")
            change = f"<td style='color:{colour};white-space:nowrap'>{html.escape(hit.change)}</td>"
        rows.append(f"<tr><td>{hit.rank}</td><td>{hit.score:.4f}</td><td>{mark}</td>{change}"
                    f"<td><b>{html.escape(hit.doc_id)}</b> {html.escape(hit.text[:220])}</td></tr>")
    change_head = "<th>vs A</th>" if with_change else ""
    return (f"<h4>{html.escape(title)}</h4><table style='font-size:0.88em'><tr><th>#</th><th>score</th><th>rel</th>"
            f"{change_head}<th>document</th></tr>{''.join(rows)}</table>")


def search(db_path, state, query_id, typed, instruction, progress=gr.Progress()):
    """Both top-10 lists for a typed query, or for a query picked from the set."""
    if not state or not state.get("models"):
        return "Press **Compare** first.", "", ""
    try:
        dataset = _dataset(db_path, state["spec"], state["split"])
        text = (typed or "").strip()
        chosen_id = None
        if not text and query_id:
            chosen_id, text = query_id, dataset.queries.get(query_id, "")
        if not text:
            raise StudioError("type a query or pick one from the dataset")
        progress(0, desc="Encoding the query with both models")
        hits_a, hits_b = compare.side_by_side(open_db(db_path), state["models"][0], state["models"][1], dataset,
                                              text, chosen_id, instruction)
    except StudioError as error:
        return f"⚠️ {error}", "", ""
    except Exception as error:  # a model that fails to load or encode: say so, keep the tab alive
        return f"⚠️ The search failed ({error.__class__.__name__}: {error}); check both models load.", "", ""
    heading = f"**Query** {('`' + chosen_id + '` ') if chosen_id else '(typed) '}{html.escape(text)}"
    if chosen_id:
        judged = dataset.qrels.get(chosen_id, {})
        heading += f" — {sum(1 for g in judged.values() if g > 0)} relevant document(s) in the qrels."
    else:
        heading += " — a typed query has no relevance marks."
    return (heading, _hits_html(f"A · {_short(state['models'][0])}", hits_a, False),
            _hits_html(f"B · {_short(state['models'][1])}", hits_b, True))


def search_picked(db_path, state, query_id, instruction, progress=gr.Progress()):
    return search(db_path, state, query_id, "", instruction, progress)


def pick_row(db_path, state, evt: gr.SelectData):
    """A click on the per-query table opens that query side by side."""
    row = evt.row_value or []
    if not row:
        return gr.update(), gr.update(), "", "", ""
    query_id = str(row[0])
    return (gr.update(value=query_id), "") + search(db_path, state, query_id, "", "")


def projection(db_path, state, progress=gr.Progress()):
    if not state or not state.get("models"):
        return None, "Press **Compare** first."
    try:
        db = open_db(db_path)
        dataset = _dataset(db_path, state["spec"], state["split"])
        sample = compare.projection_sample(dataset)
        figure = make_subplots(rows=1, cols=2, subplot_titles=[f"{label} · {_short(model)}" for label, model
                                                               in zip("AB", state["models"])])
        for column, model in enumerate(state["models"], start=1):
            progress((column - 1) / 2, desc=f"Projecting with {_short(model)}")
            points = compare.project(db, model, dataset, sample)
            for kind, colour in COLORS.items():
                chosen = [i for i, k in enumerate(points.kinds) if k == kind]
                figure.add_trace(go.Scatter(
                    x=points.x[chosen], y=points.y[chosen], mode="markers", name=kind, legendgroup=kind,
                    showlegend=column == 1, text=[points.labels[i] for i in chosen], hoverinfo="text",
                    marker=dict(color=colour, size=9 if kind == "query" else 6,
                                symbol="diamond" if kind == "query" else "circle")), row=1, col=column)
        figure.update_layout(height=420, margin=dict(l=30, r=10, t=40, b=30), legend=dict(orientation="h", y=-0.1))
    except StudioError as error:
        return None, f"⚠️ {error}"
    except Exception as error:  # a model that fails to load or encode: say so, keep the tab alive
        return None, f"⚠️ The projection failed ({error.__class__.__name__}: {error}); check both models load."
    note = (f"{len(sample[0])} queries, {len(sample[1])} of their relevant documents and {len(sample[2])} other "
            "documents, projected onto each model's first two principal components.")
    return figure, note


def build(ctx) -> None:
    db_path = ctx.db_path
    models, datasets = _choices(db_path)
    values = [value for _, value in models]
    state = gr.State(None)
    gr.Markdown(HELP, elem_classes=["help-text"])
    with gr.Row():
        model_a = gr.Dropdown(models, value="minilm", label="Model A (reference)", allow_custom_value=True,
                              info="A base model, a run, or a model folder path")
        model_b = gr.Dropdown(models, value=next((v for v in values if v not in compare.BASE_MODELS), None),
                              label="Model B (challenger)", allow_custom_value=True,
                              info="Usually a finished training run")
    with gr.Row():
        dataset = gr.Dropdown(datasets, value=datasets[0][1] if datasets else None, label="Dataset",
                              allow_custom_value=True, scale=3,
                              info="A run's held-out set, or type the path of a BEIR folder on the server")
        split = gr.Textbox("test", label="Split", scale=1, info="qrels/<split>.tsv of a BEIR folder")
        upload = gr.File(label="…or upload a BEIR zip", file_types=[".zip"], type="filepath", scale=2, height=120)
    with gr.Row():
        compare_button = gr.Button("Compare", variant="primary")
        refresh_button = gr.Button("Refresh lists")
    status = gr.Markdown(EMPTY, elem_classes=["empty-state"])
    timer = gr.Timer(1.0, active=False)

    with gr.Column(visible=False) as results_box:  # shown once both evaluations are ready
        gr.Markdown("### Metrics")
        summary = gr.Markdown("", elem_id="compare-summary")
        with gr.Row():
            metrics_table = gr.Dataframe(headers=["metric", "A", "B", "Δ (B − A)"], interactive=False, scale=2)
            metrics_plot = gr.Plot(label="A and B", scale=3)

        gr.Markdown("### Per query\nClick a row to see both top-10 lists for that query.", elem_classes=["help-text"])
        order = gr.Radio(ORDERS, value=ORDERS[0], label="Sort by the change in nDCG@10")
        per_query = gr.Dataframe(headers=PER_QUERY_HEADERS, interactive=False, max_height=360, wrap=True,
                                 column_widths=["12%", "52%", "12%", "12%", "12%"])

        gr.Markdown("### Side by side")
        with gr.Row():
            query_pick = gr.Dropdown([], label="Pick a query of the dataset", scale=3)
            typed = gr.Textbox(label="…or type a query", scale=3, placeholder="e.g. do statins lower cholesterol?")
            instruction = gr.Textbox(label="Instruction (optional)", scale=2,
                                     info="Used only by models trained with instructions")
        search_button = gr.Button("Search with both models")
        query_heading = gr.Markdown("")
        with gr.Row():
            list_a = gr.HTML()
            list_b = gr.HTML()

        gr.Markdown("### Map of the embedding space (PCA)")
        project_button = gr.Button("Project a sample of queries and documents")
        projection_note = gr.Markdown("", elem_classes=["help-text"])
        projection_plot = gr.Plot(label="2-D projection, coloured by relevance")

    with gr.Accordion("Stored evaluations (every run's held-out result and every comparison)", open=False):
        history = gr.Dataframe(value=compare.stored_rows(open_db(db_path)), headers=HISTORY_HEADERS,
                               interactive=False, max_height=300)

    results_outputs = [metrics_table, metrics_plot, per_query, query_pick, summary, results_box, history]
    search_outputs = [query_heading, list_a, list_b]
    compare_button.click(partial(start, db_path), [model_a, model_b, dataset, split], [state, status, timer])
    timer.tick(partial(poll, db_path), [state], [state, status, timer] + results_outputs, show_progress="hidden")
    refresh_button.click(partial(refresh_lists, db_path), [model_a, model_b, dataset], [model_a, model_b, dataset])
    refresh_button.click(lambda: compare.stored_rows(open_db(db_path)), None, [history])
    upload.upload(keep_upload, [upload], [dataset])
    ctx.tab.select(partial(open_tab, db_path), [state, model_a, model_b, dataset, split],
                   [model_a, model_b, dataset, history, state, status, timer], show_progress="hidden",
                   api_visibility="private")
    order.change(partial(reorder, db_path), [state, order], [per_query])
    search_button.click(partial(search, db_path), [state, query_pick, typed, instruction], search_outputs)
    query_pick.input(partial(search_picked, db_path), [state, query_pick, instruction], search_outputs)

    def on_row(current, evt: gr.SelectData):  # gradio finds SelectData by annotation, so no partial here
        return pick_row(db_path, current, evt)

    per_query.select(on_row, [state], [query_pick, typed] + search_outputs)
    project_button.click(partial(projection, db_path), [state], [projection_plot, projection_note])
