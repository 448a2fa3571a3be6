"""Curate's panel for an example's corpus checks and the LLM judge's proposals (accept or dismiss).

Laid out inside the Curate tab beside the editor (`layout`), wired once the tab's handlers exist
(`wire`): it follows the example open there, and after a decision reloads the editor through the
tab's own `editor_values`."""

import gradio as gr

from storage.db import open_db
from studio.corpus import proposals
from studio.corpus.review import describe, proposal_ids
from studio.errors import StudioError


class Panel:
    """The panel's components, laid out where `layout` is called (beside the editor)."""

    def __init__(self):
        with gr.Accordion("Corpus checks and proposals", open=True):
            self.view = gr.Markdown("Open an example to see its corpus checks and proposals.",
                                    elem_id="curate-proposals")
            with gr.Row():
                self.accept = gr.Button("Accept proposals", variant="primary", visible=False,
                                        elem_id="curate-proposal-accept")
                self.dismiss = gr.Button("Dismiss proposals", visible=False)
            self.note = gr.Markdown()


def layout() -> Panel:
    return Panel()


def wire(panel: Panel, db_path, example_id, editor_values, editor_outputs) -> None:
    """Follow the example open in the editor; after a decision reload the editor with `editor_values`."""

    def show(example):
        text, has_open = describe(open_db(db_path), example)
        return text, gr.update(visible=has_open), gr.update(visible=has_open)

    def decide(example, accept: bool):
        db = open_db(db_path)
        try:
            ids = proposal_ids(db, example)
            if not ids:
                raise StudioError("this example has no open proposal")
            done = proposals.accept(db, ids) if accept else proposals.dismiss(db, ids)
        except StudioError as error:
            return [gr.update()] * len(editor_outputs) + list(show(example)) + [f"⚠ {error}"]
        verb = "Accepted" if accept else "Dismissed"
        return editor_values(int(example)) + list(show(example)) + [f"{verb} {done} proposal(s)."]

    outputs = [panel.view, panel.accept, panel.dismiss]
    example_id.change(show, [example_id], outputs, api_visibility="private", show_progress="hidden")
    panel.accept.click(lambda e: decide(e, True), [example_id], editor_outputs + outputs + [panel.note],
                       api_name="curate_proposals_accept")
    panel.dismiss.click(lambda e: decide(e, False), [example_id], editor_outputs + outputs + [panel.note],
                        api_name="curate_proposals_dismiss")
