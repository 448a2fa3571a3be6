"""The LLM settings panel (in the Generate tab) and the session state it fills.

The state (ctx.llm_settings, a gr.State) lives on the server, one per browser session. A key
typed here goes nowhere else: job processes get it through their environment.
"""

import os

import gradio as gr

from studio.generation import examples as generation
from studio.errors import StudioError
from studio.generation.llm import LLMSettings, test_connection
from studio.generation.local_llm import DESCRIPTION as LOCAL_DESCRIPTION


def settings_of(state: dict | None) -> LLMSettings:
    """The session's settings; blanks fall back to the server's environment."""
    state = state or {}
    return LLMSettings.resolve(base_url=state.get("base_url"), model=state.get("model"),
                               api_key=state.get("api_key"), concurrency=state.get("concurrency"),
                               price_prompt=state.get("price_prompt"), price_completion=state.get("price_completion"))


def describe_settings(state: dict | None) -> str:
    try:
        settings = settings_of(state)
    except StudioError as error:
        return f"⚠ {error}"
    if settings.offline:
        return f"**No endpoint set: the embedded model answers.** {LOCAL_DESCRIPTION}"
    if (state or {}).get("api_key"):
        key = "a key typed in this session"
    elif settings.api_key:
        key = "the server's OPENAI_API_KEY"
    elif os.environ.get("OPENAI_API_KEY"):
        key = "no API key (the server's key is kept for the server's own endpoint; type one for this endpoint)"
    else:
        key = "no API key"
    model = settings.model or "⚠ no model chosen (use Test connection, then pick one)"
    price = settings.price(settings.model) if settings.model else None
    cost = (f"${price[0]:g} / ${price[1]:g} per million prompt / completion tokens" if price else
            "no price known for this model (costs show as unknown until you set prices in Settings)")
    return f"Endpoint **{settings.base_url or 'api.openai.com'}**, model **{model}**, {key}; {cost}."


def save_settings(base_url, model, api_key, concurrency, price_prompt=None, price_completion=None):
    state = {"base_url": (base_url or "").strip(), "model": (model or "").strip(), "api_key": (api_key or "").strip(),
             "concurrency": int(concurrency or generation.DEFAULT_CONCURRENCY),
             # A Number box shows 0 when empty: 0 means "not set", so the built-in list applies.
             "price_prompt": price_prompt or None, "price_completion": price_completion or None}
    return state, describe_settings(state)


def check_connection(state):
    try:
        settings = settings_of(state)
        names = test_connection(settings)
    except StudioError as error:
        return f"⚠ {error}", gr.update()
    where = "the embedded model" if settings.offline else settings.base_url or "api.openai.com"
    listed = ", ".join(f"`{name}`" for name in names[:30]) or "none"
    more = f" and {len(names) - 30} more" if len(names) > 30 else ""
    return f"✓ Connected to {where}. Models: {listed}{more}.", gr.update(choices=names)


def build_settings_panel(ctx) -> None:
    with gr.Accordion("Settings: which LLM answers", open=True):
        gr.Markdown("Any OpenAI-compatible endpoint: OpenAI, Azure, vLLM, Ollama, a llama.cpp server, the "
                    "Hugging Face router. Leave the base URL and key empty to use the embedded offline model. "
                    "The key stays in this browser session only: it is never saved or logged.",
                    elem_classes=["help-text"])
        with gr.Row():
            base_url = gr.Textbox(label="Base URL", placeholder="e.g. https://api.openai.com/v1 (empty: offline model)",
                                  value=os.environ.get("OPENAI_BASE_URL", ""), scale=3, elem_id="llm-base-url")
            model = gr.Dropdown(label="Model", choices=[], value=os.environ.get("STUDIO_LLM_MODEL") or None,
                                allow_custom_value=True, scale=2, elem_id="llm-model",
                                info="Type a name or pick one after Test connection.")
        with gr.Row():
            api_key = gr.Textbox(label="API key", type="password", placeholder="sk-... (kept in this session only)",
                                 scale=3, elem_id="llm-api-key")
            concurrency = gr.Slider(1, 256, value=generation.DEFAULT_CONCURRENCY, step=1, label="Concurrency",
                                    info="Requests in flight; lower it if the endpoint answers 429.", scale=2)
        with gr.Row():
            price_prompt = gr.Number(label="$ per million prompt tokens", value=None, minimum=0,
                                     info="0: the built-in price list (OpenAI models).", scale=1)
            price_completion = gr.Number(label="$ per million completion tokens", value=None, minimum=0,
                                         info="Used for the cost estimate of each example and job.", scale=1)
        with gr.Row():
            test_button = gr.Button("Test connection", scale=1)
            settings_note = gr.Markdown(describe_settings({}), elem_id="llm-settings-note")
        connection = gr.Markdown(elem_id="llm-connection")
    fields = [base_url, model, api_key, concurrency, price_prompt, price_completion]
    gr.on([field.change for field in fields], save_settings, fields,
          [ctx.llm_settings, settings_note], api_name="settings_save")
    test_button.click(check_connection, ctx.llm_settings, [connection, model], api_name="settings_test")
