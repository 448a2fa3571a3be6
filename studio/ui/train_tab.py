"""The Train tab: pick data, base model and settings; launch; watch curves and the log; cancel; resume."""

import json
from dataclasses import fields

import gradio as gr
import plotly.graph_objects as go

from storage import curation
from storage import runs as run_rows
from storage.curation import ExampleFilter
from storage.db import open_db
from studio import settings
from studio.errors import StudioError
from studio.prompts.families import FAMILIES
from studio.training import launcher
from studio.training.config import TrainConfig
from studio.training.export import outcome_lines

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


def _status_text(job: dict, run: dict | None, metrics: list[dict], curve: list[dict]) -> str:
    state = job["state"]
    total = (run or {}).get("config", {}).get("total_steps") or job.get("total")
    step = metrics[-1]["step"] if metrics else 0
    lines = [f"**Job {job['id']}: {state}**" + (f" — run {run['id']} ({run['name']}), base `{run['base_model']}`"
                                               if run else " — loading the model and data…")]
    if metrics:
        last = metrics[-1]
        lines.append(f"step {step}/{total or '?'} · loss {last['loss']:.4f} · lr {last['lr']:.2e} · "
                     f"{last['examples_per_s']:.1f} examples/s · {last['tokens_per_s']:.0f} tokens/s")
    if curve:
        base = curve[0]["ndcg_at_10"] if curve[0]["step"] == 0 else None
        lines.append(f"held-out nDCG@10: {curve[-1]['ndcg_at_10']:.4f} after step {curve[-1]['step']}"
                     + (f" (base model {base:.4f})" if base is not None else ""))
    if job.get("cancel_requested") and state == "running":
        lines.append("Stopping after the current step (a checkpoint is kept)…")
    if job.get("error"):
        lines.append(f"⚠ {job['error']}")
    if state == "done" and run:
        lines.append(f"Model saved in `{run['out_dir']}` (sentence-transformers layout).")
        lines.extend(outcome_lines(run.get("outcome") or {}))
    if state in ("cancelled", "interrupted") and run:
        lines.append(f"Resume run {run['id']} from its checkpoint under *Past runs*.")
    return "\n\n".join(lines)


def current_status(db_path):
    """(status, loss curve, held-out curve, lr curve, log, cancel button) of the running job, or the latest."""
    active = launcher.active_training_job(db_path)
    job = active or launcher.latest_training_job(db_path)
    cancel_button = gr.update(interactive=active is not None)
    if job is None:  # what to do next, and no empty frames
        accepted = curation.count(open_db(db_path), ExampleFilter(status="accepted"), cap=0)  # 0 or 1: is there one
        return (READY if accepted else EMPTY, _shown(None, False), _shown(None, False), _shown(None, False),
                _shown("", False), cancel_button)
    db = open_db(db_path)
    run = run_rows.run_for_job(db, job["id"])
    metrics = run_rows.metrics(db, run["id"]) if run else []
    curve = run_rows.heldout_curve(db, run["id"]) if run else []
    return (_status_text(job, run, metrics, curve), _plot(_figure(metrics, "loss", "loss")),
            _heldout_figure(curve), _plot(_figure(metrics, "lr", "learning rate")),
            _shown(launcher.log_tail(job["id"])), cancel_button)


def _plot(figure):
    """A figure shown only once it has points (no empty frames while a job loads)."""
    return _shown(figure, figure is not None)


def _heldout_figure(curve: list[dict]):
    return _plot(_figure(curve, "ndcg_at_10", "held-out nDCG@10 (step 0: the base model)"))


def start(db_path, values: dict):
    """Launch a run from the form's values, named by TrainConfig field."""
    try:
        config = launcher.config_from_form(values)
        job_id = launcher.start_training(db_path, config)
    except StudioError as error:
        return f"⚠ Not started: {error}."
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
    """(summary, loss curve, held-out curve, lr curve, results) of one past run."""
    hidden = (_shown(None, False), _shown(None, False), _shown(None, False), _shown({}, False))
    if not run_id:
        return PICK_RUN, *hidden
    db = open_db(db_path)
    run = run_rows.get_run(db, int(run_id))
    if run is None:
        return f"There is no run {int(run_id)}.", *hidden
    metrics = run_rows.metrics(db, run["id"])
    config = {k: v for k, v in run["config"].items() if k not in ("heldout_ids", "train_ids", "trained_documents")}
    config["heldout_examples"] = len(run["config"].get("heldout_ids", []))
    outcome = run.get("outcome") or {}
    summary = "\n\n".join([
        f"**Run {run['id']} · {run['state']}** · base `{run['base_model']}` · output `{run['out_dir']}`",
        *(outcome_lines(outcome) if outcome else []),
        f"data: {json.dumps(run['data_counts'], ensure_ascii=False)}",
        f"```json\n{json.dumps(config, indent=1, ensure_ascii=False)}\n```"])
    return (summary, _shown(_figure(metrics, "loss", f"run {run['id']}: loss")),
            _heldout_figure(run_rows.heldout_curve(db, run["id"])), _shown(_figure(metrics, "lr", "learning rate")),
            _shown({"evaluations": launcher.run_results(db_path, run["id"])}))


