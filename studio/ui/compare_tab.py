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

from storage.db import open_db
from studio.config import data_dir
from studio.errors import StudioError
from studio.corpus import jobs as corpus_jobs
from studio.corpus import weak_spots
from studio.evaluation import choices, compare, side_by_side
from studio.generation import grounded
from studio.ui.llm_settings import settings_of

HELP = (
    "**How it works.** Pick **model A** (the reference, e.g. the base `minilm`) and **model B** (e.g. a "
    "finished training run), then a **dataset**: a run's held-out examples, your corpus's queries that no "
    "run trained on, the path of a BEIR folder on the server (`corpus.jsonl`, `queries.jsonl`, "
    "`qrels/<split>.tsv`), or a zip of one uploaded here. "
    "**Compare** evaluates both in the background (document embeddings are cached, so a second look is "
    "quick) and shows their metrics, the queries where B wins or loses most, and both top-10 lists for "
    "any query. Deltas are B − A. Each model's queries get the instruction it ships with (its saved query "
    "prompt, or on a run's held-out set each query's own task instruction) unless you type another."
)
EMPTY = ("**Nothing compared yet.** Choose two models and a dataset above, then press **Compare**. "
         "No fine-tuned model yet? Train one in the *Train* tab; its held-out set appears here by itself.")
INSTRUCTION_HELP = "Empty: the model's own (shown below). Typed: replaces it for every query."
MAX_QUERY_CHOICES = 1000
ORDERS = ["largest change", "wins first", "losses first"]
PER_QUERY_HEADERS = ["query id", "query", "nDCG@10 A", "nDCG@10 B", "Δ (B − A)"]
HISTORY_HEADERS = ["id", "run", "model", "dataset", "split", "instruction", "nDCG@10", "MRR@10", "Recall@10",
                   "when (UTC)"]
WEAK_HELP = ("Finds the passages nearest to those of the queries B loses most on (by B's vectors, never from a "
             "held-out document) and has the LLM of the Generate tab write queries for them in the background, so "
             "the next run trains where this one was weak. The first time for a model the whole corpus is encoded "
             "(minutes for a large one); then it is cached.")
COLORS = {"query": "#d62728", "relevant document": "#2ca02c", "other document": "#b0b7c3"}


def _lists(db_path, model_a, model_b, dataset, seen_run) -> choices.Lists:
    return choices.lists(open_db(db_path), model_a, model_b, dataset, seen_run)


def refresh_lists(db_path, model_a, model_b, dataset, seen_run):
    """Fresh dropdowns; a run finished since the last look becomes B, on its own held-out set."""
    found = _lists(db_path, model_a, model_b, dataset, seen_run)
    return (gr.update(choices=found.models, value=found.model_a), gr.update(choices=found.models, value=found.model_b),
            gr.update(choices=found.datasets, value=found.dataset),
            gr.update(value=found.empty_note or "", visible=bool(found.empty_note)), found.newest_run)


def defaults(db_path, model_a, model_b, spec):
    """Under each instruction box: what that model's queries get when the box is left empty."""
    db = open_db(db_path)
    return tuple(f"Default for {label}: {compare.default_instruction(db, model, spec)}" if model else ""
                 for label, model in (("A", model_a), ("B", model_b)))


def open_tab(db_path, state, model_a, model_b, spec, split, seen_run):
    """Coming to the tab: fresh lists (a run may have finished or the demo been loaded since the page
    opened), and with nothing shown yet, the chosen pair at once if both are already evaluated on the
    chosen dataset (e.g. the demo's pre-computed comparison). Nothing is evaluated from here."""
    lists = refresh_lists(db_path, model_a, model_b, spec, seen_run)
    history = compare.stored_rows(open_db(db_path))
    unchanged = (state, gr.update(), gr.update()) + _no_results()
    chosen = [update["value"] for update in lists[:3]]
    if state or not all(chosen):
        return (*lists, history, *unchanged)
    model_a, model_b, spec = chosen
    try:
        comparison = compare.start(db_path, compare.SideRequest(model_a), compare.SideRequest(model_b), spec,
                                   split or "test", launch_missing=False)
    except Exception:  # e.g. a folder that is gone: the person sees why when they press Compare
        comparison = None
    if comparison is None:
        return (*lists, history, *unchanged)
    return (*lists, history, *_shown(db_path, comparison))


def keep_upload(file_path):
    """Copy an uploaded zip into the data folder (the upload's temp file may vanish) and select it."""
    if not file_path:
        return gr.update()
    uploads = data_dir() / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    target = uploads / Path(file_path).name
    shutil.copyfile(file_path, target)
    return gr.update(value=str(target))


