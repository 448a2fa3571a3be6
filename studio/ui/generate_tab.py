"""The Generate tab: LLM settings, start a generation job, watch it live, cancel or resume it.

The API key typed here is kept only in this browser session's server-side state
(ctx.llm_settings) and handed to job processes through their environment.
"""

import html

import gradio as gr

from storage.db import open_db
from storage.tasks import active_task_ids
from studio import jobs
from studio.generation import generation_jobs as generation
from studio.errors import StudioError
from studio.prompts.families import FAMILIES, load_family
from studio.generation.llm import LOCAL_MODEL
from studio.ui.llm_settings import build_settings_panel, settings_of

HELP = (
    "Generation asks the LLM for **K examples per active task**, each from a freshly sampled prompt "
    "(random template variant, length, difficulty, language...). It runs in the background: you can close "
    "this tab or restart the studio, and come back to it here. Replies that are not valid JSON of the "
    "family's shape are asked again once, then recorded as failures; duplicates are skipped."
)


def plan_hint(db_path, family_name, per_task, tasks):
    family = load_family(family_name)
    per_task = int(per_task or 0)
    if not family.has_brainstorm:
        slots = int(tasks or 0) or 1
        return f"{family.title}: needs no tasks; this makes **{slots * per_task}** examples."
    available = len(active_task_ids(open_db(db_path), family.name))
    if not available:
        return f"⚠ {family.name} has no active tasks yet: brainstorm some in the **Tasks** tab first."
    used = min(available, int(tasks)) if tasks else available
    return f"{available} active tasks; using {used} × {per_task} = **{used * per_task}** examples."


def start(db_path, state, family_name, per_task, tasks, batch_api):
    try:
        settings = settings_of(state)
        per_task = int(per_task or 0)
        tasks = int(tasks) if tasks else None
        if per_task < 1:
            raise StudioError("examples per task must be at least 1")
        family = load_family(family_name)
        if family.has_brainstorm and not active_task_ids(open_db(db_path), family.name):
            raise StudioError(f"{family.name} has no active tasks: brainstorm some in the Tasks tab first")
        if batch_api and settings.offline:
            raise StudioError("the Batch API needs an OpenAI endpoint: set one in Settings above")
        if not settings.offline and not settings.model:
            raise StudioError("choose a model in Settings first (Test connection lists them)")
        job_id = generation.launch_generate(db_path, settings, family.name, per_task, tasks,
                                            concurrency=settings.concurrency, batch_api=bool(batch_api))
    except StudioError as error:
        return f"⚠ Not started: {error}.", gr.update()
    return f"Started job {job_id}: follow it below.", job_choices(db_path, job_id)


def job_choices(db_path, selected=None):
    rows = generation.recent_jobs(open_db(db_path))
    # The label names the job, not its state: the panel below shows the live state.
    choices = [(f"#{row['id']} · {row['args'].get('family', '?')} · started {row['created_at'][:16].replace('T', ' ')}"
                + (f" · resumes #{row['resumed_from']}" if row["resumed_from"] else ""), row["id"]) for row in rows]
    value = selected if selected is not None else (rows[0]["id"] if rows else None)
    return gr.update(choices=choices, value=value)


def _bar(report) -> str:
    percent = round(100 * min(1.0, report["progress"]), 1)
    colour = {"failed": "#dc2626", "interrupted": "#d97706", "cancelled": "#6b7280"}.get(report["state"], "#2563eb")
    return (f'<div class="job-progress" style="border:1px solid var(--border-color-primary);border-radius:6px;'
            f'height:22px;position:relative;overflow:hidden"><div style="width:{percent}%;height:100%;'
            f'background:{colour};opacity:.75"></div><span style="position:absolute;inset:0;text-align:center;'
            f'font-size:13px;line-height:22px">{report["done"]} / {report["total"]} · {percent}%</span></div>')


def view(db_path, job_id):
    """Everything the job panel shows: bar, numbers, failures, and which buttons apply."""
    db = open_db(db_path)
    jobs.reap(db)  # a job whose process died shows as interrupted, even after a UI restart
    report = generation.job_report(db, int(job_id)) if job_id else None
    if report is None:
        empty = ("No generation job yet. Brainstorm tasks in the **Tasks** tab, set the LLM above, "
                 "then press **Start generation**.")
        return ("", empty, gr.update(value=[], visible=False), gr.update(interactive=False),
                gr.update(interactive=False))
    cost = f"${report['cost']:.4f}" if report["cost_known"] else "unknown (no price for this model)"
    lines = [
        f"**Job {report['id']}** · {report['family']} · **{report['state']}** · {report['mode']} · "
        f"model `{report['model']}`" + (" (the tiny offline demo model)" if report["model"] == LOCAL_MODEL else "")
        + (f" · resumes job {report['resumed_from']}" if report["resumed_from"] else ""),
        f"**{report['inserted']}** new · **{report['duplicates']}** duplicates skipped · **{report['failed']}** failed"
        f" (invalid twice) · **{report['request_errors']}** request errors",
        f"Tokens: {report['prompt_tokens']:,} prompt + {report['completion_tokens']:,} completion · cost {cost}"
        f" · {report['examples_per_s']} examples/s",
    ]
    if report["message"]:
        lines.append(f"_{html.escape(report['message'])}_")
    if report["error"]:
        lines.append(f"⚠ {html.escape(report['error'])}")
    if report["resumable"]:
        left = max(0, report["total"] - report["done"])
        lines.append(f"**{left} items left**: press **Resume** to do only those.")
    failures = [[f["reason"], f["raw"]] for f in report["failures"]]
    # The table of failures shows only when there are some: the numbers above already say "0 failed".
    return (_bar(report), "\n\n".join(lines), gr.update(value=failures, visible=bool(failures)),
            gr.update(interactive=report["cancellable"]), gr.update(interactive=report["resumable"]))


