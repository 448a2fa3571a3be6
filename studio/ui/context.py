"""What every tab is built with."""

from dataclasses import dataclass
from typing import Any


@dataclass
class UIContext:
    db_path: str
    # gr.State holding the session's LLM settings (base URL, model, API key, concurrency).
    # It lives on the server, per browser session: a typed key never reaches the database.
    llm_settings: Any = None
    # The gr.Blocks being built: tabs register page-load handlers with ctx.blocks.load(...).
    blocks: Any = None
    # The gr.Tab this tab is built in: tabs refresh on ctx.tab.select(...) when a person comes back.
    tab: Any = None
