"""Reading LLM replies: a JSON object of a family's shape, or a list of brainstormed tasks.

Only `json.loads` ever touches the text; nothing is evaluated. A reply that is not what was
asked for raises ReplyError whose message is the reason recorded with the failure.
"""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\n?(.*?)```", re.DOTALL)
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,3}\s*[.):\]]|[-*•+–]|\(\d{1,3}\)|task\s*\d{1,3}\s*[:.)-])\s*", re.IGNORECASE)


class ReplyError(ValueError):
    """The reply cannot be used; str(error) is the reason."""


def _candidates(text: str) -> list[str]:
    """Pieces of the reply that may hold the JSON: fenced blocks first, then the whole text,
    then the outermost {...} or [...] span (models like to wrap JSON in prose)."""
    found = [block.strip() for block in _FENCE.findall(text)]
    found.append(text.strip())
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            found.append(text[start:end + 1])
    return found


def _load_json(text: str):
    error = None
    for candidate in _candidates(text):
        if not candidate:
            continue
        try:
            # strict=False: a raw newline inside a string is common in model output and harmless.
            return json.loads(candidate, strict=False)
        except ValueError as exc:
            error = error or exc  # the first attempt's reason is the one that explains the reply
    if error is not None:
        raise ReplyError(f"not valid JSON ({error.msg} at line {error.lineno} column {error.colno})")
    raise ReplyError("empty reply")


def parse_object(text: str | None, keys: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The reply as {key: text} for exactly `keys`; extra keys are ignored.

    Raises ReplyError for: no JSON, JSON that is not an object, a missing key, a value that is not
    a string, or a value that is empty or only whitespace.
    """
    if text is None or not text.strip():
        raise ReplyError("empty reply")
    obj = _load_json(text)
    if isinstance(obj, list) and len(obj) == 1 and isinstance(obj[0], dict):
        obj = obj[0]  # a lone object wrapped in a list is still the object asked for
    if not isinstance(obj, dict):
        raise ReplyError(f"expected a JSON object, got a JSON {type(obj).__name__}")
    result = {}
    for key in keys:
        if key not in obj:
            raise ReplyError(f"missing key {key!r}")
        value = obj[key]
        if not isinstance(value, str):
            raise ReplyError(f"key {key!r} should be a string, got {_json_type(value)}")
        if not value.strip():
            raise ReplyError(f"key {key!r} is empty")
        result[key] = value.strip()
    return result


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def parse_list(text: str | None) -> list[str]:
    """Brainstormed tasks from a JSON list (raw or fenced), an object holding one list, or
    numbered / bulleted lines. Raises ReplyError when no task can be found."""
    if text is None or not text.strip():
        raise ReplyError("empty reply")
    try:
        data = _load_json(text)
    except ReplyError:
        data = None
    if isinstance(data, dict):
        lists = [value for value in data.values() if isinstance(value, list)]
        data = lists[0] if len(lists) == 1 else None
    if isinstance(data, list):
        items = [_item_text(item) for item in data]
        items = [item for item in items if item]
        if items:
            return items
    items = _list_lines(text)
    if not items:
        raise ReplyError("no list of tasks found (expected a JSON list, or numbered or bulleted lines)")
    return items


def _item_text(item) -> str:
    if isinstance(item, str):
        return _clean(item)
    if isinstance(item, dict):
        # e.g. {"task": "..."}: take the one string field, or one named like a task
        strings = {key: value for key, value in item.items() if isinstance(value, str) and value.strip()}
        for key in ("task", "description", "text", "task_description"):
            if key in strings:
                return _clean(strings[key])
        if len(strings) == 1:
            return _clean(next(iter(strings.values())))
    return ""


def _clean(text: str) -> str:
    text = " ".join(text.replace("**", "").split())
    # A closing bracket cannot start a task, nor an opening one end it: small models leave
    # pieces of the JSON list inside its strings ("]Given a claim, ...").
    text = text.strip().rstrip(",").lstrip("])}").rstrip("[({").strip()
    quotes = "\"'“”‘’`"
    if len(text) >= 2 and text[0] in quotes and text[-1] in quotes:
        text = text[1:-1].strip()
    return text


def _list_lines(text: str) -> list[str]:
    """Lines that carry a list marker; without any, each non-empty line that reads as a sentence."""
    body = "\n".join(block for block in _FENCE.findall(text)) or text
    lines = [line for line in body.splitlines() if line.strip()]
    marked = [_clean(_LIST_MARKER.sub("", line, count=1)) for line in lines if _LIST_MARKER.match(line)]
    marked = [item for item in marked if item]
    if marked:
        return marked
    plain = [_clean(line) for line in lines]
    # An intro such as "Here are 20 tasks:" is not a task, and a lone sentence ("I cannot help
    # with that") is not a list.
    plain = [line for line in plain if line and not line.endswith(":") and len(line.split()) >= 3]
    return plain if len(plain) >= 2 else []
