"""One mapping per setting: every TrainConfig field reaches the Train tab, the job's arguments and the
trainer's config, with nothing listed by hand here."""

from dataclasses import fields

import pytest

from studio import settings
from studio.training.config import TrainConfig


def _other_value(control, item, base):
    """A form value for `item` that differs from its default, taken from the control where it offers choices."""
    default = settings.default_of(item)
    choices = [c[1] if isinstance(c, (tuple, list)) else c for c in (getattr(control, "choices", None) or [])]
    if base is list:
        return choices[:2] if choices else ["English", "French"]
    if choices:
        return next(c for c in choices if c not in (default, "auto", None))
    if base is bool:
        return not default
    as_text = str if type(control).__name__ == "Textbox" else (lambda number: number)
    if base is int:
        return as_text((default or 0) + 3)
    if base is float:
        return as_text(round((default or 0) + 0.05, 4))
    return f"value of {item.name}"


def test_every_field_round_trips_from_the_tab_through_the_job_argv_to_the_trainer_config(tmp_path):
    import gradio as gr

    from studio.cli import build_parser
    from studio.cli.training import config_from_args
    from studio.training import launcher
    from studio.ui import train_tab
    from studio.ui.context import UIContext

    db_path = str(tmp_path / "studio.db")
    from storage.db import open_db

    open_db(db_path)
    with gr.Blocks() as app:
        with gr.Tab("Train") as tab:
            controls = train_tab.build(UIContext(db_path=db_path, blocks=app, tab=tab))
    names = [item.name for item in fields(TrainConfig)]
    assert set(controls) == set(names), "every setting needs a control in the Train tab"

    values = {}
    for item in fields(TrainConfig):
        base, _ = settings.kind(TrainConfig, item.name)
        values[item.name] = _other_value(controls[item.name], item, base)
    values["out_dir"] = str(tmp_path / "out")
    expected = launcher.config_from_form(values)
    for item in fields(TrainConfig):  # the form changed every setting away from its default
        assert getattr(expected, item.name) != settings.default_of(item), item.name

    argv = launcher.job_argv(expected)
    args = build_parser().parse_args(argv + ["--db", db_path])
    assert config_from_args(args) == expected


def test_a_job_built_from_defaults_names_only_what_differs_from_them():
    from studio.training import launcher

    config = TrainConfig(base_model="minilm", out_dir="/tmp/x", lora_dropout=0.05, mask_duplicates=False,
                         gradient_checkpointing=False, families=["sts", "bitext"])
    argv = launcher.job_argv(config)
    assert argv == ["train", "--base-model", "minilm", "--out", "/tmp/x", "--lora-dropout", "0.05",
                    "--no-mask-duplicates", "--no-gradient-checkpointing", "--family", "sts", "--family", "bitext"]


def test_form_values_are_checked_with_a_one_line_reason():
    from studio.errors import StudioError
    from studio.training import launcher

    with pytest.raises(StudioError, match="Batch size needs a whole number"):
        launcher.config_from_form({"base_model": "minilm", "out_dir": "/tmp/x", "batch_size": 2.5})
    with pytest.raises(StudioError, match="base model"):
        launcher.config_from_form({"base_model": " ", "out_dir": ""})
    config = launcher.config_from_form({"base_model": "minilm", "out_dir": "", "mini_batch": None,
                                        "gradient_checkpointing": "on", "pooling": "auto"})
    assert config.mini_batch is None and config.gradient_checkpointing is True and config.pooling is None
    assert config.out_dir  # a default folder is chosen
