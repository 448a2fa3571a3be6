"""The Train tab: pick data, base model and settings; launch; watch curves and the log; cancel; resume."""

import json

import gradio as gr
import plotly.graph_objects as go
from gradio.context import Context

from storage import curation
from storage import runs as run_rows
from storage.curation import ExampleFilter
from storage.db import open_db
from studio.errors import StudioError
from studio.prompts.families import FAMILIES
from studio.training import launcher
from studio.training.config import TrainConfig

HELP = (
    "**Train an embedding model on the accepted examples.** Each query is pulled towards its positive "
    "and pushed from its hard negative and every other document in the batch (InfoNCE; temperature 0.02 by default, "
    "as in the e5-mistral paper). "
    "Training runs in the background: you can close this page and come back; it re-attaches to the "
    "running job. Cancel keeps a checkpoint; *Resume* continues a cancelled or interrupted run."
)
EMPTY = ("No training yet. Accept some examples in the **Curate** tab, pick a base model below and press "
         "**Start training**.")
READY = ("No training yet: accepted examples are ready (the data line says how many match). Pick a base model "
         "and press **Start training**; the loss curve and the log appear here while it runs.")


def _shown(value, visible: bool = True):
    """A curve, log or result where there is one to show; hidden otherwise (no empty frames)."""
    return gr.update(value=value, visible=visible)


MODELS = ["minilm", "smollm2"]


def _figure(metrics: list[dict], key: str, title: str):
    if not metrics:
        return None
    figure = go.Figure(go.Scatter(x=[m["step"] for m in metrics], y=[m[key] for m in metrics], mode="lines+markers"))
    figure.update_layout(title=title, xaxis_title="step", height=260, margin=dict(l=40, r=10, t=40, b=30))
    return figure


def _status_text(job: dict, run: dict | None, metrics: list[dict]) -> str:
    state = job["state"]
    total = (run or {}).get("config", {}).get("total_steps") or job.get("total")
    step = metrics[-1]["step"] if metrics else 0
    lines = [f"**Job {job['id']}: {state}**" + (f" — run {run['id']} ({run['name']}), base `{run['base_model']}`"
                                               if run else " — loading the model and data…")]
    if metrics:
        last = metrics[-1]
        lines.append(f"step {step}/{total or '?'} · loss {last['loss']:.4f} · lr {last['lr']:.2e} · "
                     f"{last['examples_per_s']:.1f} examples/s · {last['tokens_per_s']:.0f} tokens/s")
    if job.get("cancel_requested") and state == "running":
        lines.append("Stopping after the current step (a checkpoint is kept)…")
    if job.get("error"):
        lines.append(f"⚠ {job['error']}")
    if state == "done" and run:
        lines.append(f"Model saved in `{run['out_dir']}` (sentence-transformers layout).")
    if state in ("cancelled", "interrupted") and run:
        lines.append(f"Resume run {run['id']} from its checkpoint under *Past runs*.")
    return "\n\n".join(lines)


def current_status(db_path):
    """(status, loss curve, lr curve, log) of the running training job, or of the latest one."""
    job = launcher.active_training_job(db_path) or launcher.latest_training_job(db_path)
    if job is None:  # what to do next, and no empty frames
        accepted = curation.count(open_db(db_path), ExampleFilter(status="accepted"), cap=0)  # 0 or 1: is there one
        return READY if accepted else EMPTY, _shown(None, False), _shown(None, False), _shown("", False)
    run = run_rows.run_for_job(open_db(db_path), job["id"])
    metrics = run_rows.metrics(open_db(db_path), run["id"]) if run else []
    return (_status_text(job, run, metrics), _shown(_figure(metrics, "loss", "loss")),
            _shown(_figure(metrics, "lr", "learning rate")), _shown(launcher.log_tail(job["id"])))


def start(db_path, base_model, pooling, lora, batch_size, mini_batch, temperature, lr, max_steps, warmup_steps,
          weight_decay, max_length, seed, families, languages, heldout_share, checkpoint_every, out_dir, name):
    try:
        config = TrainConfig(
            base_model=(base_model or "").strip(), out_dir=(out_dir or "").strip() or str(launcher.default_out_dir()),
            pooling=None if pooling == "auto" else pooling, lora=bool(lora), batch_size=int(batch_size),
            mini_batch=int(mini_batch) or None, temperature=float(temperature), lr=float(lr),
            max_steps=int(max_steps) or None, warmup_steps=None if warmup_steps in (None, "") or int(warmup_steps) < 0
            else int(warmup_steps), weight_decay=float(weight_decay), max_length=int(max_length) or None,
            seed=int(seed), families=list(families or []), languages=list(languages or []),
            heldout_share=float(heldout_share), checkpoint_every=int(checkpoint_every), name=(name or "").strip() or None)
        if not config.base_model:
            raise StudioError("pick a base model (minilm, smollm2) or type a local folder")
        job_id = launcher.start_training(db_path, config)
    except StudioError as error:
        return f"⚠ Not started: {error}."
    except (TypeError, ValueError):
        return "⚠ Not started: every number field needs a number."
    return f"Started training job {job_id}; output in `{config.out_dir}`. Curves appear after the first step."


