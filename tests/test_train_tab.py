"""The Train tab, driven through gradio_client against a studio started as `python app.py`."""

import time

import pytest

from storage import runs as run_rows
from storage.db import open_db
from tests.tiny_models import build_tiny_decoder
from tests.training_data import add_accepted_examples


@pytest.fixture(scope="module")
def train_studio(tmp_path_factory):
    from gradio_client import Client

    from tests.studio_server import running_studio

    data_dir = tmp_path_factory.mktemp("studio-data")
    decoder = build_tiny_decoder(tmp_path_factory.mktemp("decoder"))
    with running_studio(data_dir, env={"OMP_NUM_THREADS": "1"}) as studio:
        yield studio, Client(studio.url, verbose=False), decoder


def _settings(decoder, **overrides):
    """The Train tab's form values, in the order of TrainConfig's fields (the order of /train_start's inputs)."""
    from dataclasses import fields

    from studio.settings import default_of
    from studio.training.config import TrainConfig

    values = {item.name: default_of(item) for item in fields(TrainConfig)}
    values.update(base_model=str(decoder), pooling="auto", gradient_checkpointing="auto", lora=True, batch_size=8,
                  mini_batch=3, lr=1e-3, max_steps=5, seed=7, checkpoint_every=1000, out_dir="", name="ui-run",
                  query_instruction="")
    values.update(overrides)
    return list(values.values())


def _wait_status(client, text, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = client.predict(api_name="/train_status")[0]
        if text in status:
            return status
        time.sleep(0.5)
    raise AssertionError(f"status never showed {text!r}; last: {status}")


def test_empty_state_start_one_at_a_time_cancel_and_resume(train_studio):
    studio, client, decoder = train_studio
    assert "No training yet" in client.predict(api_name="/train_status")[0]
    assert "No accepted examples" in client.predict([], [], 0.1, 7, api_name="/train_data_preview")[0]
    assert "Not started" in client.predict(*_settings(decoder), api_name="/train_start")

    add_accepted_examples(studio.db_path, 40)
    assert "accepted examples are ready" in client.predict(api_name="/train_status")[0]
    assert "**36 for training**" in client.predict([], [], 0.1, 7, api_name="/train_data_preview")[0]
    assert "**16 for training**" in client.predict([], ["French"], 0.1, 7, api_name="/train_data_preview")[0]
    # The sts examples share one instruction and no task: one group, which stays in training.
    sts_only = client.predict(["sts"], [], 0.1, 7, api_name="/train_data_preview")[0]
    assert "8 accepted examples match: **8 for training**" in sts_only and "Nothing will be held out" in sts_only
    started = client.predict(*_settings(decoder), api_name="/train_start")
    assert started.startswith("Started training job")
    again = client.predict(*_settings(decoder, out_dir=str(studio.data_dir / "other")), api_name="/train_start")
    assert "already running" in again
    assert "stop after its current step" in client.predict(api_name="/train_cancel")

    status = _wait_status(client, ": cancelled")
    assert "Resume run" in status
    run = run_rows.list_runs(open_db(studio.db_path))[0]
    assert run["state"] == "cancelled" and run["name"] == "ui-run"
    table = client.predict(api_name="/train_runs")
    assert table["data"][0][3] == "cancelled"

    assert client.predict(run["id"], api_name="/train_resume").startswith(f"Resumed run {run['id']}")
    status = _wait_status(client, ": done")
    assert "step 5/5" in status and "sentence-transformers layout" in status
    summary, loss_plot, heldout_plot, lr_plot, results = client.predict(run["id"], api_name="/train_run_details")
    assert "done" in summary and '"batch_size": 8' in summary and loss_plot is not None
    assert len(run_rows.metrics(open_db(studio.db_path), run["id"])) == 5
    assert "already finished" in client.predict(run["id"], api_name="/train_resume")

    # Cancel + resume changed nothing: an uninterrupted, same-seed run gives the same loss at every step.
    import numpy as np

    from studio.training.config import TrainConfig
    from studio.training.trainer import train

    straight = train(TrainConfig(base_model=str(decoder), out_dir=str(studio.data_dir / "straight"), lora=True,
                                 batch_size=8, mini_batch=3, lr=1e-3, max_steps=5, seed=7, checkpoint_every=1000),
                     studio.db_path, log=lambda *_: None)
    db = open_db(studio.db_path)
    np.testing.assert_allclose([m["loss"] for m in run_rows.metrics(db, straight["run_id"])],
                               [m["loss"] for m in run_rows.metrics(db, run["id"])], rtol=1e-4, atol=1e-5)


def test_base_model_choice_suggests_settings_for_this_machine(train_studio):
    _, client, _ = train_studio
    lora, batch, mini, lr, max_length, note = client.predict("minilm", api_name="/train_suggest")
    assert lora is False and batch == 32 and "Scaled to this machine" in note and note.startswith("For `minilm`")
    lora, *_ = client.predict("smollm2", api_name="/train_suggest")
    assert lora is True