def start(db_path, model_a, instruction_a, none_a, model_b, instruction_b, none_b, spec, split):
    """Find stored evaluations of both models or start jobs for them; the timer takes it from there.

    A refused start clears what an earlier comparison left on screen, so no stale figures stand under
    the warning."""
    try:
        comparison = compare.start(db_path, compare.SideRequest(model_a, instruction_a, none_a),
                                   compare.SideRequest(model_b, instruction_b, none_b), spec, split)
    except StudioError as error:
        return (None, f"⚠️ {error}", gr.update(active=False)) + _cleared()
    except Exception as error:  # e.g. an unreadable dataset file: say so, keep the tab alive
        return ((None, f"⚠️ Could not start the comparison ({error.__class__.__name__}: {error}).",
                 gr.update(active=False)) + _cleared())
    return _shown(db_path, comparison)


def _shown(db_path, comparison):
    """(state, status, timer, results…) for a comparison in any state."""
    status = "\n\n".join(compare.status_lines(comparison))
    if comparison.state == compare.FAILED:
        return (comparison, status, gr.update(active=False)) + _cleared()
    if comparison.state == compare.WAITING:
        return (comparison, status, gr.update(active=True)) + _cleared()
    return ((comparison, status, gr.update(active=False)) + results(db_path, comparison, ORDERS[0])
            + (gr.update(visible=True), compare.stored_rows(open_db(db_path))) + weak_offer(db_path, comparison))


def poll(db_path, state):
    """Advance waiting jobs; when both sides have evaluations, stop the timer and show everything."""
    if not state:
        return (state, gr.update(), gr.update(active=False)) + _no_results()
    return _shown(db_path, compare.advance(db_path, state))


def _no_results():
    return (gr.update(),) * 10


def _cleared():
    """The results area emptied and hidden (a comparison that is not ready shows no figures)."""
    return (None, None, None, gr.update(choices=[], value=None), "", gr.update(visible=False), gr.update(),
            "", gr.update(visible=False), "")


def weak_offer(db_path, comparison):
    """(note, controls, result) of "Generate more like these": offered on a corpus's queries only."""
    try:
        offer = weak_spots.offer(open_db(db_path), *comparison.evaluation_ids)
    except Exception as error:  # an unreadable store: say so beside the table, keep the tab alive
        return f"⚠️ Cannot offer it ({error.__class__.__name__}: {error}).", gr.update(visible=False), ""
    return offer.note, gr.update(visible=offer.available), ""


def generate_like(db_path, comparison, llm_state, n, k, per_passage, progress=gr.Progress()):
    """Find the passages near B's worst queries (encoding the corpus the first time, with progress) and
    start a grounded generation job for them; say in words what was started and where to watch it."""
    if not comparison or comparison.state != compare.READY:
        return "Press **Compare** first: this needs both models' results."
    try:
        per_passage = int(per_passage or 0)
        grounded.check_per_passage(per_passage)
        settings = settings_of(llm_state)
        db = open_db(db_path)
        progress(0, desc="Finding the queries B loses most on")

        def encoding(done, total):
            progress(done / max(total, 1), desc=f"Encoding the corpus for neighbours: {done}/{total} passages "
                                                 "(first time with this model only)")

        found = weak_spots.find(db, *comparison.evaluation_ids, n=int(n or 0), k=int(k or 0), progress=encoding)
        name = found.corpus["name"]
        corpus_jobs.refuse_if_running(db, name, "generate")
        job_id = grounded.launch_grounded(db_path, settings, name, None, per_passage, instruction=found.instruction,
                                          concurrency=settings.concurrency or 8, passage_ids=found.passage_ids)
    except StudioError as error:
        return f"⚠️ Not started: {error}."
    except Exception as error:  # a model that fails to encode, a job that cannot start: say so, keep the tab alive
        return f"⚠️ Not started ({error.__class__.__name__}: {error})."
    return (f"✓ **Started job {job_id}**: {per_passage} quer{'y' if per_passage == 1 else 'ies'} for each of {len(found.passage_ids)} passages "
            f"of corpus '{name}'. Watch it in the *Corpus* tab (corpus '{name}') or the *Generate* tab's job list; "
            f"then accept its examples in *Curate* and train again.\n\n{found.describe()}")


