"""The Corpus tab: add your own documents (upload or a path on the server), list and remove corpora,
and start a corpus's jobs (grounded generation, hard-negative mining, checks). Decisions live in
studio.corpus; this module lays out and wires."""

from pathlib import Path

import gradio as gr

from storage import corpora
from storage.db import open_db
from studio.corpus import jobs as corpus_jobs
from studio.corpus.chunking import DEFAULT_CHUNK_WORDS, DEFAULT_OVERLAP_WORDS
from studio.corpus.importer import add_corpus
from studio.errors import StudioError
from studio.prompts.languages import languages
from studio.ui.llm_settings import settings_of

HEADERS = ["name", "documents", "passages", "words / overlap", "source", "added (UTC)"]
HELP = (
    "A **corpus** is your own documents: a BEIR `corpus.jsonl` (`_id`, `title`, `text`), a JSONL or CSV with a "
    "`text` column (`id` and `title` optional), or a `.zip` (or a folder on the server) of `.txt`, `.md`, `.html` "
    "and `.pdf` files. Documents are split into passages of N words overlapping by M; a repeated passage is stored "
    "once. Then: **Generate queries** has the LLM write queries for sampled passages (the passage is the positive), "
    "**Mine negatives** picks hard negatives from the corpus, **Check** flags examples (not found, copied, wrong "
    "language, off length; with the judge, proposals to review in Curate)."
)
EMPTY = "No corpora yet: upload a file or give a path on the server, then press **Add corpus**."


def corpus_rows(db_path) -> list[list]:
    return [[row["name"], row["documents"], row["passages"], f"{row['chunk_words']} / {row['overlap_words']}",
             row["source"], row["created_at"][:16].replace("T", " ")] for row in corpora.list_corpora(open_db(db_path))]


def listing(db_path, chosen=None):
    rows = corpus_rows(db_path)
    names = [row[0] for row in rows]
    value = chosen if chosen in names else (names[0] if names else None)
    return (rows, gr.update(visible=not rows), gr.update(choices=names, value=value),
            corpus_jobs.jobs_status(open_db(db_path), value))