def cancel(db_path):
    job_id = launcher.cancel_training(db_path)
    if job_id is None:
        return "No training job is running."
    return f"Asked job {job_id} to stop after its current step; its checkpoint is kept."


def resume(db_path, run_id):
    if not run_id:
        return "Pick a run in the table of past runs first (click its row)."
    try:
        job_id = launcher.resume_training(db_path, int(run_id))
    except StudioError as error:
        return f"⚠ Not resumed: {error}."
    return f"Resumed run {int(run_id)} as job {job_id}."


def past_runs(db_path):
    rows = []
    for run in run_rows.list_runs(open_db(db_path)):
        metrics = run_rows.metrics(open_db(db_path), run["id"])
        rows.append([run["id"], run["name"], run["base_model"], run["state"],
                     f"{metrics[-1]['step'] if metrics else 0}/{run['config'].get('total_steps', '?')}",
                     round(metrics[-1]["loss"], 4) if metrics else None, run["data_counts"].get("train"),
                     run["created_at"][:19]])
    return rows


PICK_RUN = "Click a run in the table to see its configuration, curves and results."


def run_details(db_path, run_id):
    if not run_id:
        return PICK_RUN, _shown(None, False), _shown(None, False), _shown({}, False)
    run = run_rows.get_run(open_db(db_path), int(run_id))
    if run is None:
        return f"There is no run {int(run_id)}.", _shown(None, False), _shown(None, False), _shown({}, False)
    metrics = run_rows.metrics(open_db(db_path), run["id"])
    config = {k: v for k, v in run["config"].items() if k != "heldout_ids"}
    config["heldout_examples"] = len(run["config"].get("heldout_ids", []))
    summary = (f"**Run {run['id']} · {run['state']}** · base `{run['base_model']}` · output `{run['out_dir']}`\n\n"
               f"data: {json.dumps(run['data_counts'], ensure_ascii=False)}\n\n"
               f"```json\n{json.dumps(config, indent=1, ensure_ascii=False)}\n```")
    return (summary, _shown(_figure(metrics, "loss", f"run {run['id']}: loss")),
            _shown(_figure(metrics, "lr", "learning rate")), _shown({"evaluations": launcher.run_results(db_path, run["id"])}))


def data_preview(db_path, families, languages, heldout_share):
    try:
        preview = launcher.data_preview(db_path, list(families or []), list(languages or []), float(heldout_share))
    except (TypeError, ValueError):
        return "Set the held-out share to a number between 0 and 0.5."
    if not preview["matching"]:
        return "No accepted examples match. Accept examples in the **Curate** tab, or clear the filters."
    return (f"{preview['matching']} accepted examples match: **{preview['train']} for training** "
            f"({preview['with_negative']} with a hard negative), {preview['heldout']} held out for evaluation.")


def suggestions(base_model):
    """The settings suggested for a base model; they replace the ones shown, so the note says for which model."""
    suggested = launcher.suggested_settings(base_model or "")
    note = f"For `{base_model}`: {suggested.note}" if base_model else suggested.note
    return (suggested.lora, suggested.batch_size, suggested.mini_batch or 0, suggested.lr, suggested.max_length, note)


