"""The Templates tab: edit a family's prompt templates, see the exact prompt, keep a history."""

import gradio as gr

from studio.prompts import versions as store
from storage.db import open_db
from studio.errors import StudioError
from studio.prompts.families import FAMILIES, load_family, placeholder_rows
from studio.prompts.templates import make_rng, render_body, version_diff
from studio.ui import corpus_templates_panel

HELP = (
    "**How it works.** Pick a task family and a template kind. *Brainstorm* templates ask the LLM for "
    "candidate tasks; *generate* templates ask for one example of a task (several variants are mixed "
    "at random). Write `{{ placeholder }}` where a sampled value goes; only the placeholders listed on "
    "the right, `{% if %}` and a few filters are allowed. **Render** shows the exact text that would be "
    "sent for a seed; **Save** validates and stores a new version, which becomes active."
)


def _kinds(family_name: str) -> list[str]:
    return ["brainstorm", "generate"] if load_family(family_name).has_brainstorm else ["generate"]


def _variants(db_path, family_name: str, kind: str) -> list[str]:
    return [row["variant"] for row in store.active_templates(open_db(db_path), family_name, kind)]


def _history_rows(db_path, family_name, kind, variant) -> list[list]:
    rows = store.history(open_db(db_path), family_name, kind, variant)
    return [[row["version"], "✓" if row["active"] else "", row["source"], row["note"] or "", row["created_at"][:19],
             row["id"]] for row in rows]


def _family_info(family_name: str) -> str:
    family = load_family(family_name)
    keys = ", ".join(f"`{key}`" for key in family.output_keys)
    extra = f" Training instruction: *{family.instruction}*" if family.instruction else \
        " The training instruction is the brainstormed task."
    return f"**{family.title}.** {family.description}\n\nOutput keys the LLM must return: {keys}.{extra}"


def _placeholder_table(family_name: str, kind: str) -> str:
    rows = placeholder_rows(load_family(family_name)) if kind == "generate" else []
    if kind == "generate" and load_family(family_name).has_brainstorm:
        rows.insert(0, ["task", "a task from the Tasks tab", "each active task in turn"])
    if kind == "brainstorm":
        rows = [["n", "how many tasks to ask for", "20 per call"]]
    lines = ["**Placeholders** (values are drawn at random for every prompt)", "",
             "| name | values | weights |", "|---|---|---|"]
    lines += [f"| `{name}` | {values} | {weights} |" for name, values, weights in rows]
    return "\n".join(lines)


def load_editor(db_path, family_name, kind, variant):
    """Everything the tab shows for one (family, kind, variant)."""
    kinds = _kinds(family_name)
    kind = kind if kind in kinds else kinds[0]
    variants = _variants(db_path, family_name, kind)
    variant = variant if variant in variants else variants[0]
    active = store.active_template(open_db(db_path), family_name, kind, variant)
    return (
        gr.update(choices=kinds, value=kind),
        gr.update(choices=variants, value=variant),
        active["body"],
        _family_info(family_name),
        _placeholder_table(family_name, kind),
        _history_rows(db_path, family_name, kind, variant),
        f"Editing version {active['version']} ({active['source']}), active.",
    )


def render_preview(db_path, family_name, kind, variant, body, seed):
    """Render the editor's text with the placeholders drawn for this seed."""
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        return "", {}, "The seed must be a whole number."
    active = store.active_template(open_db(db_path), family_name, kind, variant)
    try:
        text, values = render_body(family_name, kind, body, make_rng(seed))
    except StudioError as error:
        return "", {}, f"⚠ Cannot render: {error}"
    saved = active is not None and active["body"].rstrip() == (body or "").rstrip()
    note = "This is the saved, active version." if saved else "Preview of unsaved edits: save to make it active."
    return text, values, note


def save(db_path, family_name, kind, variant, body, note):
    try:
        row = store.save_template(open_db(db_path), family_name, kind, variant, body, note=note or None)
    except StudioError as error:
        # The reason may end a sentence of its own (Jinja's do): one full stop, not two.
        return f"⚠ Not saved: {str(error).rstrip('.')}. The previous version stays active.", gr.update()
    message = f"Saved as version {row['version']} of {family_name} / {kind} / {row['variant']}; it is now active."
    return message, _history_rows(db_path, family_name, kind, row["variant"])


def show_diff(db_path, family_name, kind, variant, version_id):
    db = open_db(db_path)
    old = store.get_version(db, int(version_id)) if version_id else None
    active = store.active_template(db, family_name, kind, variant)
    if old is None or active is None:
        return "Pick a version in the history to compare it with the active one."
    diff = version_diff(old["body"], active["body"], f"version {old['version']}", f"active (version {active['version']})")
    return f"```diff\n{diff.rstrip()}\n```" if diff else f"Version {old['version']} is identical to the active version."


def revert(db_path, family_name, kind, variant, version_id):
    if not version_id:
        return "Pick a version in the history first.", gr.update(), gr.update()
    try:
        row = store.revert_to(open_db(db_path), int(version_id))
    except StudioError as error:
        return f"⚠ {error}", gr.update(), gr.update()
    return (f"Saved as version {row['version']} ({row['note']}); it is active.", row["body"],
            _history_rows(db_path, family_name, kind, variant))


def reset(db_path, family_name, kind, variant):
    try:
        row = store.reset_to_default(open_db(db_path), family_name, kind, variant)
    except StudioError as error:
        return f"⚠ {error}", gr.update(), gr.update()
    return (f"Reset to the bundled default (version {row['version']}).", row["body"],
            _history_rows(db_path, family_name, kind, variant))


