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
from studio.errors import StudioError
from studio.ui import proposals_panel

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
    CurateTab(ctx).wire()


class CurateTab:
    """The tab's components, laid out top to bottom, and its handlers: each a thin call into
    studio.curation.review (what to show, where to go next) or storage.curation (the changes)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.db_path = ctx.db_path
        gr.HTML(MARK_STYLE, padding=False)
        gr.Markdown(INTRO + "\n\n" + SHORTCUTS)
        self.empty = gr.Markdown(EMPTY, elem_classes=["empty-state"], visible=False)
        self._layout_filters()
        self._layout_table()
        self._layout_editor()
        self._layout_bulk()
        self._layout_jobs()
        self._layout_exchange()
        self._layout_stats()
        # A table refresh writes these; gradio_client sees the visible ones (table, caption, page, empty).
        self.table_outputs = [self.table, self.caption, self.page_state, self.page_box, self.ids_state,
                              self.filter_state, self.empty]
        self.editor_outputs = [self.example_id, self.instruction, self.query, self.positive, self.negative, self.info,
                               self.history]

    def db(self):
        return review.db_for(self.db_path)

    # ---- layout --------------------------------------------------------------------------------

    def _layout_filters(self) -> None:
        with gr.Row():
            self.status = gr.Dropdown([ALL, "pending", "accepted", "rejected"], value=ALL, label="Status", scale=1)
            self.family = gr.Dropdown([ALL], value=ALL, label="Family", scale=1)
            self.language = gr.Dropdown([ALL], value=ALL, label="Language", allow_custom_value=True, scale=1,
                                        elem_id="curate-language")
            self.model = gr.Dropdown([ALL], value=ALL, label="LLM model", allow_custom_value=True, scale=1)
            self.template_version = gr.Textbox("", label="Template version id", placeholder="any", scale=1)
            self.task = gr.Textbox("", label="Task id", placeholder="any", scale=1)
        with gr.Row():
            self.flags = gr.Dropdown(review.flag_choices(), value=[], multiselect=True,
                                     label="Quality flags (all must hold)", scale=3, elem_id="curate-flags")
            self.length_field = gr.Dropdown(["query", "positive", "negative", "instruction"], value="positive",
                                            label="Length of", scale=1)
            self.min_chars = gr.Textbox("", label="Min characters", placeholder="any", scale=1)
            self.max_chars = gr.Textbox("", label="Max characters", placeholder="any", scale=1)
            self.sort = gr.Dropdown(list(SORT_LABELS.values()), value=SORT_LABELS["newest"], label="Sort", scale=2)
            self.page_size = gr.Dropdown([10, 25, 50, 100], value=review.DEFAULT_PAGE_SIZE, label="Rows per page",
                                         scale=1)
        with gr.Row():
            self.search = gr.Textbox(label="Search query, positive and negative",
                                     placeholder="words that must all occur; word* matches a prefix", scale=4)
            self.apply_button = gr.Button("Search / apply filters", variant="primary", scale=1)
            self.clear_button = gr.Button("Clear filters", scale=1)
        self.filter_message = gr.Markdown(elem_id="curate-filter-result")
        self.filter_inputs = [self.status, self.family, self.language, self.model, self.template_version, self.task,
                              self.flags, self.length_field, self.min_chars, self.max_chars, self.search]

    def _layout_table(self) -> None:
        self.caption = gr.Markdown(elem_id="curate-caption")
        self.table = gr.Dataframe(headers=HEADERS, datatype=DATATYPES, interactive=False, wrap=True,
                                  elem_id="curate-table",
                                  column_widths=["55px", "100px", "95px", "105px", "17%", "23%", "16%", "70px", "10%"],
                                  max_height=620, label="Examples (click a row to open it)")
        with gr.Row():
            self.first_page_button = gr.Button("« First page", size="sm")
            self.previous_page_button = gr.Button("◀ Previous page", size="sm")
            self.page_box = gr.Number(1, label="Page", precision=0, minimum=1, scale=0, min_width=100)
            self.next_page_button = gr.Button("Next page ▶", size="sm")
        self.filter_state = gr.State({})
        self.page_state = gr.State(0)
        self.ids_state = gr.State([])
        self.bulk_state = gr.State({})

    def _layout_editor(self) -> None:
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    self.example_id = gr.Number(None, label="Example id", precision=0, scale=1,
                                                elem_id="curate-example-id")
                    self.open_button = gr.Button("Open", scale=0, min_width=80)
                self.instruction = gr.Textbox(label="Instruction (task definition)", lines=1)
                self.query = gr.Textbox(label="Query", lines=2, elem_id="curate-query")
                self.positive = gr.Textbox(label="Positive", lines=6)
                self.negative = gr.Textbox(label="Negative (leave empty for none)", lines=4)
                with gr.Row():
                    self.previous_button = gr.Button("◀ Previous (k)", elem_id="curate-prev")
                    self.accept_button = gr.Button("✔ Accept (a)", variant="primary", elem_id="curate-accept")
                    self.reject_button = gr.Button("✖ Reject (r)", variant="stop", elem_id="curate-reject")
                    self.save_button = gr.Button("Save edit (s)", elem_id="curate-save")
                    self.next_button = gr.Button("Next (j) ▶", elem_id="curate-next")
                self.message = gr.Markdown(elem_id="curate-editor-result")
                gr.Markdown("Accept and reject also save any edits you made, then move to the next row.",
                            elem_classes=["help-text"])
            with gr.Column(scale=2):
                self.info = gr.Markdown("Click a row in the table to open it here.")
                self.history = gr.Dataframe(headers=["when", "who", "action", "before", "after"], interactive=False,
                                            wrap=True, label="History of this example", max_height=300)
                self.corpus_panel = proposals_panel.layout()

    def _layout_bulk(self) -> None:
        with gr.Accordion("Bulk actions and undo", open=True):
            gr.Markdown("These act on **every example the applied filters match** (the count is shown before "
                        "anything changes). Undo reverts the last action, including bulk ones.",
                        elem_classes=["help-text"])
            with gr.Row():
                self.bulk_accept = gr.Button("Accept all matching")
                self.bulk_reject = gr.Button("Reject all matching")
                self.bulk_delete = gr.Button("Delete all matching", variant="stop")
                self.undo_button = gr.Button("↶ Undo last action")
            self.bulk_message = gr.Markdown(elem_id="curate-bulk-result")
            with gr.Group(visible=False) as self.confirm_box:
                self.confirm_text = gr.Markdown()
                with gr.Row():
                    self.confirm_button = gr.Button("Yes, do it", variant="primary")
                    self.cancel_button = gr.Button("Cancel")
            self.actions = gr.Dataframe(headers=["action", "when", "who", "what", "examples", "undone"],
                                        interactive=False, label="Recent actions", max_height=220)

    def _layout_jobs(self) -> None:
        with gr.Accordion("Quality signals and hard-negative mining (background jobs)", open=False):
            gr.Markdown("The **quality job** embeds every example with the chosen model and stores: the margin "
                        "between positive and negative (flagged when the negative scores at or above the positive), "
                        "near-duplicate groups (cosine above the threshold; the group keeps one), length against "
                        "the requested num_words, empty fields, and fields not in the language they are tagged "
                        "with (told by a language identifier; bitext translations and long-short labels are "
                        "cross-language by design and not judged). Each becomes a filter and a "
                        "sort above. **Mining** gives examples without a negative one from a rank window of the "
                        "accepted pool (ranks 10–50 skip likely true positives); mined negatives are marked and "
                        "can be reviewed with the flag “negative was mined”.", elem_classes=["help-text"])
            with gr.Row():
                self.job_model = gr.Textbox("minilm", label="Embedding model (minilm, smollm2, a folder or a hub id)",
                                            scale=2)
                self.dup_threshold = gr.Slider(0.80, 1.0, value=0.95, step=0.01,
                                               label="Near-duplicate cosine threshold", scale=2)
                self.quality_scope = gr.Dropdown(["all", "pending", "accepted", "rejected"], value="all",
                                                 label="Check examples with status", scale=1)
                self.quality_button = gr.Button("Compute quality signals", variant="primary", scale=1)
            with gr.Row():
                self.mine_families = gr.Dropdown(["short-short,long-long", "short-short", "long-long", "any"],
                                                 value="short-short,long-long", label="Mine for families", scale=2)
                self.rank_from = gr.Number(10, label="Rank from", precision=0, minimum=1, scale=1)
                self.rank_to = gr.Number(50, label="Rank to", precision=0, minimum=1, scale=1)
                self.mine_pool = gr.Radio(["accepted", "not-rejected"], value="accepted", label="Pool of documents",
                                          scale=2)
                self.mine_button = gr.Button("Mine hard negatives", variant="primary", scale=1)
            self.job_message = gr.Markdown(elem_id="curate-job-result")
            with gr.Row():
                self.job_status = gr.Markdown("No quality or mining job yet.", elem_id="curate-job-status")
                self.cancel_job_button = gr.Button("Cancel running job", size="sm", scale=0)
            self.timer = gr.Timer(2.0, active=False)

    def _layout_exchange(self) -> None:
        with gr.Accordion("Import and export", open=False):
            with gr.Row():
                with gr.Column():
                    gr.Markdown("**Import** a JSONL or CSV file with `query`, `positive`, `negative` (null for none), "
                                "`instruction`, `family`, `language`. A file with bad lines is refused whole, with "
                                "their line numbers, unless you skip them. Duplicates are skipped.",
                                elem_classes=["help-text"])
                    self.import_file = gr.File(label="File to import", file_types=[".jsonl", ".json", ".csv"],
                                               type="filepath", elem_id="curate-import-file")
                    with gr.Row():
                        self.import_status = gr.Radio(["pending", "accepted"], value="pending", label="Import as")
                        self.skip_bad = gr.Checkbox(False, label="Skip bad lines")
                    self.import_button = gr.Button("Import", variant="primary", elem_id="curate-import")
                    self.import_message = gr.Markdown(elem_id="curate-import-result")
                with gr.Column():
                    gr.Markdown("**Export** to the data folder's `exports/`: JSONL lines, a Hugging Face datasets "
                                "folder (Parquet + dataset card, downloaded as a zip) or sentence-transformers "
                                "columns (anchor, positive, negative; examples without a negative are left out).",
                                elem_classes=["help-text"])
                    with gr.Row():
                        self.export_format = gr.Radio(["jsonl", "hf", "st"], value="jsonl", label="Format")
                        self.export_status = gr.Dropdown(["accepted", "pending", "rejected", "all"], value="accepted",
                                                         label="Status")
                    self.export_name = gr.Textbox("accepted.jsonl", label="File or folder name (inside exports/)")
                    self.export_filtered = gr.Checkbox(True, label="Also apply the other filters shown above")
                    self.export_button = gr.Button("Export", variant="primary", elem_id="curate-export")
                    self.export_message = gr.Markdown(elem_id="curate-export-result")
                    self.export_download = gr.File(label="Download", interactive=False)

    def _layout_stats(self) -> None:
        with gr.Accordion("Statistics", open=False):
            self.stats_button = gr.Button("Show / refresh charts")
            with gr.Row():
                chart_family = gr.Plot(label="By family and status")
                chart_language = gr.Plot(label="By language")
            chart_lengths = gr.Plot(label="Field lengths")
            with gr.Row():
                chart_template = gr.Plot(label="Acceptance by template version")
                chart_model = gr.Plot(label="Acceptance by model")
            chart_failures = gr.Plot(label="Failures by reason")
        self.charts = [chart_family, chart_language, chart_lengths, chart_template, chart_model, chart_failures]

    # ---- the table -----------------------------------------------------------------------------

    def shown(self, view: review.TableView) -> list:
        """What a table refresh writes into table_outputs."""
        empty = view.store_is_empty
        return [_frame(view.rows), view.caption(), view.page, view.page + 1, view.ids, view.filter,
                gr.update(visible=empty) if empty is not None else gr.update()]

    def render(self, flt: ExampleFilter, sort_label, page, size) -> list:
        return self.shown(review.table_view(self.db(), flt, sort_label, page, size))

    @staticmethod
    def current_filter(state) -> ExampleFilter:
        return ExampleFilter.from_dict(state or {})

    @staticmethod
    def error_result(outputs_count: int, error: Exception) -> list:
        text = f"⚠ {error}" if isinstance(error, StudioError) else f"⚠ Something went wrong: {error}"
        if not isinstance(error, StudioError):
            log.exception("curate tab")
        return [gr.update()] * outputs_count + [text]

    def on_load(self):
        choices, view = review.first_page(self.db_path)
        return [gr.update(choices=choices.families), gr.update(choices=choices.languages),
                gr.update(choices=choices.models), _frame(view.rows), view.caption(), 0, 1, view.ids, view.filter,
                gr.update(visible=choices.store_total == 0), self._actions(), self._jobs_text(),
                gr.Timer(active=self._jobs_active())]

    def apply_filters(self, *values):
        *filter_values, sort_label, size = values
        try:
            return self.render(review.build_filter(*filter_values), sort_label, 0, size) + [""]
        except (StudioError, ValueError) as error:
            return self.error_result(len(self.table_outputs), error)

    def clear_filters(self, sort_label, size):
        return [ALL, ALL, ALL, ALL, "", "", [], "positive", "", "", ""] + self.render(
            ExampleFilter(), sort_label, 0, size)

    def go_page(self, state, page, sort_label, size):
        """The same page again, as the store is now (coming back to the tab)."""
        try:
            return self.render(self.current_filter(state), sort_label, page, size) + [""]
        except StudioError as error:
            return self.error_result(len(self.table_outputs), error)

    def turn(self, how: str):
        def handler(state, page, sort_label, size):
            try:
                return self.shown(review.turn_page(self.db(), self.current_filter(state), sort_label, page, size,
                                                   how)) + [""]
            except StudioError as error:
                return self.error_result(len(self.table_outputs), error)
        return handler

    def go_numbered(self, state, number, sort_label, size):
        try:
            return self.shown(review.page_numbered(self.db(), self.current_filter(state), sort_label, number,
                                                   size)) + [""]
        except StudioError as error:
            return self.error_result(len(self.table_outputs), error)

    def fresh_choices(self):
        """The language and model filters' choices as the store is now (the demo, an import, a job)."""
        languages, models = review.stored_choices(self.db())
        return gr.update(choices=languages), gr.update(choices=models)

    # ---- the editor ----------------------------------------------------------------------------

    def editor_values(self, example) -> list:
        if example is None:
            return [None, "", "", "", "", "This example no longer exists (deleted?). Pick another row.", []]
        detail = review.example_detail(self.db(), example)
        if detail is None:
            return [None, "", "", "", "", f"Example {example} does not exist: pick a row in the table.", []]
        row = detail["row"]
        return [row["id"], row["instruction"], row["query"], row["positive"], row["negative"] or "",
                review.describe_example(detail), review.history_rows(detail)]

    def open_example(self, example):
        try:
            if example in (None, ""):
                raise StudioError("type an example id, or click a row in the table")
            return self.editor_values(int(example)) + [""]
        except StudioError as error:
            return self.error_result(len(self.editor_outputs), error)

    def select_row(self, ids, evt: gr.SelectData):
        row_index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not ids or row_index is None or row_index >= len(ids):
            return [gr.update()] * len(self.editor_outputs)
        return self.editor_values(ids[row_index])

    def moved(self, move: review.Move) -> list:
        """table_outputs + editor_outputs + [message] for a review.Move."""
        table = self.shown(move.view) if move.view else [gr.update()] * len(self.table_outputs)
        editor = self.editor_values(move.open_id) if move.open_id is not None else \
            [gr.update()] * len(self.editor_outputs)
        return table + editor + [move.note]

    def move(self, direction: int):
        def handler(current, ids, state, page, sort_label, size):
            try:
                return self.moved(review.neighbour(self.db(), current, ids, self.current_filter(state), sort_label,
                                                   page, size, direction))
            except StudioError as error:
                return self.error_result(len(self.table_outputs) + len(self.editor_outputs), error)
        return handler

    def decide(self, status_value):
        def handler(current, instruction_text, query_text, positive_text, negative_text, ids, state, page,
                    sort_label, size):
            try:
                if current in (None, ""):
                    raise StudioError("open an example first: click a row in the table")
                changes = {"instruction": instruction_text or "", "query": query_text, "positive": positive_text,
                           "negative": negative_text}
                result = curation.edit(self.db(), int(current), changes, who=WHO, status=status_value)
                note = {"accepted": "Accepted", "rejected": "Rejected", None: "Saved"}[status_value]
                note = f"{note} example {int(current)}." if result.count else f"Example {int(current)}: nothing changed."
                flt = self.current_filter(state)
                if status_value is None:
                    return self.render(flt, sort_label, page, size) + self.editor_values(int(current)) + [
                        note, self._actions()]
                move = review.after_decision(self.db(), int(current), ids, flt, sort_label, page, size)
                return self.moved(move)[:-1] + [note, self._actions()]
            except StudioError as error:
                return self.error_result(len(self.table_outputs) + len(self.editor_outputs), error) + [gr.update()]
        return handler

    # ---- bulk actions and undo -----------------------------------------------------------------

    def prepare_bulk(self, kind):
        def handler(state):
            try:
                flt = self.current_filter(state)
                matched = curation.count(self.db(), flt)
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

    def confirm_bulk(self, pending, current, state, page, sort_label, size):
        try:
            if not pending:
                raise StudioError("there is no bulk action waiting for confirmation")
            flt = ExampleFilter.from_dict(pending["filter"])
            if pending["kind"] == "delete":
                result = curation.delete(self.db(), flt, who=WHO)
            else:
                result = curation.set_status(self.db(), flt, pending["kind"], who=WHO)
            note = f"Done: {result.description}. Use Undo to revert."
            return [{}, gr.update(visible=False)] + self.render(self.current_filter(state), sort_label, page, size) + [
                note, self._actions()] + self._open_example_status(current)
        except StudioError as error:
            return [{}, gr.update(visible=False)] + self.error_result(len(self.table_outputs), error) + [
                gr.update()] * 3

    def _open_example_status(self, current) -> list:
        """The open example's summary and history as they are now (a bulk action may have changed
        its status); the text boxes keep whatever is being typed in them."""
        if current in (None, ""):
            return [gr.update(), gr.update()]
        return self.editor_values(int(current))[5:]

    def undo(self, current, state, page, sort_label, size):
        try:
            result = curation.undo_last(self.db(), who=WHO)
            editor = self.editor_values(int(current)) if current not in (None, "") else \
                [gr.update()] * len(self.editor_outputs)
            return self.render(self.current_filter(state), sort_label, page, size) + editor + [
                f"Undone: {result.description}.", self._actions()]
        except StudioError as error:
            return self.error_result(len(self.table_outputs) + len(self.editor_outputs), error) + [gr.update()]

    def _actions(self) -> pd.DataFrame:
        rows = curation.recent_actions(self.db(), 8)
        return pd.DataFrame([[r["id"], r["at"][:19].replace("T", " "), r["who"], r["description"], r["count"],
                              "yes" if r["undone_at"] else ""] for r in rows],
                            columns=["action", "when", "who", "what", "examples", "undone"])

    # ---- quality and mining jobs ---------------------------------------------------------------

    def _recent_jobs(self) -> list[dict]:
        found = []
        for kind in JOB_KINDS:
            found += job_rows.list_jobs(self.db(), kind=kind, limit=2)
        return sorted(found, key=lambda job: -job["id"])[:3]

    def _jobs_active(self) -> bool:
        jobs.reap(self.db())
        return any(job["state"] in job_rows.ACTIVE_STATES for job in self._recent_jobs())

    def _jobs_text(self) -> str:
        recent = self._recent_jobs()
        return "  \n".join(_job_line(job) for job in recent) if recent else "No quality or mining job yet."

    def launch_job(self, kind, argv) -> int:
        running = [job for job in job_rows.active_jobs(self.db()) if job["kind"] == kind]
        if running:
            raise StudioError(f"a {kind} job is already running (job {running[0]['id']}); wait for it or cancel it")
        return jobs.launch(self.db_path, kind, argv, args={"argv": argv})

    def start_quality(self, model_name, threshold, scope):
        try:
            model_name = (model_name or "").strip()
            if not model_name:
                raise StudioError("name an embedding model, e.g. minilm")
            job_id = self.launch_job("quality", ["quality", "--model", model_name, "--dup-threshold", str(threshold),
                                                 "--status", scope])
            return [f"Started quality job {job_id}.", self._jobs_text(), gr.Timer(active=True)]
        except StudioError as error:
            return [f"⚠ {error}", gr.update(), gr.update()]

    def start_mining(self, model_name, families, low, high, pool):
        try:
            model_name = (model_name or "").strip()
            if not model_name:
                raise StudioError("name an embedding model, e.g. minilm")
            if low is None or high is None or int(low) < 1 or int(high) < int(low):
                raise StudioError("the rank window needs 1 <= from <= to, e.g. 10 and 50")
            job_id = self.launch_job("mining", ["mine", "--model", model_name, "--families", families,
                                                "--rank-from", str(int(low)), "--rank-to", str(int(high)),
                                                "--pool", pool])
            return [f"Started mining job {job_id}.", self._jobs_text(), gr.Timer(active=True)]
        except StudioError as error:
            return [f"⚠ {error}", gr.update(), gr.update()]

    def cancel_job(self):
        running = [job for job in job_rows.active_jobs(self.db()) if job["kind"] in JOB_KINDS]
        if not running:
            return ["No quality or mining job is running.", self._jobs_text()]
        for job in running:
            jobs.cancel(self.db(), job["id"])
        return [f"Asked job {running[0]['id']} to stop.", self._jobs_text()]

    def poll_jobs(self):
        return [self._jobs_text(), gr.Timer(active=self._jobs_active())]

    # ---- import, export, statistics ------------------------------------------------------------

    def do_import(self, path, as_status, skip, state, sort_label, size):
        try:
            if not path:
                raise StudioError("choose a .jsonl or .csv file to import first")
            report = exchange.import_file(self.db(), path, status=as_status, skip_bad=bool(skip),
                                         skip_hint="tick “Skip bad lines” above the Import button")
            choices = review.filter_choices(self.db())
            summary = report.summary()
            return [f"✔ {summary[0].upper()}{summary[1:]}.", gr.update(choices=choices.languages),
                    gr.update(choices=choices.models)] + self.render(self.current_filter(state), sort_label, 0, size)
        except StudioError as error:
            return [f"⚠ {error}", gr.update(), gr.update()] + [gr.update()] * len(self.table_outputs)

    def do_export(self, fmt, status_value, name, filtered, state):
        try:
            target = exchange.ui_export_path(name, fmt)
            flt = self.current_filter(state) if filtered else ExampleFilter()
            report = exchange.export(self.db(), fmt, target, status=status_value, flt=flt)
            download = target
            if fmt == "hf":
                download = shutil.make_archive(str(target), "zip", root_dir=target)
            summary = report.summary()
            return [f"✔ {summary[0].upper()}{summary[1:]}.", str(download)]
        except StudioError as error:
            return [f"⚠ {error}", None]
        except OSError as error:
            return [f"⚠ The export could not be written ({error.strerror}); check the name and free disk space.", None]

    def show_stats(self):
        return stats.all_charts(self.db())

    # ---- wiring --------------------------------------------------------------------------------

    def wire(self) -> None:
        self._wire_table()
        self._wire_editor()
        self._wire_bulk()
        self._wire_jobs()
        self._wire_exchange()
        proposals_panel.wire(self.corpus_panel, self.db_path, self.example_id, self.editor_values,
                             self.editor_outputs)

    def _wire_table(self) -> None:
        ctx, table_message = self.ctx, self.table_outputs + [self.filter_message]
        ctx.blocks.load(self.on_load, outputs=[self.family, self.language, self.model] + self.table_outputs + [
            self.actions, self.job_status, self.timer], api_name="curate_load")
        ctx.blocks.load(None, js=KEYBOARD_JS)
        view_inputs = self.filter_inputs + [self.sort, self.page_size]
        self.apply_button.click(self.apply_filters, view_inputs, table_message, api_name="curate_filter")
        self.search.submit(self.apply_filters, view_inputs, table_message, api_name=False)
        for control in (self.status, self.family, self.language, self.model, self.flags, self.sort, self.page_size):
            control.input(self.apply_filters, view_inputs, table_message, api_name=False)
        paging = [self.filter_state, self.page_state, self.sort, self.page_size]
        # Coming back to the tab (say after a generation job) shows the current page as it is now.
        ctx.tab.select(self.go_page, paging, table_message, api_visibility="private")
        ctx.tab.select(self.fresh_choices, None, [self.language, self.model], api_visibility="private",
                       show_progress="hidden")
        self.clear_button.click(self.clear_filters, [self.sort, self.page_size], self.filter_inputs + self.table_outputs,
                                api_name=False)
        self.first_page_button.click(self.turn("first"), paging, table_message, api_name=False)
        self.previous_page_button.click(self.turn("previous"), paging, table_message, api_name=False)
        self.next_page_button.click(self.turn("next"), paging, table_message, api_name="curate_next_page")
        self.page_box.submit(self.go_numbered, [self.filter_state, self.page_box, self.sort, self.page_size],
                             table_message, api_name="curate_go_page")

    def _wire_editor(self) -> None:
        editor = self.editor_outputs
        self.table.select(self.select_row, [self.ids_state], editor, api_name=False)
        self.open_button.click(self.open_example, [self.example_id], editor + [self.message], api_name="curate_open")
        self.example_id.submit(self.open_example, [self.example_id], editor + [self.message], api_name=False)
        nav_inputs = [self.example_id, self.ids_state, self.filter_state, self.page_state, self.sort, self.page_size]
        moved = self.table_outputs + editor + [self.message]
        self.next_button.click(self.move(+1), nav_inputs, moved, api_name="curate_next")
        self.previous_button.click(self.move(-1), nav_inputs, moved, api_name="curate_previous")
        decide_inputs = [self.example_id, self.instruction, self.query, self.positive, self.negative, self.ids_state,
                         self.filter_state, self.page_state, self.sort, self.page_size]
        decided = moved + [self.actions]
        self.accept_button.click(self.decide("accepted"), decide_inputs, decided, api_name="curate_accept")
        self.reject_button.click(self.decide("rejected"), decide_inputs, decided, api_name="curate_reject")
        self.save_button.click(self.decide(None), decide_inputs, decided, api_name="curate_save")

    def _wire_bulk(self) -> None:
        asked = [self.bulk_state, self.confirm_box, self.confirm_text, self.bulk_message]
        self.bulk_accept.click(self.prepare_bulk("accepted"), [self.filter_state], asked,
                               api_name="curate_bulk_accept")
        self.bulk_reject.click(self.prepare_bulk("rejected"), [self.filter_state], asked,
                               api_name="curate_bulk_reject")
        self.bulk_delete.click(self.prepare_bulk("delete"), [self.filter_state], asked, api_name="curate_bulk_delete")
        self.confirm_button.click(
            self.confirm_bulk, [self.bulk_state, self.example_id, self.filter_state, self.page_state, self.sort,
                                self.page_size],
            [self.bulk_state, self.confirm_box] + self.table_outputs + [self.bulk_message, self.actions, self.info,
                                                                         self.history],
            api_name="curate_bulk_confirm")
        self.cancel_button.click(lambda: [{}, gr.update(visible=False), "Cancelled; nothing changed."], None,
                                 [self.bulk_state, self.confirm_box, self.bulk_message], api_name=False)
        self.undo_button.click(self.undo, [self.example_id, self.filter_state, self.page_state, self.sort,
                                           self.page_size],
                               self.table_outputs + self.editor_outputs + [self.bulk_message, self.actions],
                               api_name="curate_undo")

    def _wire_jobs(self) -> None:
        started = [self.job_message, self.job_status, self.timer]
        self.quality_button.click(self.start_quality, [self.job_model, self.dup_threshold, self.quality_scope],
                                  started, api_name="curate_quality")
        self.mine_button.click(self.start_mining, [self.job_model, self.mine_families, self.rank_from, self.rank_to,
                                                   self.mine_pool], started, api_name="curate_mine")
        self.cancel_job_button.click(self.cancel_job, None, [self.job_message, self.job_status], api_name=False)
        self.timer.tick(self.poll_jobs, None, [self.job_status, self.timer], api_name=False, show_progress="hidden")

    def _wire_exchange(self) -> None:
        self.import_button.click(self.do_import, [self.import_file, self.import_status, self.skip_bad,
                                                  self.filter_state, self.sort, self.page_size],
                                 [self.import_message, self.language, self.model] + self.table_outputs,
                                 api_name="curate_import")
        self.export_button.click(self.do_export, [self.export_format, self.export_status, self.export_name,
                                                  self.export_filtered, self.filter_state],
                                 [self.export_message, self.export_download], api_name="curate_export")
        self.stats_button.click(self.show_stats, None, self.charts, api_name="curate_stats")