def results(db_path, comparison, order):
    """Metrics table, bar chart, per-query table, the query picker and the summary line."""
    try:
        db = open_db(db_path)
        a, b = compare.evaluations(db, comparison)
        dataset = compare.dataset_of(db, comparison)
    except StudioError as error:
        return (gr.update(), gr.update(), gr.update(), gr.update(), f"⚠️ {error}")
    metric_rows = compare.metrics_rows(a, b)
    names = [side.model for side in comparison.sides]
    figure = go.Figure([
        go.Bar(name=f"A · {_short(names[0])}", x=[r[0] for r in metric_rows], y=[r[1] for r in metric_rows]),
        go.Bar(name=f"B · {_short(names[1])}", x=[r[0] for r in metric_rows], y=[r[2] for r in metric_rows]),
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


def reorder(db_path, comparison, order):
    if not comparison or comparison.state != compare.READY:
        return gr.update()
    try:
        db = open_db(db_path)
        a, b = compare.evaluations(db, comparison)
        return compare.per_query_rows(a, b, compare.dataset_of(db, comparison), order)
    except StudioError as error:
        gr.Warning(str(error))
        return gr.update()


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
    if not state:
        return "Press **Compare** first.", "", ""
    names = [side.model for side in state.sides]
    try:
        dataset = compare.dataset_of(open_db(db_path), state)
        text = (typed or "").strip()
        chosen_id = None
        if not text and query_id:
            chosen_id, text = query_id, dataset.queries.get(query_id, "")
        if not text:
            raise StudioError("type a query or pick one from the dataset")
        progress(0, desc="Encoding the query with both models")
        hits_a, hits_b = side_by_side.side_by_side(names[0], names[1], dataset, text,
                                                   compare.query_instructions(state, instruction), chosen_id)
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
    return (heading, _hits_html(f"A · {_short(names[0])}", hits_a, False),
            _hits_html(f"B · {_short(names[1])}", hits_b, True))


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
    if not state:
        return None, "Press **Compare** first."
    try:
        dataset = compare.dataset_of(open_db(db_path), state)
        sample = side_by_side.projection_sample(dataset)
        figure = make_subplots(rows=1, cols=2, subplot_titles=[f"{side.label} · {_short(side.model)}"
                                                               for side in state.sides])
        for column, side in enumerate(state.sides, start=1):
            progress((column - 1) / 2, desc=f"Projecting with {_short(side.model)}")
            points = side_by_side.project(side.model, dataset, sample, side.instruction)
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


def _model_column(side: str, label: str, info: str, models, value):
    """One model's controls: the model, an instruction for its queries or none, and what it gets by default."""
    with gr.Column():
        model = gr.Dropdown(models, value=value, label=label, allow_custom_value=True, info=info,
                            elem_id=f"compare-model-{side.lower()}")
        instruction = gr.Textbox(label=f"Instruction for {side}", placeholder="the model's own", info=INSTRUCTION_HELP,
                                 elem_id=f"compare-instruction-{side.lower()}")
        none = gr.Checkbox(False, label=f"No instruction for {side}", elem_id=f"compare-none-{side.lower()}")
        default = gr.Markdown("", elem_classes=["help-text"], elem_id=f"compare-default-{side.lower()}")
    return model, instruction, none, default


def build(ctx) -> None:
    db_path = ctx.db_path
    first = _lists(db_path, None, None, None, None)
    state = gr.State(None)
    seen_run = gr.State(first.newest_run)   # the newest finished run the lists know of
    gr.Markdown(HELP, elem_classes=["help-text"])
    with gr.Row():
        model_a, instruction_a, none_a, default_a = _model_column(
            "A", "Model A (reference)", "A base model, a run, or a model folder path", first.models, first.model_a)
        model_b, instruction_b, none_b, default_b = _model_column(
            "B", "Model B (challenger)", "Usually a finished training run", first.models, first.model_b)
    with gr.Row():
        dataset = gr.Dropdown(first.datasets, value=first.dataset, label="Dataset", allow_custom_value=True, scale=3,
                              info="A run's held-out set, a corpus's held-out queries (corpus:NAME), or type "
                                   "the path of a BEIR folder on the server",
                              elem_id="compare-dataset")
        split = gr.Textbox("test", label="Split", scale=1, info="qrels/<split>.tsv of a BEIR folder")
        upload = gr.File(label="…or upload a BEIR zip", file_types=[".zip"], type="filepath", scale=2, height=120)
    empty_note = gr.Markdown(first.empty_note or "", visible=bool(first.empty_note), elem_classes=["empty-state"],
                             elem_id="compare-empty-datasets")
    with gr.Row():
        compare_button = gr.Button("Compare", variant="primary")
        refresh_button = gr.Button("Refresh lists")
    status = gr.Markdown(EMPTY, elem_classes=["empty-state"], elem_id="compare-status")
    timer = gr.Timer(1.0, active=False)

    with gr.Column(visible=False) as results_box:  # shown once both evaluations are ready
        gr.Markdown("### Metrics")
        summary = gr.Markdown("", elem_id="compare-summary")
        with gr.Row():
            metrics_table = gr.Dataframe(headers=["metric", "A", "B", "Δ (B − A)"], interactive=False, scale=2)
            metrics_plot = gr.Plot(label="A and B", scale=3)

        gr.Markdown("### Per query\nClick a row to see both top-10 lists for that query.", elem_classes=["help-text"])
        order = gr.Radio(ORDERS, value=ORDERS[0], label="Sort by the change in nDCG@10")
        with gr.Row():
            per_query = gr.Dataframe(headers=PER_QUERY_HEADERS, interactive=False, max_height=360, wrap=True,
                                     column_widths=["12%", "52%", "12%", "12%", "12%"], scale=3)
            with gr.Column(scale=1, min_width=260, elem_id="compare-weak"):
                gr.Markdown("#### Generate more like these")
                weak_note = gr.Markdown("", elem_classes=["help-text"], elem_id="compare-weak-note")
                with gr.Column(visible=False) as weak_controls:
                    gr.Markdown(WEAK_HELP, elem_classes=["help-text"])
                    with gr.Row():
                        weak_n = gr.Number(weak_spots.DEFAULT_QUERIES, label="Weak queries", precision=0, minimum=1,
                                           min_width=80)
                        weak_k = gr.Number(weak_spots.DEFAULT_NEIGHBOURS, label="Neighbours each", precision=0,
                                           minimum=1, min_width=80)
                        weak_per = gr.Number(2, label="Queries per passage", precision=0, minimum=1,
                                             maximum=grounded.MAX_PER_PASSAGE, min_width=80)
                    weak_button = gr.Button("Generate more like these", variant="primary")
                weak_result = gr.Markdown("", elem_id="compare-weak-result")

        gr.Markdown("### Side by side")
        with gr.Row():
            query_pick = gr.Dropdown([], label="Pick a query of the dataset", scale=3)
            typed = gr.Textbox(label="…or type a query", scale=3, placeholder="e.g. do statins lower cholesterol?")
            instruction = gr.Textbox(label="Task instruction for a typed query", scale=2,
                                     info="For a side whose queries get their own task instruction; the others "
                                          "keep theirs")
        search_button = gr.Button("Search with both models")
        query_heading = gr.Markdown("")
        with gr.Row():
            list_a = gr.HTML()
            list_b = gr.HTML()

        gr.Markdown("### Map of the embedding space (PCA)")
        project_button = gr.Button("Project a sample of queries and documents")
        projection_note = gr.Markdown("The map stays empty until you press the button: it then embeds a sample of "
                                      "the dataset's queries and documents with both models and draws them in 2-D "
                                      "(PCA), coloured by relevance.", elem_classes=["help-text"])
        projection_plot = gr.Plot(label="2-D projection, coloured by relevance")

    with gr.Accordion("Stored evaluations (every run's held-out result and every comparison)", open=False):
        history = gr.Dataframe(value=compare.stored_rows(open_db(db_path)), headers=HISTORY_HEADERS,
                               interactive=False, max_height=300)

    results_outputs = [metrics_table, metrics_plot, per_query, query_pick, summary, results_box, history,
                       weak_note, weak_controls, weak_result]
    search_outputs = [query_heading, list_a, list_b]
    list_outputs = [model_a, model_b, dataset, empty_note, seen_run]
    compare_button.click(partial(start, db_path), [model_a, instruction_a, none_a, model_b, instruction_b, none_b,
                                                   dataset, split], [state, status, timer] + results_outputs)
    timer.tick(partial(poll, db_path), [state], [state, status, timer] + results_outputs, show_progress="hidden")
    refresh_button.click(partial(refresh_lists, db_path), [model_a, model_b, dataset, seen_run], list_outputs)
    refresh_button.click(lambda: compare.stored_rows(open_db(db_path)), None, [history])
    gr.on([model_a.change, model_b.change, dataset.change, ctx.blocks.load], partial(defaults, db_path),
          [model_a, model_b, dataset], [default_a, default_b], show_progress="hidden", api_visibility="private")
    upload.upload(keep_upload, [upload], [dataset])
    ctx.tab.select(partial(open_tab, db_path), [state, model_a, model_b, dataset, split, seen_run],
                   list_outputs + [history, state, status, timer] + results_outputs, show_progress="hidden",
                   api_visibility="private")
    order.change(partial(reorder, db_path), [state, order], [per_query])
    search_button.click(partial(search, db_path), [state, query_pick, typed, instruction], search_outputs)
    query_pick.input(partial(search_picked, db_path), [state, query_pick, instruction], search_outputs)

    def on_row(current, evt: gr.SelectData):  # gradio finds SelectData by annotation, so no partial here
        return pick_row(db_path, current, evt)

    per_query.select(on_row, [state], [query_pick, typed] + search_outputs)
    project_button.click(partial(projection, db_path), [state], [projection_plot, projection_note])
    weak_button.click(partial(generate_like, db_path), [state, ctx.llm_settings, weak_n, weak_k, weak_per],
                      [weak_result], api_name="compare_generate_like")