def unsaved_hint(db_path, family_name, kind, variant, body) -> str:
    """A line while the editor's text differs from the active version; empty when it does not."""
    active = store.active_template(open_db(db_path), family_name, kind, variant)
    if active is None or active["body"].rstrip() == (body or "").rstrip():
        return ""
    return (f"**Unsaved changes**: the editor differs from the active version {active['version']}. "
            "*Save as new version* keeps them; choosing another template drops them.")


def build(ctx) -> None:
    db_path = ctx.db_path
    gr.Markdown(HELP, elem_classes=["help-text"])
    with gr.Row():
        family = gr.Dropdown(list(FAMILIES), value=FAMILIES[0], label="Task family", scale=2)
        kind = gr.Radio(["brainstorm", "generate"], value="generate", label="Template kind", scale=2)
        variant = gr.Dropdown(["v1"], value="v1", label="Variant", allow_custom_value=False, scale=1,
                              info="Generation variants are drawn at random for diversity.")
    family_info = gr.Markdown()
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            editor = gr.Code(label="Template (Jinja, sandboxed)", language="jinja2", lines=18, interactive=True,
                             wrap_lines=True, elem_id="template-editor")
            unsaved = gr.Markdown(elem_id="template-unsaved")
            status = gr.Markdown(elem_id="template-status")
            with gr.Row():
                note = gr.Textbox(label="Note for this version (optional)", scale=3)
                save_button = gr.Button("Save as new version", variant="primary", scale=1)
        with gr.Column(scale=2):
            placeholders = gr.Markdown(elem_id="template-placeholders")
            with gr.Row():
                seed = gr.Number(value=7, precision=0, label="Seed", info="Same seed, same prompt.", scale=1)
                render_button = gr.Button("Render", scale=1)
                new_seed_button = gr.Button("New seed", scale=1)
            render_note = gr.Markdown(elem_id="render-note")
            rendered = gr.Textbox(label="Exact prompt that will be sent", lines=12, interactive=False,
                                  buttons=["copy"], elem_id="rendered-prompt")
            sampled = gr.JSON(label="Sampled placeholder values")
    with gr.Accordion("History, diff, revert and reset", open=False):
        gr.Markdown("Each save is a new version; the newest active one is used. Pick a version to compare "
                    "it with the active text or to make it active again.", elem_classes=["help-text"])
        history = gr.Dataframe(headers=["version", "active", "source", "note", "saved (UTC)", "id"],
                               interactive=False, label="Versions")
        with gr.Row():
            version_pick = gr.Number(label="Version id (click a row)", value=None, precision=0, scale=1)
            diff_button = gr.Button("Diff with active", scale=1)
            revert_button = gr.Button("Revert to this version", scale=1)
            reset_button = gr.Button("Reset to bundled default", variant="stop", scale=1)
        diff_view = gr.Markdown()

    selectors = [family, kind, variant]
    loaded = [kind, variant, editor, family_info, placeholders, history, status]
    load = lambda f, k, v: load_editor(db_path, f, k, v)  # noqa: E731
    # The preview shows what would be sent for the editor's text and the seed: rendered whenever a
    # template is opened, saved, reverted or reset, and on demand for edits.
    preview_inputs, preview_outputs = [family, kind, variant, editor, seed], [rendered, sampled, render_note]
    preview = lambda f, k, v, b, s: render_preview(db_path, f, k, v, b, s)  # noqa: E731

    def then_preview(event):
        event.then(preview, preview_inputs, preview_outputs, api_visibility="private", show_progress="hidden")

    then_preview(family.change(load, selectors, loaded, api_name="template_load"))
    then_preview(kind.input(load, selectors, loaded, api_visibility="private"))
    then_preview(variant.input(load, selectors, loaded, api_visibility="private"))
    gr.on([render_button.click, seed.submit], preview, preview_inputs, preview_outputs, api_name="template_render")
    then_preview(new_seed_button.click(lambda: make_rng(None).randrange(1_000_000), None, seed,
                                       api_visibility="private"))
    then_preview(save_button.click(lambda f, k, v, b, n: save(db_path, f, k, v, b, n),
                                   [family, kind, variant, editor, note], [status, history], api_name="template_save"))

    def pick_version(rows, event: gr.SelectData):
        return rows.iloc[event.index[0]]["id"] if event.index is not None else None

    history.select(pick_version, history, version_pick, api_visibility="private")
    diff_button.click(lambda f, k, v, i: show_diff(db_path, f, k, v, i), [family, kind, variant, version_pick],
                      diff_view, api_name="template_diff")
    then_preview(revert_button.click(lambda f, k, v, i: revert(db_path, f, k, v, i),
                                     [family, kind, variant, version_pick], [status, editor, history],
                                     api_name="template_revert"))
    then_preview(reset_button.click(lambda f, k, v: reset(db_path, f, k, v), selectors, [status, editor, history],
                                    api_name="template_reset"))
    then_preview(ctx.blocks.load(load, selectors, loaded, api_visibility="private"))
    # Any change of the editor's text (typing, loading, save, revert, reset) says whether it is saved.
    editor.change(lambda f, k, v, b: unsaved_hint(db_path, f, k, v, b), selectors + [editor], unsaved,
                  api_name="template_unsaved", show_progress="hidden", trigger_mode="always_last")
    save_button.click(lambda f, k, v, b: unsaved_hint(db_path, f, k, v, b), selectors + [editor], unsaved,
                      api_visibility="private", show_progress="hidden")
    corpus_load, corpus_inputs, corpus_outputs = corpus_templates_panel.build(db_path)
    ctx.blocks.load(corpus_load, corpus_inputs, corpus_outputs, api_visibility="private")
