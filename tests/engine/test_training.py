"""The seeded BLOOM training run that makes a real checkpoint series, and extracting it with
--checkpoints."""

import json
import runpy
from pathlib import Path

import pytest
from click.testing import CliRunner

from lfe.cli import main
from lfe.errors import LfeError
from lfe.models.training import TrainingSettings, default_save_steps, train_series
from lfe.store import ActivationStore
from tests.helpers import parallel_rows, write_tsv

TEXTS = [
    text for _, _, text in parallel_rows(langs=("en", "fr", "zh", "hi", "ar", "es"), n_sids=12)
]


def test_default_save_steps_start_at_zero_and_end_at_the_last_step() -> None:
    steps = default_save_steps(300)
    assert steps[0] == 0
    assert steps[-1] == 300
    assert steps == sorted(set(steps))
    assert len(steps) == 8


def test_training_is_seeded_and_saves_a_series_that_extracts_with_its_steps(tmp_path) -> None:
    settings = TrainingSettings(steps=6, size="tiny", seq_len=32, batch=4)
    first = train_series(TEXTS, tmp_path / "a", settings, save_steps=[0, 3, 6], progress=False)
    again = train_series(TEXTS, tmp_path / "b", settings, save_steps=[0, 3, 6], progress=False)
    assert [path.name for path in first] == ["checkpoint-0", "checkpoint-3", "checkpoint-6"]
    for a, b in zip(first, again):  # same seed, same weights
        assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (first[0] / "model.safetensors").read_bytes() != (
        first[-1] / "model.safetensors"
    ).read_bytes()
    state = json.loads((first[-1] / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    assert state["loss"] > 0
    assert state["seq_len"] == 32

    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows())
    result = CliRunner().invoke(
        main,
        [
            "extract",
            "--checkpoints",
            str(tmp_path / "a" / "checkpoint-*"),
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "run.zarr"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    store = ActivationStore.open(tmp_path / "run.zarr")
    assert store.checkpoint_names() == ["checkpoint-0", "checkpoint-3", "checkpoint-6"]
    meta = store.checkpoint("checkpoint-3").meta
    assert meta.step == 3
    assert meta.series == "a"
    assert meta.n_params > 0
    assert meta.weights_hash != store.checkpoint("checkpoint-6").meta.weights_hash


def test_bad_training_and_series_inputs(tmp_path) -> None:
    with pytest.raises(LfeError, match="save steps must lie between 0 and steps 5"):
        train_series(
            TEXTS,
            tmp_path / "x",
            TrainingSettings(steps=5, size="tiny"),
            save_steps=[0, 9],
            progress=False,
        )
    with pytest.raises(LfeError, match="steps must be positive, got 0; size 'huge' is not one of"):
        TrainingSettings(steps=0, size="huge")
    script = Path(__file__).resolve().parents[2] / "examples" / "train_tiny_bloom.py"
    example = runpy.run_path(str(script))["main"]  # its command, run here: no process to start
    corpus_file = write_tsv(tmp_path / "t.tsv", parallel_rows(n_sids=3))
    for options, message in (
        (["--steps", "0"], "Error: --steps must be positive, got 0"),
        (
            ["--steps", "5", "--save-steps", "99"],
            "Error: save steps must lie between 0 and --steps 5",
        ),
    ):
        done = CliRunner().invoke(
            example, [str(corpus_file), "--out", str(tmp_path / "t"), *options]
        )
        assert done.exit_code == 2, done.output
        assert message in done.output, done.output
        assert "Traceback" not in done.output, done.output
    with pytest.raises(LfeError, match="training needs more than seq_len"):
        train_series(
            ["short"],
            tmp_path / "y",
            TrainingSettings(steps=2, size="tiny", seq_len=64),
            progress=False,
        )
    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows())
    nothing = CliRunner().invoke(
        main,
        [
            "extract",
            "--checkpoints",
            str(tmp_path / "none-*"),
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "r.zarr"),
        ],
    )
    assert nothing.exit_code != 0
    assert "matches no directory with a config.json" in nothing.output
    both = CliRunner().invoke(
        main,
        [
            "extract",
            "model",
            "--checkpoints",
            "x*",
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "r.zarr"),
        ],
    )
    assert both.exit_code != 0
    assert "pass MODEL or --checkpoints (one of them)" in both.output