def build(ctx) -> None:
    db_path = ctx.db_path
    suggested = launcher.suggested_settings("minilm")
    gr.Markdown(HELP, elem_classes=["help-text"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            gr.Markdown("### Data")
            families = gr.CheckboxGroup(list(FAMILIES), label="Families", info="None ticked: all families.")
            languages = gr.Dropdown(launcher.accepted_languages(db_path), multiselect=True, label="Languages",
                                    info="Empty: all languages.", allow_custom_value=True)
            heldout = gr.Slider(0, 0.5, value=0.1, step=0.05, label="Held-out share",
                                info="Kept out of training and used to evaluate the run.")
            preview = gr.Markdown(elem_id="train-data-preview")
            gr.Markdown("### Model")
            base_model = gr.Dropdown(MODELS, value="minilm", allow_custom_value=True, label="Base model",
                                     info="minilm (encoder, fast on CPU), smollm2 (decoder, the paper's recipe "
                                          "in miniature), or a local folder.")
            with gr.Row():
                pooling = gr.Radio(["auto", "last", "mean"], value="auto", label="Pooling",
                                   info="auto: mean for encoders, last token (EOS) for decoders.")
                lora = gr.Checkbox(value=suggested.lora, label="LoRA (r=16, α=32, all linear layers)")
        with gr.Column(scale=3):
            gr.Markdown("### Settings")
            note = gr.Markdown(suggested.note, elem_classes=["help-text"], elem_id="train-suggestion")
            with gr.Row():
                batch_size = gr.Number(suggested.batch_size, precision=0, label="Batch size",
                                       info="In-batch negatives: bigger is better.")
                mini_batch = gr.Number(suggested.mini_batch or 0, precision=0, label="Mini-batch (0: off)",
                                       info="Cached negatives: memory of this many texts.")
                temperature = gr.Number(0.02, label="Temperature τ", info="Cosine ÷ τ.")
                lr = gr.Number(suggested.lr, label="Learning rate")
            with gr.Row():
                max_steps = gr.Number(0, precision=0, label="Max steps (0: one epoch)")
                warmup = gr.Number(-1, precision=0, label="Warm-up steps (-1: auto)", info="auto: min(100, 10%).")
                weight_decay = gr.Number(0.1, label="Weight decay")
                max_length = gr.Number(suggested.max_length, precision=0, label="Max length (tokens)")
            with gr.Row():
                seed = gr.Number(42, precision=0, label="Seed")
                checkpoint_every = gr.Number(50, precision=0, label="Checkpoint every (steps)")
                name = gr.Textbox(label="Run name (optional)")
                out_dir = gr.Textbox(label="Output folder (optional)", info="Default: data/runs/run-<time>.")
            with gr.Row():
                start_button = gr.Button("Start training", variant="primary")
                cancel_button = gr.Button("Cancel", variant="stop")
            action = gr.Markdown(elem_id="train-action")
    status = gr.Markdown(EMPTY, elem_id="train-status")
    with gr.Row():
        loss_plot = gr.Plot(label="Loss", visible=False)  # shown by the page load once there is a job
        lr_plot = gr.Plot(label="Learning rate", visible=False)
    log = gr.Textbox(label="Log", lines=8, max_lines=8, interactive=False, autoscroll=True, visible=False)
    with gr.Accordion("Past runs", open=True):
        gr.Markdown("Click a run to see its configuration, curves and results; resume a cancelled or "
                    "interrupted one from its checkpoint.", elem_classes=["help-text"])
        runs_table = gr.Dataframe(headers=["id", "name", "base", "state", "steps", "last loss", "train examples",
                                           "started (UTC)"], value=past_runs(db_path), interactive=False,
                                  elem_id="train-runs")
        with gr.Row():
            run_pick = gr.Number(label="Run id", precision=0, value=None)
            details_button = gr.Button("Show")
            resume_button = gr.Button("Resume from checkpoint")
        run_summary = gr.Markdown(PICK_RUN, elem_id="train-run-summary")
        with gr.Row():
            run_loss = gr.Plot(label="Loss", visible=False)
            run_lr = gr.Plot(label="Learning rate", visible=False)
        run_results = gr.JSON(label="Results", visible=False, elem_id="train-run-results")

    settings = [base_model, pooling, lora, batch_size, mini_batch, temperature, lr, max_steps, warmup, weight_decay,
                max_length, seed, families, languages, heldout, checkpoint_every, out_dir, name]
    status_outputs = [status, loss_plot, lr_plot, log]
    start_button.click(lambda *values: start(db_path, *values), settings, action, api_name="train_start")
    cancel_button.click(lambda: cancel(db_path), None, action, api_name="train_cancel")
    resume_button.click(lambda run_id: resume(db_path, run_id), run_pick, action, api_name="train_resume")
    data_inputs = [families, languages, heldout]
    gr.on([families.change, languages.change, heldout.release],
          lambda f, lang, h: data_preview(db_path, f, lang, h), data_inputs, preview, api_name="train_data_preview")
    base_model.change(suggestions, base_model, [lora, batch_size, mini_batch, lr, max_length, note],
                      api_name="train_suggest")
    details_button.click(lambda run_id: run_details(db_path, run_id), run_pick,
                         [run_summary, run_loss, run_lr, run_results], api_name="train_run_details")

    def pick_run(event: gr.SelectData, table):
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        run_id = table.iloc[row, 0] if hasattr(table, "iloc") else table[row][0]
        return int(run_id), *run_details(db_path, run_id)

    runs_table.select(pick_run, runs_table, [run_pick, run_summary, run_loss, run_lr, run_results])
    timer = gr.Timer(2.0)
    timer.tick(lambda: current_status(db_path), None, status_outputs, api_name="train_status", show_progress="hidden")
    timer.tick(lambda: past_runs(db_path), None, runs_table, api_name="train_runs", show_progress="hidden")
    # A reopened page shows the data, the running job and the past runs at once, not after a tick.
    page = Context.root_block
    page.load(lambda: current_status(db_path), None, status_outputs, show_progress="hidden")
    def data_now(f, lang, h):
        """The data line and the languages to choose from, as the accepted examples are now."""
        return data_preview(db_path, f, lang, h), gr.update(choices=launcher.accepted_languages(db_path))

    page.load(lambda f, lang, h: (past_runs(db_path), *data_now(f, lang, h)), data_inputs,
              [runs_table, preview, languages], show_progress="hidden")
    # Coming back from the Curate tab: the count of accepted examples has changed since the page loaded.
    ctx.tab.select(data_now, data_inputs, [preview, languages], api_visibility="private", show_progress="hidden")
