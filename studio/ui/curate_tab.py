"""The Curate tab: review, filter, search, edit, accept and reject examples; bulk actions with
undo; quality and mining jobs; statistics; import and export.

Every handler is a thin call into studio.curation / storage.curation. The table is paginated on
the server: the browser only ever receives the rows of the page it shows.
"""

import logging
import shutil

import gradio as gr
import pandas as pd

from storage import curation
from storage import jobs as job_rows
from storage.curation import ExampleFilter
from studio import jobs
from studio.curation import exchange, review, stats
from studio.curation.review import ALL, DATATYPES, HEADERS, SORT_LABELS
from studio.ui import proposals_panel
from studio.errors import StudioError

log = logging.getLogger(__name__)

WHO = "ui"
JOB_KINDS = ("quality", "mining")

INTRO = (
    "Review the examples the LLM wrote (or that you imported). Filter and search, click a row to open it, "
    "then accept, reject or fix it. Bulk actions apply to **everything the filters match**, not only the "
    "visible page, and **Undo** reverts the last action, bulk ones included. Every change is kept in the "
    "example's history."
)
SHORTCUTS = (
    "**Keyboard:** `j` next · `k` previous · `a` accept · `r` reject · `s` save edit "
    "(while typing in a box, hold **Alt**: `Alt+j`, `Alt+a`, …)"
)
EMPTY = (
    "**No examples yet.** Generate some in **3 · Generate**, or import a JSONL or CSV file under "
    "*Import and export* below (one example per line: query, positive, negative, instruction, family, language)."
)

# Clicks the tab's buttons from the keyboard; plain keys only when no text box has the focus.
KEYBOARD_JS = """
() => {
  if (window.__curateKeys) return;
  window.__curateKeys = true;
  // event.code, not event.key: with Alt held, macOS turns the letter into another character.
  const keys = {KeyJ: 'curate-next', KeyK: 'curate-prev', KeyA: 'curate-accept', KeyR: 'curate-reject',
                KeyS: 'curate-save'};
  document.addEventListener('keydown', (event) => {
    const id = keys[event.code];
    if (!id || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable);
    if (typing && !event.altKey) return;
    const button = document.getElementById(id);
    if (!button || button.offsetParent === null) return;  // the Curate tab is not showing
    event.preventDefault();
    button.click();
  });
}
"""

MARK_STYLE = "<style>#curate-table mark { background: #fde047; color: inherit; padding: 0 1px; }</style>"


def _frame(rows: list[list]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=HEADERS)


def _job_line(job: dict) -> str:
    percent = f"{job['progress'] * 100:.0f}%"
    bar = "▓" * int(job["progress"] * 20) + "░" * (20 - int(job["progress"] * 20))
    text = f"**{job['kind']} job {job['id']}** · {job['state']} · `{bar}` {percent}"
    if job.get("message"):
        text += f" · {job['message']}"
    if job.get("error"):
        text += f" · ⚠ {job['error']}"
    return text