def data_preview(db_path, families, languages, heldout_share, seed=42):
    """(the data line, the query-instruction box): what will train, what is held out, the prompt saved."""
    try:
        preview = launcher.data_preview(db_path, list(families or []), list(languages or []), float(heldout_share),
                                        int(seed if seed is not None else 42))
    except (TypeError, ValueError):
        return "Set the held-out share to a number between 0 and 0.5.", gr.update()
    if not preview["matching"]:
        return ("No accepted examples match. Accept examples in the **Curate** tab, or clear the filters.",
                gr.update(placeholder="(no examples yet)"))
    line = (f"{preview['matching']} accepted examples match: **{preview['train']} for training** "
            f"({preview['with_negative']} with a hard negative), {preview['heldout']} held out for evaluation "
            f"({preview['split']}).")
    if not preview["heldout"]:
        line += "\n\n" + NO_HELDOUT.format(tasks=preview["tasks"])
    instruction = preview["query_instruction"]
    line += ("\n\nQuery prompt saved with the model: " + (f"“{instruction}”" if instruction else "none")
             + " — the most frequent instruction of the retrieval families; type another below to change it.")
    return line, gr.update(placeholder=instruction or "(no instruction)")


NO_HELDOUT = ("⚠ **Nothing will be held out**: whole tasks (and whole documents, for examples grounded in a "
              "corpus) are held out, and {tasks} of them with this share give none. The run will train on everything, its progress cannot be scored during training, "
              "and Compare will have no held-out set for it. Raise the held-out share, add examples of more "
              "tasks, or evaluate it afterwards in Compare on a BEIR folder.")


def suggestions(base_model):
    """The settings suggested for a base model; they replace the ones shown, so the note says for which model."""
    suggested = launcher.suggested_settings(base_model or "")
    note = f"For `{base_model}`: {suggested.note}" if base_model else suggested.note
    mini_batch = "" if suggested.mini_batch is None else str(suggested.mini_batch)  # empty: no caching
    return (suggested.lora, suggested.batch_size, mini_batch, suggested.lr, str(suggested.max_length), note)


def _described(name: str, **overrides) -> dict:
    """Label, help and element id of a TrainConfig field's control, from the field itself."""
    item = FIELDS[name]
    return {"label": settings.label(item), "info": item.metadata.get("help"), "elem_id": f"train-{name}",
            **overrides}


def _control(name: str, **overrides):
    """The form control of a TrainConfig field, chosen by the field's type."""
    item = FIELDS[name]
    base, optional = settings.kind(TrainConfig, name)
    default = overrides.pop("value", settings.default_of(item))
    choices = item.metadata.get("choices")
    common = _described(name, **overrides)
    if base is bool and optional:
        return gr.Radio(["auto", "on", "off"], value="auto", **common)
    if base is bool:
        return gr.Checkbox(value=default, **common)
    if choices and base is list:
        return gr.CheckboxGroup(choices, value=default, **common)
    if choices:
        return gr.Radio((["auto"] if optional else []) + choices, value=default or "auto", **common)
    if base is list:
        return gr.Dropdown([], value=default, multiselect=True, allow_custom_value=True, **common)
    if base in (int, float) and optional:  # a number box cannot be empty: empty text means "decided at run time"
        return gr.Textbox(value="" if default is None else str(default), placeholder="auto", **common)
    if base in (int, float):
        return gr.Number(value=default, precision=0 if base is int else None, **common)
    return gr.Textbox(value=default or "", **common)


FIELDS = {item.name: item for item in fields(TrainConfig)}
ROWS = [["batch_size", "mini_batch", "temperature", "lr"],
        ["max_steps", "warmup_steps", "weight_decay", "max_length"],
        ["eval_every", "keep", "seed", "checkpoint_every"],
        ["name", "out_dir"]]