def build(ctx):
    db_path = ctx.db_path
    gr.Markdown(HELP, elem_classes=["help-text"])
    empty = gr.Markdown(EMPTY, elem_classes=["empty-state"])
    with gr.Row():
        with gr.Column(scale=3):
            upload = gr.File(label="Upload a corpus", file_types=[".zip", ".jsonl", ".csv", ".txt", ".md", ".html",
                                                                   ".pdf"], elem_id="corpus-upload")
            server_path = gr.Textbox(label="…or a path on the server", placeholder="/data/docs or /data/corpus.jsonl")
            with gr.Row():
                name = gr.Textbox(label="Name (default: the file's name)", elem_id="corpus-name")
                chunk = gr.Number(DEFAULT_CHUNK_WORDS, label="Words per passage", precision=0, minimum=1)
                overlap = gr.Number(DEFAULT_OVERLAP_WORDS, label="Overlap (words)", precision=0, minimum=0)
        with gr.Column(scale=2):
            add_button = gr.Button("Add corpus", variant="primary")
            add_result = gr.Markdown(elem_id="corpus-add-result")
    table = gr.Dataframe(headers=HEADERS, interactive=False, label="Corpora", wrap=True)
    with gr.Row():
        chosen = gr.Dropdown([], label="Corpus", scale=2)
        remove_button = gr.Button("Remove corpus", variant="stop", scale=1)
        remove_result = gr.Markdown()
    with gr.Accordion("Generate queries from passages", open=True):
        gr.Markdown("Samples passages across documents; the LLM (set in the Generate tab) writes K queries per "
                    "passage of mixed types. Leave the task empty to let the LLM propose one from five passages. "
                    "For queries in another language, summarising each passage first (in English) helps.",
                    elem_classes=["help-text"])
        with gr.Row():
            passages = gr.Number(20, label="Passages (N)", precision=0, minimum=1)
            per_passage = gr.Number(2, label="Queries per passage (K)", precision=0, minimum=1, maximum=20)
            instruction = gr.Textbox(label="Task (instruction)", placeholder="Given a customer question, retrieve …",
                                     scale=3)
        with gr.Row():
            query_types = gr.Textbox("a question:3, a keyword search:2, a claim to check:1, a how-to request:1",
                                     label="Query types with weights", scale=3)
            language = gr.Dropdown([item.name for item in languages()], value="English", label="Language of the queries",
                                   scale=1)
            summarise = gr.Checkbox(False, label="Summarise each passage first", scale=1)
        with gr.Row():
            generate_button = gr.Button("Generate queries", variant="primary")
            generate_result = gr.Markdown()
    with gr.Accordion("Hard negatives and checks", open=True):
        with gr.Row():
            window = gr.Textbox("10:50", label="Rank window (from:to)")
            max_ratio = gr.Number(0.95, label="Max share of the positive's score", minimum=0.01, maximum=1)
            mine_button = gr.Button("Mine negatives")
        with gr.Row():
            consistency_k = gr.Number(20, label="Positive must be in the top k", precision=0, minimum=1)
            judge = gr.Checkbox(False, label="LLM judge (proposals to review in Curate)")
            check_button = gr.Button("Check examples")
        action_result = gr.Markdown()
    job_status = gr.Markdown(elem_id="corpus-jobs")
    timer = gr.Timer(1.0)

    def add(upload_path, path, corpus_name, chunk_words, overlap_words, current):
        source = upload_path or (path or "").strip()
        try:
            if not source:
                raise StudioError("upload a file or type a path on the server")
            # An upload lives under Gradio's temporary folder: the corpus records the file's own name.
            shown = f"upload: {Path(upload_path).name}" if upload_path else None
            report = add_corpus(open_db(db_path), source, name=(corpus_name or "").strip() or None,
                                chunk=int(chunk_words or 0), overlap=int(overlap_words or 0), source=shown)
        except StudioError as error:
            return (f"⚠ Not added: {error}",) + listing(db_path, current)
        return (f"✓ Added {report.summary()}.",) + listing(db_path, report.name)

    def remove(corpus_name):
        if not corpus_name:
            return ("⚠ Choose a corpus first.",) + listing(db_path)
        done = corpora.remove_corpus(open_db(db_path), corpus_name)
        note = f"Removed corpus '{corpus_name}'." if done else f"⚠ There is no corpus '{corpus_name}' any more."
        return (note,) + listing(db_path)

    def start_generate(state, corpus_name, n, k, task, types, query_language, summarise_first):
        from studio.generation.grounded import launch_grounded, parse_query_types

        try:
            if not corpus_name:
                raise StudioError("choose a corpus first")
            parse_query_types(types)
            corpus_jobs.refuse_if_running(open_db(db_path), corpus_name, "generate")
            job_id = launch_grounded(db_path, settings_of(state), corpus_name, int(n or 0), int(k or 0),
                                     instruction=(task or "").strip() or None, query_types=types,
                                     language=query_language or "English", summarise=bool(summarise_first))
        except StudioError as error:
            return f"⚠ Not started: {error}"
        return f"Generating {int(k)} queries for each of {int(n)} passages (job {job_id})…"

    def start_mine(corpus_name, rank_window, ratio):
        try:
            if not corpus_name:
                raise StudioError("choose a corpus first")
            corpus_jobs.refuse_if_running(open_db(db_path), corpus_name, "mining")
            job_id = corpus_jobs.launch_mine(db_path, corpus_name, (rank_window or "").strip(), float(ratio or 0))
        except StudioError as error:
            return f"⚠ Not started: {error}"
        return f"Mining negatives from '{corpus_name}' (job {job_id})…"

    def start_check(state, corpus_name, k, with_judge):
        try:
            if not corpus_name:
                raise StudioError("choose a corpus first")
            corpus_jobs.refuse_if_running(open_db(db_path), corpus_name, "check")
            job_id = corpus_jobs.launch_check(db_path, settings_of(state), corpus_name, int(k or 0), bool(with_judge))
        except StudioError as error:
            return f"⚠ Not started: {error}"
        return f"Checking the examples of '{corpus_name}' (job {job_id})…"

    list_outputs = [table, empty, chosen, job_status]
    add_button.click(add, [upload, server_path, name, chunk, overlap, chosen], [add_result] + list_outputs,
                     api_name="corpus_add")
    remove_button.click(remove, [chosen], [remove_result] + list_outputs, api_name="corpus_remove")
    generate_button.click(start_generate, [ctx.llm_settings, chosen, passages, per_passage, instruction, query_types,
                                           language, summarise],
                          [generate_result], api_name="corpus_generate")
    mine_button.click(start_mine, [chosen, window, max_ratio], [action_result], api_name="corpus_mine")
    check_button.click(start_check, [ctx.llm_settings, chosen, consistency_k, judge], [action_result],
                       api_name="corpus_check")
    chosen.change(lambda c: corpus_jobs.jobs_status(open_db(db_path), c), [chosen], [job_status],
                  api_visibility="private", show_progress="hidden")
    timer.tick(lambda c: corpus_jobs.jobs_status(open_db(db_path), c), [chosen], [job_status],
               api_visibility="private", show_progress="hidden")
    ctx.blocks.load(lambda c: listing(db_path, c), [chosen], list_outputs, api_visibility="private")
    ctx.tab.select(lambda c: listing(db_path, c), [chosen], list_outputs, api_visibility="private",
                   show_progress="hidden")
