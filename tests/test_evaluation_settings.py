"""Evaluation settings are declared once (EvalSettings): every field reaches the `eval` command's flags,
a background job's argument list, and the evaluation it runs, without being written out anywhere else."""

import dataclasses
import time

import pytest

from storage import evaluations as evaluation_rows
from storage import jobs as job_rows
from storage.db import open_db
from studio.cli import build_parser
from studio.evaluation import compare
from studio.evaluation.runner import launch_evaluation
from studio.evaluation.settings import EvalSettings
from studio.settings import from_namespace
from tests.beir_files import write_beir
from tests.tiny_models import build_tiny_encoder


def other_value(field: dataclasses.Field):
    """A value unlike the field's default, of the field's type."""
    if field.metadata.get("choices"):
        return next(choice for choice in field.metadata["choices"] if choice != field.default)
    if field.type in (bool, "bool"):
        return True
    if "int" in str(field.type):
        return 7
    return f"value of {field.name}"


def test_every_field_has_help_and_round_trips_through_the_job_command_line():
    for field in dataclasses.fields(EvalSettings):
        assert field.metadata.get("help"), f"{field.name} has no help text"
        base = {"model": "minilm", "beir": "/data/scifact"}
        if field.name in ("heldout_run", "corpus"):
            base.pop("beir")
        settings = EvalSettings(**{**base, field.name: other_value(field)})
        argv = settings.job_argv()
        parsed = from_namespace(EvalSettings, build_parser().parse_args(argv))
        assert parsed == settings, (field.name, argv)


def test_the_compare_tabs_choice_reaches_the_evaluation_job_and_its_stored_result(tmp_path, db_path):
    model = str(build_tiny_encoder(tmp_path / "tiny"))
    folder = write_beir(tmp_path / "toy")
    open_db(db_path)
    settings = compare.side_settings(compare.SideRequest(model, " Find the fact ", False), str(folder), "dev")
    job_id = launch_evaluation(db_path, settings)
    db = open_db(db_path)
    deadline = time.time() + 120
    while job_rows.get_job(db, job_id)["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.3)
    assert job_rows.get_job(db, job_id)["state"] == "done", job_rows.get_job(db, job_id)
    stored = evaluation_rows.evaluation_for_job(db, job_id)
    assert stored["details"]["settings"] == dataclasses.asdict(settings)
    assert stored["split"] == "dev" and stored["details"]["query_instruction"] == "Find the fact"


def test_contradictory_settings_are_refused_in_words():
    with pytest.raises(Exception, match="not both"):
        EvalSettings(model="minilm", beir="x", instruction="a", no_instruction=True).validate()
    with pytest.raises(Exception, match="positive number"):
        EvalSettings(model="minilm", beir="x", max_length=0).validate()