def build(ctx) -> dict:
    """Lay out the tab; returns its form controls by TrainConfig field (every field has one)."""
    db_path = ctx.db_path
    suggested = launcher.suggested_settings("minilm")
    controls = {}
    gr.Markdown(HELP, elem_classes=["help-text"])
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            gr.Markdown("### Data")
            controls["families"] = gr.CheckboxGroup(list(FAMILIES), **_described("families"))
            controls["languages"] = gr.Dropdown(launcher.accepted_languages(db_path), multiselect=True,
                                                allow_custom_value=True, **_described("languages"))
            controls["heldout_share"] = gr.Slider(0, 0.5, value=0.1, step=0.05, **_described("heldout_share"))
            preview = gr.Markdown(elem_id="train-data-preview")
            controls["query_instruction"] = _control("query_instruction", placeholder="(the default shown above)")
            gr.Markdown("### Model")
            controls["base_model"] = gr.Dropdown(MODELS, value="minilm", allow_custom_value=True,
                                                 **_described("base_model", info="minilm (encoder, fast on CPU), "
                                                              "smollm2 (decoder, the paper's recipe in miniature), "
                                                              "or a local folder."))
            with gr.Row():
                controls["pooling"] = _control("pooling")
                controls["lora"] = _control("lora", value=suggested.lora, label="LoRA (r=16, α=32, all linear layers)")
        with gr.Column(scale=3):
            gr.Markdown("### Settings")
            note = gr.Markdown(suggested.note, elem_classes=["help-text"], elem_id="train-suggestion")
            for row in ROWS:
                with gr.Row():
                    for name in row:
                        controls[name] = _control(name)
            with gr.Accordion("More settings", open=False):
                rest = [name for name in FIELDS if name not in controls]
                for first in range(0, len(rest), 4):  # four to a row, as above, so no control is squeezed
                    with gr.Row():
                        for name in rest[first:first + 4]:
                            controls[name] = _control(name)
            with gr.Row():
                start_button = gr.Button("Start training", variant="primary", elem_id="train-start")
                cancel_button = gr.Button("Cancel", variant="stop", interactive=False, elem_id="train-cancel")
            action = gr.Markdown(elem_id="train-action")
    status = gr.Markdown(EMPTY, elem_id="train-status")
    with gr.Row():
        loss_plot = gr.Plot(label="Loss", visible=False)  # shown by the page load once there is a job
        heldout_plot = gr.Plot(label="Held-out nDCG@10", visible=False)
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
            run_heldout = gr.Plot(label="Held-out nDCG@10", visible=False)
            run_lr = gr.Plot(label="Learning rate", visible=False)
        run_results = gr.JSON(label="Results", visible=False, elem_id="train-run-results")

    names = list(FIELDS)
    form = [controls[name] for name in names]
    status_outputs = [status, loss_plot, heldout_plot, lr_plot, log, cancel_button]
    start_button.click(lambda *values: start(db_path, dict(zip(names, values))), form, action,
                       api_name="train_start").then(lambda: current_status(db_path), None, status_outputs,
                                                    show_progress="hidden")
    cancel_button.click(lambda: cancel(db_path), None, action, api_name="train_cancel")
    resume_button.click(lambda run_id: resume(db_path, run_id), run_pick, action, api_name="train_resume")
    data_inputs = [controls["families"], controls["languages"], controls["heldout_share"], controls["seed"]]
    data_outputs = [preview, controls["query_instruction"]]
    gr.on([controls["families"].change, controls["languages"].change, controls["heldout_share"].release,
           controls["seed"].change],
          lambda f, lang, h, seed: data_preview(db_path, f, lang, h, seed), data_inputs, data_outputs,
          api_name="train_data_preview")
    controls["base_model"].change(suggestions, controls["base_model"],
                                  [controls[n] for n in ("lora", "batch_size", "mini_batch", "lr", "max_length")]
                                  + [note], api_name="train_suggest")
    details_outputs = [run_summary, run_loss, run_heldout, run_lr, run_results]
    details_button.click(lambda run_id: run_details(db_path, run_id), run_pick, details_outputs,
                         api_name="train_run_details")

    def pick_run(event: gr.SelectData, table):
        row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
        run_id = table.iloc[row, 0] if hasattr(table, "iloc") else table[row][0]
        return int(run_id), *run_details(db_path, run_id)

    runs_table.select(pick_run, runs_table, [run_pick, *details_outputs])
    timer = gr.Timer(2.0)
    timer.tick(lambda: current_status(db_path), None, status_outputs, api_name="train_status", show_progress="hidden")
    timer.tick(lambda: past_runs(db_path), None, runs_table, api_name="train_runs", show_progress="hidden")

    # A reopened page shows the data, the running job and the past runs at once, not after a tick.
    def data_now(f, lang, h, seed):
        """The data line and the languages to choose from, as the accepted examples are now."""
        return (*data_preview(db_path, f, lang, h, seed),
                gr.update(choices=launcher.accepted_languages(db_path)))

    ctx.blocks.load(lambda: current_status(db_path), None, status_outputs, show_progress="hidden",
                    api_visibility="private")
    ctx.blocks.load(lambda *values: (past_runs(db_path), *data_now(*values)), data_inputs,
                    [runs_table, *data_outputs, controls["languages"]], show_progress="hidden",
                    api_visibility="private")
    # Coming back from the Curate tab: the count of accepted examples has changed since the page loaded.
    ctx.tab.select(data_now, data_inputs, [*data_outputs, controls["languages"]], api_visibility="private",
                   show_progress="hidden")
    return controls
