"""The Tasks tab: brainstorm candidate tasks per family, then keep, edit or reject them."""

import gradio as gr

from storage import jobs as job_rows
from storage import tasks as task_rows
from storage.db import open_db
from studio import jobs
from studio.generation.brainstorm import launch_brainstorm
from studio.errors import StudioError
from studio.prompts.families import FAMILIES, load_family
from studio.ui.llm_settings import describe_settings, settings_of

BRAINSTORM_FAMILIES = [name for name in FAMILIES if load_family(name).has_brainstorm]
HEADERS = ["id", "task", "status", "examples", "source", "model", "created (UTC)"]
HELP = (
    "A **task** is one kind of retrieval or classification need (\"given a claim, find evidence\"). "
    "**Brainstorm** asks the LLM for about 20 per call; near-identical ones are dropped. New tasks are "
    "**active**: generation uses every active task. Click a row to edit it, or to reject it (rejected "
    "tasks are kept but not used). **Cancel brainstorm** stops a running one; the tasks it already stored are "
    "kept. The sts and bitext families need no tasks."
)


def table(db_path, family, status):
    rows = task_rows.list_tasks(open_db(db_path), family, None if status == "all" else status)
    return [[r["id"], r["text"], r["status"], r["examples"], r["source"], r["model"] or "", r["created_at"][:16].replace("T", " ")]
            for r in rows]


def counts(db_path, family):
    db = open_db(db_path)
    found = task_rows.count_tasks(db).get(family, {"active": 0, "rejected": 0})
    if not found["active"] and not found["rejected"]:
        return f"No {family} tasks yet: press **Brainstorm more** to ask the LLM for some."
    return f"**{found['active']} active**, {found['rejected']} rejected {family} tasks."


def refresh(db_path, family, status):
    return table(db_path, family, status), counts(db_path, family)


def llm_line(state) -> str:
    return "LLM (change it in the Generate tab's Settings): " + describe_settings(state)


def brainstorm(db_path, state, family, n):
    try:
        n = int(n or 0)
        if not 1 <= n <= 1000:
            raise StudioError("ask for between 1 and 1000 tasks")
        db = open_db(db_path)
        jobs.reap(db)
        running = [job for job in job_rows.active_jobs(db, "brainstorm") if job["args"].get("family") == family]
        if running:
            raise StudioError(f"job {running[0]['id']} is already brainstorming {family} tasks: wait for it")
        job_id = launch_brainstorm(db_path, settings_of(state), family, n)
    except StudioError as error:
        return f"⚠ Not started: {error}."
    return f"Brainstorming {n} {family} tasks (job {job_id})…"


def latest_brainstorm(db, family) -> dict | None:
    jobs.reap(db)
    rows = [job for job in job_rows.list_jobs(db, "brainstorm", limit=20) if job["args"].get("family") == family]
    return rows[0] if rows else None


def brainstorm_status(db, family):
    """The latest brainstorm job of the family, in words; a key that changes when its tasks do;
    and whether it can still be cancelled."""
    job = latest_brainstorm(db, family)
    if job is None:
        return "", "", False
    key = f"{job['id']}:{job['state']}:{job['done']}:{job['cancel_requested']}"
    if job["state"] in job_rows.ACTIVE_STATES:
        if job["cancel_requested"]:
            return f"Job {job['id']} (running): cancelling…", key, False
        return f"Job {job['id']} (running): {job['message'] or 'starting the LLM…'}", key, True
    if job["state"] == "done":
        return f"✓ Job {job['id']}: {job['message']}.", key, False
    if job["state"] == "cancelled":
        kept = (job["stats"] or {}).get("inserted", 0)
        if not kept:
            return f"Job {job['id']} cancelled before it stored any tasks.", key, False
        return f"Job {job['id']} cancelled; the {kept} new tasks it stored are kept.", key, False
    return f"⚠ Job {job['id']} {job['state']}: {job['error'] or job['message'] or ''}", key, False


def poll(db_path, family, status, seen):
    db = open_db(db_path)
    text, key, cancellable = brainstorm_status(db, family)
    cancel = gr.update(interactive=cancellable)
    # Refresh the table only when something in it changed: tasks, or the examples counted per task.
    key += ":" + ":".join(map(str, task_rows.family_fingerprint(db, family)))
    if key == seen:
        return text, gr.update(), gr.update(), seen, cancel
    rows, summary = refresh(db_path, family, status)
    return text, rows, summary, key, cancel


def cancel_brainstorm(db_path, family):
    """Cancel the family's running brainstorm job, the same way the Generate tab cancels a job."""
    db = open_db(db_path)
    job = latest_brainstorm(db, family)
    if job is None or job["state"] not in job_rows.ACTIVE_STATES:
        return f"No {family} brainstorm is running."
    jobs.cancel(db, job["id"])
    return f"Job {job['id']} (running): cancelling…"