def build(ctx) -> None:
    db_path = ctx.db_path

    def db():
        return review.db_for(db_path)

    gr.HTML(MARK_STYLE, padding=False)
    gr.Markdown(INTRO + "\n\n" + SHORTCUTS)
    empty = gr.Markdown(EMPTY, elem_classes=["empty-state"], visible=False)

    # ---- filters -------------------------------------------------------------------------
    with gr.Row():
        status = gr.Dropdown([ALL, "pending", "accepted", "rejected"], value=ALL, label="Status", scale=1)
        family = gr.Dropdown([ALL], value=ALL, label="Family", scale=1)
        language = gr.Dropdown([ALL], value=ALL, label="Language", allow_custom_value=True, scale=1,
                               elem_id="curate-language")
        model = gr.Dropdown([ALL], value=ALL, label="LLM model", allow_custom_value=True, scale=1)
        template_version = gr.Textbox("", label="Template version id", placeholder="any", scale=1)
        task = gr.Textbox("", label="Task id", placeholder="any", scale=1)
    with gr.Row():
        flags = gr.Dropdown(review.flag_choices(), value=[], multiselect=True, label="Quality flags (all must hold)",
                            scale=3)
        length_field = gr.Dropdown(["query", "positive", "negative", "instruction"], value="positive",
                                   label="Length of", scale=1)
        min_chars = gr.Textbox("", label="Min characters", placeholder="any", scale=1)
        max_chars = gr.Textbox("", label="Max characters", placeholder="any", scale=1)
        sort = gr.Dropdown(list(SORT_LABELS.values()), value=SORT_LABELS["newest"], label="Sort", scale=2)
        page_size = gr.Dropdown([10, 25, 50, 100], value=review.DEFAULT_PAGE_SIZE, label="Rows per page", scale=1)
    with gr.Row():
        search = gr.Textbox(label="Search query, positive and negative",
                            placeholder="words that must all occur; word* matches a prefix", scale=4)
        apply_button = gr.Button("Search / apply filters", variant="primary", scale=1)
        clear_button = gr.Button("Clear filters", scale=1)
    filter_inputs = [status, family, language, model, template_version, task, flags, length_field, min_chars,
                     max_chars, search]

    caption = gr.Markdown()
    table = gr.Dataframe(headers=HEADERS, datatype=DATATYPES, interactive=False, wrap=True, elem_id="curate-table",
                         column_widths=["55px", "80px", "95px", "105px", "17%", "24%", "16%", "70px", "10%"],
                         max_height=620, label="Examples (click a row to open it)")
    with gr.Row():
        first_page_button = gr.Button("⏮ First", size="sm")
        previous_page_button = gr.Button("◀ Previous page", size="sm")
        page_box = gr.Number(1, label="Page", precision=0, minimum=1, scale=0, min_width=100)
        next_page_button = gr.Button("Next page ▶", size="sm")

    filter_state = gr.State({})
    page_state = gr.State(0)
    ids_state = gr.State([])
    bulk_state = gr.State({})

    # ---- editor ---------------------------------------------------------------------------
    message = gr.Markdown()
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                example_id = gr.Number(None, label="Example id", precision=0, scale=1, elem_id="curate-example-id")
                open_button = gr.Button("Open", scale=0, min_width=80)
            instruction = gr.Textbox(label="Instruction (task definition)", lines=1)
            query = gr.Textbox(label="Query", lines=2, elem_id="curate-query")
            positive = gr.Textbox(label="Positive", lines=6)
            negative = gr.Textbox(label="Negative (leave empty for none)", lines=4)
            with gr.Row():
                previous_button = gr.Button("◀ Previous (k)", elem_id="curate-prev")
                accept_button = gr.Button("✔ Accept (a)", variant="primary", elem_id="curate-accept")
                reject_button = gr.Button("✖ Reject (r)", variant="stop", elem_id="curate-reject")
                save_button = gr.Button("Save edit (s)", elem_id="curate-save")
                next_button = gr.Button("Next (j) ▶", elem_id="curate-next")
            gr.Markdown("Accept and reject also save any edits you made, then move to the next row.",
                        elem_classes=["help-text"])
        with gr.Column(scale=2):
            info = gr.Markdown("Click a row in the table to open it here.")
            history = gr.Dataframe(headers=["when", "who", "action", "before", "after"], interactive=False,
                                   wrap=True, label="History of this example", max_height=300)
            corpus_panel = proposals_panel.layout()
    editor_outputs = [example_id, instruction, query, positive, negative, info, history]

    # ---- bulk and undo ---------------------------------------------------------------------
    with gr.Accordion("Bulk actions and undo", open=True):
        gr.Markdown("These act on **every example the applied filters match** (the count is shown before "
                    "anything changes). Undo reverts the last action, including bulk ones.",
                    elem_classes=["help-text"])
        with gr.Row():
            bulk_accept = gr.Button("Accept all matching")
            bulk_reject = gr.Button("Reject all matching")
            bulk_delete = gr.Button("Delete all matching", variant="stop")
            undo_button = gr.Button("↶ Undo last action")
        with gr.Group(visible=False) as confirm_box:
            confirm_text = gr.Markdown()
            with gr.Row():
                confirm_button = gr.Button("Yes, do it", variant="primary")
                cancel_button = gr.Button("Cancel")
        actions = gr.Dataframe(headers=["action", "when", "who", "what", "examples", "undone"], interactive=False,
                               label="Recent actions", max_height=220)

    # ---- quality and mining jobs -------------------------------------------------------------
    with gr.Accordion("Quality signals and hard-negative mining (background jobs)", open=False):
        gr.Markdown("The **quality job** embeds every example with the chosen model and stores: the margin "
                    "between positive and negative (flagged when the negative scores at or above the positive), "
                    "near-duplicate groups (cosine above the threshold; the group keeps one), length against "
                    "the requested num_words, and empty or wrong-script fields. Each becomes a filter and a "
                    "sort above. **Mining** gives examples without a negative one from a rank window of the "
                    "accepted pool (ranks 10–50 skip likely true positives); mined negatives are marked and "
                    "can be reviewed with the flag “negative was mined”.", elem_classes=["help-text"])
        with gr.Row():
            job_model = gr.Textbox("minilm", label="Embedding model (minilm, smollm2, a folder or a hub id)", scale=2)
            dup_threshold = gr.Slider(0.80, 1.0, value=0.95, step=0.01, label="Near-duplicate cosine threshold",
                                      scale=2)
            quality_scope = gr.Dropdown(["all", "pending", "accepted", "rejected"], value="all",
                                        label="Check examples with status", scale=1)
            quality_button = gr.Button("Compute quality signals", variant="primary", scale=1)
        with gr.Row():
            mine_families = gr.Dropdown(["short-short,long-long", "short-short", "long-long", "any"],
                                        value="short-short,long-long", label="Mine for families", scale=2)
            rank_from = gr.Number(10, label="Rank from", precision=0, minimum=1, scale=1)
            rank_to = gr.Number(50, label="Rank to", precision=0, minimum=1, scale=1)
            mine_pool = gr.Radio(["accepted", "not-rejected"], value="accepted", label="Pool of documents", scale=2)
            mine_button = gr.Button("Mine hard negatives", variant="primary", scale=1)
        with gr.Row():
            job_status = gr.Markdown("No quality or mining job yet.")
            cancel_job_button = gr.Button("Cancel running job", size="sm", scale=0)
        timer = gr.Timer(2.0, active=False)

    # ---- import / export --------------------------------------------------------------------
    with gr.Accordion("Import and export", open=False):
        with gr.Row():
            with gr.Column():
                gr.Markdown("**Import** a JSONL or CSV file with `query`, `positive`, `negative` (null for none), "
                            "`instruction`, `family`, `language`. A file with bad lines is refused whole, with "
                            "their line numbers, unless you skip them. Duplicates are skipped.",
                            elem_classes=["help-text"])
                import_file = gr.File(label="File to import", file_types=[".jsonl", ".json", ".csv"],
                                      type="filepath")
                with gr.Row():
                    import_status = gr.Radio(["pending", "accepted"], value="pending", label="Import as")
                    skip_bad = gr.Checkbox(False, label="Skip bad lines")
                import_button = gr.Button("Import", variant="primary")
            with gr.Column():
                gr.Markdown("**Export** to the data folder's `exports/`: JSONL lines, a Hugging Face datasets "
                            "folder (Parquet + dataset card, downloaded as a zip) or sentence-transformers "
                            "columns (anchor, positive, negative; examples without a negative are left out).",
                            elem_classes=["help-text"])
                with gr.Row():
                    export_format = gr.Radio(["jsonl", "hf", "st"], value="jsonl", label="Format")
                    export_status = gr.Dropdown(["accepted", "pending", "rejected", "all"], value="accepted",
                                                label="Status")
                export_name = gr.Textbox("accepted.jsonl", label="File or folder name (inside exports/)")
                export_filtered = gr.Checkbox(True, label="Also apply the other filters shown above")
                export_button = gr.Button("Export", variant="primary")
                export_download = gr.File(label="Download", interactive=False)

    # ---- statistics -------------------------------------------------------------------------
    with gr.Accordion("Statistics", open=False):
        stats_button = gr.Button("Show / refresh charts")
        with gr.Row():
            chart_family = gr.Plot(label="By family and status")
            chart_language = gr.Plot(label="By language")
        chart_lengths = gr.Plot(label="Field lengths")
        with gr.Row():
            chart_template = gr.Plot(label="Acceptance by template version")
            chart_model = gr.Plot(label="Acceptance by model")
        chart_failures = gr.Plot(label="Failures by reason")

    # ---- handlers -----------------------------------------------------------------------------
    table_outputs = [table, caption, page_state, page_box, ids_state, filter_state, empty]

    def render(flt: ExampleFilter, sort_label, page, size):
        view = review.table_view(db(), flt, sort_label, page, size)
        # Unfiltered, the total is the whole store: that is when the empty state applies.
        empty_update = gr.update(visible=view.total == 0) if not view.filter else gr.update()
        return [_frame(view.rows), view.caption(), view.page, view.page + 1, view.ids, view.filter, empty_update]

    def current_filter(state) -> ExampleFilter:
        return ExampleFilter.from_dict(state or {})

    def error_result(outputs_count: int, error: Exception):
        text = f"⚠ {error}" if isinstance(error, StudioError) else f"⚠ Something went wrong: {error}"
        if not isinstance(error, StudioError):
            log.exception("curate tab")
        return [gr.update()] * outputs_count + [text]

    def on_load():
        choices, view = review.first_page(db_path)
        return [gr.update(choices=choices.families), gr.update(choices=choices.languages),
                gr.update(choices=choices.models), _frame(view.rows), view.caption(), 0, 1, view.ids, view.filter,
                gr.update(visible=choices.store_total == 0), _actions(), _jobs_text(), gr.Timer(active=_jobs_active())]

    def apply_filters(*values):
        *filter_values, sort_label, size = values
        try:
            return render(review.build_filter(*filter_values), sort_label, 0, size) + [""]
        except (StudioError, ValueError) as error:
            return error_result(len(table_outputs), error)

    def clear_filters(sort_label, size):
        return [ALL, ALL, ALL, ALL, "", "", [], "positive", "", "", ""] + render(
            ExampleFilter(), sort_label, 0, size)

    def go_page(state, target, sort_label, size):
        try:
            return render(current_filter(state), sort_label, int(target or 0), size) + [""]
        except StudioError as error:
            return error_result(len(table_outputs), error)

    def editor_values(example):
        if example is None:
            return [None, "", "", "", "", "This example no longer exists (deleted?). Pick another row.", []]
        detail = review.example_detail(db(), example)
        if detail is None:
            return [None, "", "", "", "", f"Example {example} does not exist: pick a row in the table.", []]
        row = detail["row"]
        return [row["id"], row["instruction"], row["query"], row["positive"], row["negative"] or "",
                review.describe_example(detail), review.history_rows(detail)]

    proposals_panel.wire(corpus_panel, db_path, example_id, editor_values, editor_outputs)

    def open_example(example):
        try:
            if example in (None, ""):
                raise StudioError("type an example id, or click a row in the table")
            return editor_values(int(example)) + [""]
        except StudioError as error:
            return error_result(len(editor_outputs), error)

    def select_row(ids, evt: gr.SelectData):
        row_index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not ids or row_index is None or row_index >= len(ids):
            return [gr.update()] * len(editor_outputs)
        return editor_values(ids[row_index])

    def step(current, ids, state, page, sort_label, size, direction):
        """The editor's neighbour in the table, across page edges."""
        flt = current_filter(state)
        ids = list(ids or [])
        if current in ids:
            index = ids.index(current) + direction
        else:
            index = 0 if direction > 0 else len(ids) - 1
        table_update = [gr.update()] * len(table_outputs)
        if 0 <= index < len(ids):
            return table_update + editor_values(ids[index]) + [""]
        next_page = int(page or 0) + direction
        if next_page < 0:
            return table_update + [gr.update()] * len(editor_outputs) + ["This is the first example."]
        rendered = render(flt, sort_label, next_page, size)
        new_ids = rendered[4]
        if rendered[2] != next_page or not new_ids:
            return table_update + [gr.update()] * len(editor_outputs) + ["This is the last example."]
        pick = new_ids[0] if direction > 0 else new_ids[-1]
        return rendered + editor_values(pick) + [""]

    def move(direction):
        def handler(current, ids, state, page, sort_label, size):
            try:
                return step(current, ids, state, page, sort_label, size, direction)
            except StudioError as error:
                return error_result(len(table_outputs) + len(editor_outputs), error)
        return handler

    def decide(status_value):
        def handler(current, instruction_text, query_text, positive_text, negative_text, ids, state, page,
                    sort_label, size):
            try:
                if current in (None, ""):
                    raise StudioError("open an example first: click a row in the table")
                changes = {"instruction": instruction_text or "", "query": query_text, "positive": positive_text,
                           "negative": negative_text}
                result = curation.edit(db(), int(current), changes, who=WHO, status=status_value)
                note = {"accepted": "Accepted", "rejected": "Rejected", None: "Saved"}[status_value]
                note = f"{note} example {int(current)}." if result.count else f"Example {int(current)}: nothing changed."
                flt = current_filter(state)
                rendered = render(flt, sort_label, page, size)
                if status_value is None:
                    return rendered + editor_values(int(current)) + [note, _actions()]
                shown, following = _next_after(int(current), ids, rendered, flt, sort_label, page, size)
                return shown + editor_values(following) + [note, _actions()]
            except StudioError as error:
                return error_result(len(table_outputs) + len(editor_outputs), error) + [gr.update()]
        return handler

    def _next_after(current, old_ids, rendered, flt, sort_label, page, size):
        """(the table to show, the example to open) after deciding one: the next row of the page as it
        was; at the page's end, a row that moved up into it (when the filter dropped decided rows) or
        the next page's first, and then the table turns to that page, so the following decision
        continues from there instead of finding the same example again."""
        old_ids = list(old_ids or [])
        if current in old_ids and old_ids.index(current) + 1 < len(old_ids):
            return rendered, old_ids[old_ids.index(current) + 1]
        fresh = [i for i in rendered[4] if i not in old_ids]
        if fresh:
            return rendered, fresh[0]
        following = render(flt, sort_label, int(page or 0) + 1, size)
        if following[2] == int(page or 0) + 1 and following[4]:
            return following, following[4][0]
        return rendered, current

    def prepare_bulk(kind):
        def handler(state):
            try:
                flt = current_filter(state)
                matched = curation.count(db(), flt)
                if matched == 0:
                    return [{}, gr.update(visible=False), "", "Nothing matches the applied filters."]
                verb = {"accepted": "Accept", "rejected": "Reject", "delete": "Delete"}[kind]
                text = (f"### {verb} **{matched:,}** example{'s' if matched != 1 else ''}?\n"
                        f"That is every example matching: {curation.describe(flt)} — not only this page. "
                        "You can undo it afterwards.")
                return [{"kind": kind, "filter": flt.to_dict(), "count": matched}, gr.update(visible=True), text, ""]
            except StudioError as error:
                return [{}, gr.update(visible=False), "", f"⚠ {error}"]
        return handler

    def confirm_bulk(pending, current, state, page, sort_label, size):
        try:
            if not pending:
                raise StudioError("there is no bulk action waiting for confirmation")
            flt = ExampleFilter.from_dict(pending["filter"])
            if pending["kind"] == "delete":
                result = curation.delete(db(), flt, who=WHO)
            else:
                result = curation.set_status(db(), flt, pending["kind"], who=WHO)
            note = f"Done: {result.description}. Use Undo to revert."
            return [{}, gr.update(visible=False)] + render(current_filter(state), sort_label, page, size) + [
                note, _actions()] + _open_example_status(current)
        except StudioError as error:
            return [{}, gr.update(visible=False)] + error_result(len(table_outputs), error) + [gr.update()] * 3

    def _open_example_status(current):
        """The open example's summary and history as they are now (a bulk action may have changed
        its status); the text boxes keep whatever is being typed in them."""
        if current in (None, ""):
            return [gr.update(), gr.update()]
        return editor_values(int(current))[5:]

    def undo(current, state, page, sort_label, size):
        try:
            result = curation.undo_last(db(), who=WHO)
            editor = editor_values(int(current)) if current not in (None, "") else [gr.update()] * len(editor_outputs)
            return render(current_filter(state), sort_label, page, size) + editor + [
                f"Undone: {result.description}.", _actions()]
        except StudioError as error:
            return error_result(len(table_outputs) + len(editor_outputs), error) + [gr.update()]

    def _actions():
        rows = curation.recent_actions(db(), 8)
        return pd.DataFrame([[r["id"], r["at"][:19].replace("T", " "), r["who"], r["description"], r["count"],
                              "yes" if r["undone_at"] else ""] for r in rows],
                            columns=["action", "when", "who", "what", "examples", "undone"])

    def _recent_jobs():
        found = []
        for kind in JOB_KINDS:
            found += job_rows.list_jobs(db(), kind=kind, limit=2)
        return sorted(found, key=lambda job: -job["id"])[:3]

    def _jobs_active() -> bool:
        jobs.reap(db())
        return any(job["state"] in job_rows.ACTIVE_STATES for job in _recent_jobs())

    def _jobs_text() -> str:
        recent = _recent_jobs()
        return "  \n".join(_job_line(job) for job in recent) if recent else "No quality or mining job yet."

    def launch_job(kind, argv):
        running = [job for job in job_rows.active_jobs(db()) if job["kind"] == kind]
        if running:
            raise StudioError(f"a {kind} job is already running (job {running[0]['id']}); wait for it or cancel it")
        return jobs.launch(db_path, kind, argv, args={"argv": argv})

    def start_quality(model_name, threshold, scope):
        try:
            model_name = (model_name or "").strip()
            if not model_name:
                raise StudioError("name an embedding model, e.g. minilm")
            job_id = launch_job("quality", ["quality", "--model", model_name, "--dup-threshold", str(threshold),
                                            "--status", scope])
            return [f"Started quality job {job_id}.", _jobs_text(), gr.Timer(active=True)]
        except StudioError as error:
            return [f"⚠ {error}", gr.update(), gr.update()]

    def start_mining(model_name, families, low, high, pool):
        try:
            model_name = (model_name or "").strip()
            if not model_name:
                raise StudioError("name an embedding model, e.g. minilm")
            if low is None or high is None or int(low) < 1 or int(high) < int(low):
                raise StudioError("the rank window needs 1 <= from <= to, e.g. 10 and 50")
            job_id = launch_job("mining", ["mine", "--model", model_name, "--families", families,
                                           "--rank-from", str(int(low)), "--rank-to", str(int(high)),
                                           "--pool", pool])
            return [f"Started mining job {job_id}.", _jobs_text(), gr.Timer(active=True)]
        except StudioError as error:
            return [f"⚠ {error}", gr.update(), gr.update()]

    def cancel_job():
        running = [job for job in job_rows.active_jobs(db()) if job["kind"] in JOB_KINDS]
        if not running:
            return ["No quality or mining job is running.", _jobs_text()]
        for job in running:
            jobs.cancel(db(), job["id"])
        return [f"Asked job {running[0]['id']} to stop.", _jobs_text()]

    def poll_jobs():
        active = _jobs_active()
        return [_jobs_text(), gr.Timer(active=active)]

    def do_import(path, as_status, skip, state, sort_label, size):
        try:
            if not path:
                raise StudioError("choose a .jsonl or .csv file to import first")
            report = exchange.import_file(db(), path, status=as_status, skip_bad=bool(skip))
            choices = review.filter_choices(db())
            summary = report.summary()
            return [f"✔ {summary[0].upper()}{summary[1:]}.", gr.update(choices=choices.languages),
                    gr.update(choices=choices.models)] + render(current_filter(state), sort_label, 0, size)
        except StudioError as error:
            return [f"⚠ {error}", gr.update(), gr.update()] + [gr.update()] * len(table_outputs)

    def do_export(fmt, status_value, name, filtered, state):
        try:
            target = exchange.ui_export_path(name, fmt)
            flt = current_filter(state) if filtered else ExampleFilter()
            report = exchange.export(db(), fmt, target, status=status_value, flt=flt)
            download = target
            if fmt == "hf":
                download = shutil.make_archive(str(target), "zip", root_dir=target)
            summary = report.summary()
            return [f"✔ {summary[0].upper()}{summary[1:]}.", str(download)]
        except StudioError as error:
            return [f"⚠ {error}", None]
        except OSError as error:
            return [f"⚠ The export could not be written ({error.strerror}); check the name and free disk space.", None]

    def show_stats():
        return stats.all_charts(db())

    # ---- wiring ---------------------------------------------------------------------------------
    ctx.blocks.load(on_load, outputs=[family, language, model] + table_outputs + [actions, job_status, timer],
                    api_name="curate_load")
    ctx.blocks.load(None, js=KEYBOARD_JS)

    view_inputs = filter_inputs + [sort, page_size]
    apply_button.click(apply_filters, view_inputs, table_outputs + [message], api_name="curate_filter")
    search.submit(apply_filters, view_inputs, table_outputs + [message], api_name=False)
    for control in (status, family, language, model, flags, sort, page_size):
        control.input(apply_filters, view_inputs, table_outputs + [message], api_name=False)
    # Coming back to the tab (say after a generation job) shows the current page as it is now.
    ctx.tab.select(lambda s, p, so, si: go_page(s, p, so, si), [filter_state, page_state, sort, page_size],
                   table_outputs + [message], api_visibility="private")

    def fresh_choices():  # and the languages and models it has now (the demo, an import, a job)
        languages, models = review.stored_choices(review.db_for(db_path))
        return gr.update(choices=languages), gr.update(choices=models)

    ctx.tab.select(fresh_choices, None, [language, model], api_visibility="private", show_progress="hidden")
    clear_button.click(clear_filters, [sort, page_size], filter_inputs + table_outputs, api_name=False)

    first_page_button.click(lambda s, so, si: go_page(s, 0, so, si), [filter_state, sort, page_size],
                            table_outputs + [message], api_name=False)
    previous_page_button.click(lambda s, p, so, si: go_page(s, (p or 0) - 1, so, si),
                               [filter_state, page_state, sort, page_size], table_outputs + [message], api_name=False)
    next_page_button.click(lambda s, p, so, si: go_page(s, (p or 0) + 1, so, si),
                           [filter_state, page_state, sort, page_size], table_outputs + [message],
                           api_name="curate_next_page")
    page_box.submit(lambda s, p, so, si: go_page(s, (p or 1) - 1, so, si), [filter_state, page_box, sort, page_size],
                    table_outputs + [message], api_name="curate_go_page")

    table.select(select_row, [ids_state], editor_outputs, api_name=False)
    open_button.click(open_example, [example_id], editor_outputs + [message], api_name="curate_open")
    example_id.submit(open_example, [example_id], editor_outputs + [message], api_name=False)

    nav_inputs = [example_id, ids_state, filter_state, page_state, sort, page_size]
    next_button.click(move(+1), nav_inputs, table_outputs + editor_outputs + [message], api_name="curate_next")
    previous_button.click(move(-1), nav_inputs, table_outputs + editor_outputs + [message], api_name="curate_previous")

    decide_inputs = [example_id, instruction, query, positive, negative, ids_state, filter_state, page_state, sort,
                     page_size]
    decide_outputs = table_outputs + editor_outputs + [message, actions]
    accept_button.click(decide("accepted"), decide_inputs, decide_outputs, api_name="curate_accept")
    reject_button.click(decide("rejected"), decide_inputs, decide_outputs, api_name="curate_reject")
    save_button.click(decide(None), decide_inputs, decide_outputs, api_name="curate_save")

    bulk_outputs = [bulk_state, confirm_box, confirm_text, message]
    bulk_accept.click(prepare_bulk("accepted"), [filter_state], bulk_outputs, api_name="curate_bulk_accept")
    bulk_reject.click(prepare_bulk("rejected"), [filter_state], bulk_outputs, api_name="curate_bulk_reject")
    bulk_delete.click(prepare_bulk("delete"), [filter_state], bulk_outputs, api_name="curate_bulk_delete")
    confirm_button.click(confirm_bulk, [bulk_state, example_id, filter_state, page_state, sort, page_size],
                         [bulk_state, confirm_box] + table_outputs + [message, actions, info, history],
                         api_name="curate_bulk_confirm")
    cancel_button.click(lambda: [{}, gr.update(visible=False), "Cancelled; nothing changed."], None,
                        [bulk_state, confirm_box, message], api_name=False)
    undo_button.click(undo, [example_id, filter_state, page_state, sort, page_size],
                      table_outputs + editor_outputs + [message, actions], api_name="curate_undo")

    quality_button.click(start_quality, [job_model, dup_threshold, quality_scope], [message, job_status, timer],
                         api_name="curate_quality")
    mine_button.click(start_mining, [job_model, mine_families, rank_from, rank_to, mine_pool],
                      [message, job_status, timer], api_name="curate_mine")
    cancel_job_button.click(cancel_job, None, [message, job_status], api_name=False)
    timer.tick(poll_jobs, None, [job_status, timer], api_name=False, show_progress="hidden")

    import_button.click(do_import, [import_file, import_status, skip_bad, filter_state, sort, page_size],
                        [message, language, model] + table_outputs, api_name="curate_import")
    export_button.click(do_export, [export_format, export_status, export_name, export_filtered, filter_state],
                        [message, export_download], api_name="curate_export")
    stats_button.click(show_stats, None, [chart_family, chart_language, chart_lengths, chart_template, chart_model,
                                          chart_failures], api_name="curate_stats")