def cancel(db_path, job_id):
    if not job_id:
        return "Pick a job first."
    jobs.cancel(open_db(db_path), int(job_id))
    return f"Cancel requested for job {job_id}: it stops after the requests in flight."


def resume(db_path, state, job_id):
    if not job_id:
        return "Pick a job first.", gr.update()
    try:
        new_id = generation.launch_resume(db_path, settings_of(state), int(job_id))
    except StudioError as error:
        return f"⚠ Not resumed: {error}.", gr.update()
    return f"Job {new_id} resumes job {job_id}: it does only the remaining work.", job_choices(db_path, new_id)


def build(ctx) -> None:
    db_path = ctx.db_path
    gr.Markdown(HELP, elem_classes=["help-text"])
    build_settings_panel(ctx)

    gr.Markdown("### Generate")
    with gr.Row():
        family = gr.Dropdown(list(FAMILIES), value=FAMILIES[0], label="Task family", scale=2)
        per_task = gr.Number(value=2, precision=0, minimum=1, label="Examples per task (K)", scale=1)
        tasks = gr.Number(value=0, precision=0, minimum=0, label="Use first N tasks (0 = all)", scale=1)
        batch_api = gr.Checkbox(label="OpenAI Batch API", info="Half price, results within 24 h.", scale=1)
        start_button = gr.Button("Start generation", variant="primary", scale=1, elem_id="generate-start")
    hint = gr.Markdown(elem_id="generate-hint")
    start_note = gr.Markdown(elem_id="generate-start-note")

    gr.Markdown("### Jobs")
    with gr.Row():
        job = gr.Dropdown(label="Job", choices=[], value=None, scale=3, elem_id="generate-job")
        refresh_button = gr.Button("↻ Refresh list", scale=1)
        cancel_button = gr.Button("Cancel", variant="stop", interactive=False, scale=1, elem_id="generate-cancel")
        resume_button = gr.Button("Resume", interactive=False, scale=1, elem_id="generate-resume")
    bar = gr.HTML(elem_id="generate-progress")
    numbers = gr.Markdown(elem_id="generate-numbers")
    failures = gr.Dataframe(headers=["reason", "raw reply (start)"], label="Recent failures", interactive=False,
                            wrap=True, max_height=260, elem_id="generate-failures", visible=False)
    timer = gr.Timer(1.0)

    hint_inputs = [family, per_task, tasks]
    gr.on([family.change, per_task.change, tasks.change],
          lambda f, k, n: plan_hint(db_path, f, k, n), hint_inputs, hint, api_visibility="private")
    view_outputs = [bar, numbers, failures, cancel_button, resume_button]
    start_button.click(lambda s, f, k, n, b: start(db_path, s, f, k, n, b),
                       [ctx.llm_settings, family, per_task, tasks, batch_api], [start_note, job],
                       api_name="generate_start")
    job.change(lambda j: view(db_path, j), job, view_outputs, api_visibility="private")
    timer.tick(lambda j: view(db_path, j), job, view_outputs, api_name="generate_poll", show_progress="hidden")
    refresh_button.click(lambda j: job_choices(db_path, j), job, job, api_visibility="private")
    cancel_button.click(lambda j: cancel(db_path, j), job, start_note, api_name="generate_cancel")
    resume_button.click(lambda s, j: resume(db_path, s, j), [ctx.llm_settings, job], [start_note, job],
                        api_name="generate_resume")
    def read_again(f, k, n, j):  # the job list (keeping the chosen job) and the plan hint
        return job_choices(db_path, j), plan_hint(db_path, f, k, n)

    ctx.blocks.load(read_again, hint_inputs + [job], [job, hint], api_visibility="private")
    # Coming back to the tab: tasks may have been brainstormed, the demo loaded or a job started from
    # the command line since the page opened.
    ctx.tab.select(read_again, hint_inputs + [job], [job, hint], api_visibility="private", show_progress="hidden")