def select(rows, event: gr.SelectData):
    if event.index is None or rows is None or len(rows) == 0:
        return None, ""
    row = rows.iloc[event.index[0]]
    return int(row["id"]), row["task"]


def save_edit(db_path, task_id, text, family, status):
    if not task_id:
        return "Click a task in the table first.", gr.update(), gr.update()
    try:
        task = task_rows.edit_task(open_db(db_path), int(task_id), text)
    except StudioError as error:
        return f"⚠ Not saved: {error}.", gr.update(), gr.update()
    rows, summary = refresh(db_path, family, status)
    return f"Saved task {task['id']}.", rows, summary


def set_status(db_path, task_id, new_status, family, status):
    if not task_id:
        return "Click a task in the table first.", gr.update(), gr.update()
    try:
        task_rows.set_status(open_db(db_path), [int(task_id)], new_status)
    except StudioError as error:
        return f"⚠ {error}.", gr.update(), gr.update()
    rows, summary = refresh(db_path, family, status)
    verb = "rejected: generation will skip it" if new_status == "rejected" else "active: generation will use it"
    return f"Task {task_id} is {verb}.", rows, summary


def build(ctx) -> None:
    db_path = ctx.db_path
    gr.Markdown(HELP, elem_classes=["help-text"])
    with gr.Row():
        family = gr.Dropdown(BRAINSTORM_FAMILIES, value=BRAINSTORM_FAMILIES[0], label="Task family", scale=2)
        status = gr.Radio(["active", "rejected", "all"], value="all", label="Show", scale=2)
        n = gr.Number(value=20, precision=0, minimum=1, maximum=1000, label="How many new tasks", scale=1)
        with gr.Column(scale=1, min_width=160):
            brainstorm_button = gr.Button("Brainstorm more", variant="primary", elem_id="tasks-brainstorm")
            cancel_button = gr.Button("Cancel brainstorm", variant="stop", interactive=False, size="sm",
                                      elem_id="tasks-cancel")
    llm_note = gr.Markdown(elem_classes=["help-text"], elem_id="tasks-llm-note")
    brainstorm_note = gr.Markdown(elem_id="tasks-brainstorm-note")
    summary = gr.Markdown(elem_classes=["empty-state"], elem_id="tasks-summary")
    tasks = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True, max_height=420, label="Tasks",
                         column_widths=["5%", "48%", "100px", "8%", "10%", "8%", "11%"], elem_id="tasks-table")
    with gr.Row():
        task_id = gr.Number(label="Selected task id", precision=0, value=None, scale=1, interactive=False)
        text = gr.Textbox(label="Task text (edit, then Save)", lines=2, scale=5, elem_id="tasks-edit")
    with gr.Row():
        save_button = gr.Button("Save edit")
        accept_button = gr.Button("Accept (active)")
        reject_button = gr.Button("Reject", variant="stop")
    action_note = gr.Markdown(elem_id="tasks-action-note")
    seen = gr.State("")
    timer = gr.Timer(1.5)

    view = [family, status]
    gr.on([family.change, status.change], lambda f, s: refresh(db_path, f, s), view, [tasks, summary],
          api_name="tasks_list")
    brainstorm_button.click(lambda st, f, k: brainstorm(db_path, st, f, k), [ctx.llm_settings, family, n],
                            brainstorm_note, api_name="tasks_brainstorm")
    timer.tick(lambda f, s, k: poll(db_path, f, s, k), [family, status, seen],
               [brainstorm_note, tasks, summary, seen, cancel_button], api_name="tasks_poll", show_progress="hidden")
    cancel_button.click(lambda f: cancel_brainstorm(db_path, f), family, brainstorm_note, api_name="tasks_cancel")
    tasks.select(select, tasks, [task_id, text], api_visibility="private")
    save_button.click(lambda i, t, f, s: save_edit(db_path, i, t, f, s), [task_id, text, family, status],
                      [action_note, tasks, summary], api_name="tasks_edit")
    accept_button.click(lambda i, f, s: set_status(db_path, i, "active", f, s), [task_id, family, status],
                        [action_note, tasks, summary], api_name="tasks_accept")
    reject_button.click(lambda i, f, s: set_status(db_path, i, "rejected", f, s), [task_id, family, status],
                        [action_note, tasks, summary], api_name="tasks_reject")
    ctx.llm_settings.change(llm_line, ctx.llm_settings, llm_note, api_visibility="private")
    ctx.blocks.load(lambda f, s: (*refresh(db_path, f, s), llm_line({})), view, [tasks, summary, llm_note],
                    api_visibility="private")
