"""A setting is declared once: a dataclass field with its help text, from which the command-line
flags, a background job's argument list and the conversion of a form's values are derived (so a
field added once reaches all of them).

    @dataclass
    class Settings:
        model: str = setting(help="the model to use")              # no default: a required flag
        split: str = setting("test", help="qrels split")
        quiet: bool = setting(False, help="say less")              # --quiet
        cache: bool = setting(True, help="reuse embeddings")       # --cache / --no-cache
        langs: list[str] = setting(default_factory=list, flag="--lang", help="repeatable")

Field `max_length` becomes `--max-length` unless `flag` names another. Metadata keys: `help`,
`label` (a form's label), `flag`, `choices`, `metavar`, and `group` (fields sharing a group name
are mutually exclusive; `required_group` makes one of them required). Types: str, int, float, bool
(each optionally `| None`) and list[str] (a repeatable flag). A bool that defaults to False is an
on-flag; any other bool gets `--x` / `--no-x`.
"""

import argparse
import dataclasses
import types
import typing

from studio.errors import StudioError

REQUIRED = dataclasses.MISSING


def setting(default=REQUIRED, *, help: str, label: str | None = None, flag: str | None = None, choices=None,
            metavar: str | None = None, group: str | None = None, required_group: bool = False,
            default_factory=REQUIRED):
    """A dataclass field carrying what its command-line flag and its form control need."""
    metadata = {"help": help, "label": label, "flag": flag, "choices": choices, "metavar": metavar, "group": group,
                "required_group": required_group}
    if default_factory is not REQUIRED:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag(field: "dataclasses.Field | str") -> str:
    """The flag of a field (or of a field name): `--field-name` unless the field names its own."""
    if isinstance(field, str):
        return "--" + field.replace("_", "-")
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def label(field: dataclasses.Field) -> str:
    return field.metadata.get("label") or field.name.replace("_", " ").capitalize()


def kind(cls, name: str) -> tuple[type, bool]:
    """(type, whether None is allowed) of field `name`; the type is str, int, float, bool or list."""
    hint = typing.get_type_hints(cls)[name]
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = typing.get_args(hint)
        optional = type(None) in args
        hint = next(arg for arg in args if arg is not type(None))
    return (list if typing.get_origin(hint) is list else hint), optional


def default_of(field: dataclasses.Field):
    """The field's default value (a fresh one for a factory), None for a required field."""
    if field.default_factory is not REQUIRED:
        return field.default_factory()
    return None if field.default is REQUIRED else field.default


def _required(field: dataclasses.Field) -> bool:
    return field.default is REQUIRED and field.default_factory is REQUIRED


def add_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """One flag per field of `cls` (a dataclass declared with `setting`)."""
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for field in dataclasses.fields(cls):
        meta = field.metadata
        target = parser
        if meta.get("group"):
            if meta["group"] not in groups:
                groups[meta["group"]] = parser.add_mutually_exclusive_group(required=meta.get("required_group", False))
            target = groups[meta["group"]]
        base, _ = kind(cls, field.name)
        options = {"dest": field.name, "help": (meta.get("help") or "").replace("%", "%%")}
        if base is bool:
            if field.default is False:
                target.add_argument(flag(field), action="store_true", **options)
            else:
                target.add_argument(flag(field), action=argparse.BooleanOptionalAction, default=default_of(field),
                                    **options)
            continue
        if _required(field):
            options["required"] = True
        else:  # a list's default stays None: argparse would append to the default list itself
            options["default"] = None if base is list else field.default
        for key in ("choices", "metavar"):
            if meta.get(key):
                options[key] = meta[key]
        if base is list:
            target.add_argument(flag(field), action="append", **options)
        else:
            target.add_argument(flag(field), type=base, **options)


def from_namespace(cls, namespace: argparse.Namespace, **overrides):
    """The settings object the parsed flags describe (a repeatable flag never given: its default)."""
    values = {}
    for field in dataclasses.fields(cls):
        value = getattr(namespace, field.name)
        values[field.name] = default_of(field) if value is None and field.default_factory is not REQUIRED else value
    return cls(**{**values, **overrides})


def to_argv(settings) -> list[str]:
    """The flags that reproduce `settings` (defaults left out), for a job's command line."""
    argv = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if not _required(field) and value == default_of(field):
            continue
        if isinstance(value, bool):
            argv.append(flag(field) if value else "--no-" + flag(field)[2:])
        elif isinstance(value, list):
            for entry in value:
                argv += [flag(field), str(entry)]
        elif value is not None:
            argv += [flag(field), str(value)]
    return argv


def from_form(cls, values: dict, **overrides):
    """An instance of `cls` from a form's values (text, numbers, ticks, choices), named by field.

    Empty text means None for an optional field; "auto" does too for a choice; "on"/"off" are
    accepted for a bool. A field the form does not have keeps its default."""
    given = {field.name: _coerce(cls, field, values[field.name])
             for field in dataclasses.fields(cls) if field.name in values}
    return cls(**{**given, **overrides})


def _coerce(cls, field: dataclasses.Field, value):
    base, optional = kind(cls, field.name)
    if isinstance(value, str):
        value = value.strip()
        if optional and value in ("", "auto"):
            return None
    if value is None:
        if optional:
            return None
        if base is list:
            return []
        raise StudioError(f"{label(field)} needs a value")
    try:
        if base is bool:
            return {"on": True, "off": False}.get(value, value) if isinstance(value, str) else bool(value)
        if base is list:
            return [str(v) for v in value]
        if base is int:
            number = float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        return base(value)
    except (TypeError, ValueError):
        raise StudioError(f"{label(field)} needs {'a whole number' if base is int else 'a number'}, "
                          f"not {value!r}") from None
