"""A setting is declared once: a dataclass field with its help text, from which the command-line
flags and a background job's argument list are derived (so a field added once reaches both).

    @dataclass
    class Settings:
        model: str = setting(help="the model to use")              # no default: a required flag
        split: str = setting("test", help="qrels split")
        quiet: bool = setting(False, help="say less")              # a bool is an on/off flag

Field `max_length` becomes `--max-length`. Metadata keys: `help`, `choices`, `metavar`, and
`group` (fields sharing a group name are mutually exclusive; `required_group` makes one of them
required).
"""

import argparse
import dataclasses
import types
import typing

REQUIRED = dataclasses.MISSING


def setting(default=REQUIRED, *, help: str, choices=None, metavar: str | None = None, group: str | None = None,
            required_group: bool = False):
    """A dataclass field carrying what its command-line flag needs."""
    metadata = {"help": help, "choices": choices, "metavar": metavar, "group": group, "required_group": required_group}
    return dataclasses.field(default=default, metadata=metadata)


def flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _value_type(cls, field: dataclasses.Field) -> type:
    """The flag's value type: `int | None` → int, `bool` → bool."""
    hint = typing.get_type_hints(cls)[field.name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


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
        kind = _value_type(cls, field)
        options = {"dest": field.name, "help": meta.get("help")}
        if kind is bool:
            if field.default is not False:
                raise TypeError(f"{cls.__name__}.{field.name}: an on/off setting must default to False")
            target.add_argument(flag(field.name), action="store_true", **options)
            continue
        required = field.default is REQUIRED and field.default_factory is REQUIRED
        if required:
            options["required"] = True
        else:
            options["default"] = field.default
        for key in ("choices", "metavar"):
            if meta.get(key):
                options[key] = meta[key]
        target.add_argument(flag(field.name), type=kind, **options)


def from_namespace(cls, namespace: argparse.Namespace):
    """The settings object the parsed flags describe."""
    return cls(**{field.name: getattr(namespace, field.name) for field in dataclasses.fields(cls)})


def to_argv(settings) -> list[str]:
    """The flags that reproduce `settings` (defaults left out), for a job's command line."""
    argv = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if field.default is not REQUIRED and value == field.default:
            continue
        if isinstance(value, bool):
            if value:
                argv.append(flag(field.name))
            continue
        argv += [flag(field.name), str(value)]
    return argv
