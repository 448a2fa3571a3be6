"""Which instruction a model's queries get when it is evaluated, so that what is measured is what ships.

A model exported by the studio (or any sentence-transformers folder) carries its query prompt in
`config_sentence_transformers.json` (`prompts.query`, e.g. `Instruct: {task}\\nQuery: `), which
sentence-transformers' `encode_query` puts before every query. The evaluation does the same by
default. In order of precedence:
1. `no_instruction`: queries as they are;
2. `instruction`: one typed instruction for every query (`Instruct: {text}\\nQuery: {query}`);
3. on a dataset whose queries carry task instructions (a run's held-out set), each query's own,
   for a model trained with instructions;
4. the model's saved query prompt, written before each query exactly as saved;
5. nothing.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from studio.embedding.query import QUERY_TEMPLATE

GIVEN, SAVED, PER_QUERY, NONE = "given", "saved prompt", "per query", "none"
PROMPT_HEAD, PROMPT_TAIL = QUERY_TEMPLATE.split("{instruction}")[0], QUERY_TEMPLATE.split("{instruction}")[1]


def prompt_for(instruction: str) -> str:
    """The text written before each query for an instruction: `Instruct: {instruction}\\nQuery: `."""
    return QUERY_TEMPLATE.format(instruction=instruction.strip(), query="")


def instruction_in_prompt(prompt: str) -> str:
    """The instruction inside a prompt of the studio's form, or the whole prompt when it has another form."""
    tail = PROMPT_TAIL.format(query="")
    if prompt.startswith(PROMPT_HEAD) and prompt.endswith(tail):
        return prompt[len(PROMPT_HEAD):len(prompt) - len(tail)]
    return prompt


def saved_query_prompt(model_name: str) -> str | None:
    """The model folder's saved `query` prompt (sentence-transformers' config), or None."""
    from studio.model_registry import resolve_model

    try:
        resolved = resolve_model(model_name)
    except Exception:  # an unknown name: whoever loads it says why
        return None
    if not resolved.is_local:
        return None
    config_file = Path(resolved.path) / "config_sentence_transformers.json"
    if not config_file.is_file():
        return None
    try:
        prompt = (json.loads(config_file.read_text(encoding="utf-8")).get("prompts") or {}).get("query")
    except (OSError, ValueError, AttributeError):
        return None
    return prompt or None


@dataclass(frozen=True)
class QueryInstruction:
    """What the queries of one evaluation get."""
    source: str               # GIVEN, SAVED, PER_QUERY or NONE
    text: str | None = None   # the instruction (or a foreign saved prompt) used for every query
    saved_prompt: str = ""    # SAVED: the prompt exactly as saved (written before each query)

    @property
    def prompt(self) -> str:
        """The text before every query (PER_QUERY: see prompt_of)."""
        if self.source == GIVEN:
            return prompt_for(self.text)
        if self.source == SAVED:
            return self.saved_prompt
        return ""

    def prompt_of(self, dataset, query_id: str) -> str:
        if self.source == PER_QUERY:
            own = dataset.instructions.get(query_id)
            return prompt_for(own) if own and own.strip() else ""
        return self.prompt

    @property
    def label(self) -> str:
        """One line for people: what the queries got."""
        if self.source == NONE:
            return "none"
        if self.source == PER_QUERY:
            return "each query's own task instruction"
        origin = "the model's saved prompt" if self.source == SAVED else "typed"
        return f"“{self.text}” ({origin})"

    def to_details(self) -> dict:
        return {"instruction_source": self.source, "query_instruction": self.text}


def saved(prompt: str) -> QueryInstruction:
    return QueryInstruction(SAVED, instruction_in_prompt(prompt), saved_prompt=prompt)


def choose(model_name: str, dataset, *, instruction: str | None = None, no_instruction: bool = False,
           trained_with_instructions: bool = False) -> QueryInstruction:
    """The instruction rule of this module's docstring, for one model on one dataset."""
    if no_instruction:
        return QueryInstruction(NONE)
    if instruction and instruction.strip():
        return QueryInstruction(GIVEN, instruction.strip())
    if trained_with_instructions and dataset.instructions:
        return QueryInstruction(PER_QUERY)
    prompt = saved_query_prompt(model_name)
    if prompt:
        return saved(prompt)
    return QueryInstruction(NONE)


def of_details(details: dict) -> tuple[str, str | None]:
    """(source, text) recorded with a stored evaluation; older rows recorded only 'none'/'per query'/'one'."""
    if "instruction_source" in details:
        return details["instruction_source"], details.get("query_instruction")
    return {"none": (NONE, None), "per query": (PER_QUERY, None)}.get(details.get("instructions"), ("unknown", None))


__all__ = ["GIVEN", "NONE", "PER_QUERY", "SAVED", "QueryInstruction", "choose", "instruction_in_prompt",
           "of_details", "prompt_for", "saved", "saved_query_prompt"]
