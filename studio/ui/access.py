"""Hugging Face sign-in on a Space: the button, the line saying what you may do, and the guard.

With sign-in on (studio.auth.hf_sign_in_enabled), everyone may browse; the handlers in CHANGES
(they change data, start or stop jobs, write files or use the server's LLM key) first ask
studio.auth.Editors whether the person signed in may, and otherwise answer with a sentence saying
why not. The guard wraps the handlers after the tabs are built, so the tabs stay free of it; a new
handler that changes something must be listed here (tests/test_access.py checks every name still
matches a handler).
"""

import functools
import inspect

import gradio as gr
from gradio import helpers, oauth
from gradio.context import LocalContext

from studio.auth import Editors

# A handler is named by its api_name, or "module:qualname" of its function where it has none.
CHANGES = frozenset({
    "demo_load", "help_demo_load", "demo_remove",
    "template_save", "template_revert", "template_reset",
    "tasks_brainstorm", "tasks_cancel", "tasks_edit", "tasks_accept", "tasks_reject",
    "settings_test",  # calls the endpoint with the server's key
    "generate_start", "generate_cancel", "generate_resume",
    "curate_accept", "curate_reject", "curate_save", "curate_undo",
    "curate_bulk_accept", "curate_bulk_reject", "curate_bulk_delete", "curate_bulk_confirm",
    "curate_quality", "curate_mine", "curate_import", "curate_export",
    "studio.ui.curate_tab:CurateTab.cancel_job",
    "train_start", "train_cancel", "train_resume",
    "studio.ui.compare_tab:start", "studio.ui.compare_tab:keep_upload", "compare_generate_like",
    "corpus_add", "corpus_remove", "corpus_generate", "corpus_mine", "corpus_check",
    "curate_proposals_accept", "curate_proposals_dismiss", "corpus_template_save", "corpus_template_reset",
})


def handler_names(block_fn) -> set[str]:
    fn = block_fn.fn
    target = fn.func if isinstance(fn, functools.partial) else fn
    names = {f"{getattr(target, '__module__', '')}:{getattr(target, '__qualname__', '')}"}
    if block_fn.api_name:
        names.add(block_fn.api_name)
    return names


def _signed_in() -> gr.OAuthProfile | None:
    """The profile of whoever triggered the running event, as Gradio would inject it.

    Read from the request Gradio keeps for the running event, so the guarded handlers keep their
    own signatures (and with them Gradio's injection of gr.Request, gr.SelectData, progress)."""
    session = helpers._session_from_request(LocalContext.request.get(None))
    info = oauth._get_valid_oauth_info_from_session(session) if session else None
    return gr.OAuthProfile(info["userinfo"]) if info and info.get("userinfo") else None


def orgs_of(profile: gr.OAuthProfile | None) -> list[str]:
    if profile is None:
        return []
    return [org.get("preferred_username") or org.get("name") or "" for org in profile.get("orgs") or []]


def refusal(editors: Editors) -> str | None:
    profile = _signed_in()
    return editors.refusal(profile.username if profile else None, orgs_of(profile))


def _guarded(fn, editors: Editors):
    def check():
        reason = refusal(editors)
        if reason:
            raise gr.Error(reason, title="Read-only", print_exception=False)

    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            check()
            async for item in fn(*args, **kwargs):
                yield item
    elif inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def wrapper(*args, **kwargs):
            check()
            return await fn(*args, **kwargs)
    elif inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            check()
            yield from fn(*args, **kwargs)
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            check()
            return fn(*args, **kwargs)
    return wrapper


def guard_changes(app: gr.Blocks, editors: Editors) -> set[str]:
    """Make every handler in CHANGES refuse people who are not editors; returns the names guarded."""
    guarded = set()
    for block_fn in app.fns.values():
        if block_fn.fn is None:
            continue
        matched = handler_names(block_fn) & CHANGES
        if matched:
            block_fn.fn = _guarded(block_fn.fn, editors)
            guarded |= matched
    return guarded


def build_sign_in(app: gr.Blocks, editors: Editors) -> None:
    """The sign-in button and the line under it; call inside the Blocks, above the tabs."""
    with gr.Row(elem_id="hf-sign-in"):
        gr.LoginButton(scale=0, min_width=260)
        note = gr.Markdown(elem_id="access-note")

    def describe(profile: gr.OAuthProfile | None) -> str:
        return editors.banner(profile.username if profile else None, orgs_of(profile))

    app.load(describe, outputs=note, show_progress="hidden", api_visibility="private")
