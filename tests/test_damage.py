"""Every file of a finished store damaged in turn, under every command (RELIABILITY.md's campaign).

The store holds a checkpoint, its analysis and an ablation. Each file is truncated, flipped, deleted
or (metadata) made invalid JSON. Every command then either works, giving what it gives on the whole
store, or ends without a traceback (exit status 1 for `lfe check`'s findings, 2 otherwise) naming
the command that repairs it. Following that advice (the repair commands it names, in the order
given) must give back the original: the same rows, analysis and ablation table.

The default suite damages one file of each kind (group or array metadata, chunk, in each part) with
one damage, the damages taken in turn so that each is used on several kinds; LFE_DAMAGE_KINDS=1
gives each of those files every damage, LFE_DAMAGE_ALL=1 damages every file every way.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lfe.cli import main
from lfe.errors import LfeError
from lfe.store import ActivationStore
from tests.helpers import parallel_rows, write_tsv

LANGS = ("en", "fr", "zh")
DAMAGES = ("truncate", "flip", "delete", "invalid json")
# the advice a message may give, and how the test follows it (in the order the message names them)
ADVICE = {
    "lfe check --repair": "repair",
    "lfe extract": "extract",
    "lfe analyze": "analyze",
    "lfe ablate": "ablate",
}


class Pristine:
    """A finished store (extracted, analysed, ablated), its files and the commands that made it."""

    def __init__(self, root: Path, model: Path) -> None:
        self.root = root
        corpus = write_tsv(root / "c.tsv", parallel_rows(langs=LANGS, n_sids=4))
        held = root / "held"
        held.mkdir()
        for lang in LANGS:
            (held / f"{lang}.txt").write_text(
                " ".join(t for _, _, t in parallel_rows(langs=(lang,), n_sids=2))
            )
        self.made_by = {
            "extract": [
                "extract",
                str(model),
                "--corpus",
                str(corpus),
                "--name",
                "ckpt",
                "--block-rows",
                "6",
                "--stats",
                "mean,positive",
                "--quiet",
                "--out",
                "{store}",
            ],
            "analyze": [
                "analyze",
                "{store}",
                "--top-percent",
                "5",
                "--bootstrap",
                "0",
                "--null",
                "2",
                "--no-figures",
                "--quiet",
                "--out",
                "{out}",
            ],
            "ablate": [
                "ablate",
                str(model),
                "{store}",
                "--eval",
                str(held),
                "--regions",
                "en",
                "--window",
                "16",
                "--out",
                "{out}",
            ],
        }
        self.store = root / "pristine.zarr"
        for command in ("extract", "analyze", "ablate"):
            assert run(self.command(command, self.store, root / command)).exit_code == 0
        self.content = content(self.store)
        self.files = sorted(
            str(path.relative_to(self.store)) for path in self.store.rglob("*") if path.is_file()
        )

    def command(self, name: str, store: Path, out: Path) -> list[str]:
        return [arg.format(store=store, out=out) for arg in self.made_by[name]]

    def damaged_copy(self, where: Path, file: str, damage: str) -> Path:
        store = where / "run.zarr"
        shutil.copytree(self.store, store)
        harm(store / file, damage)
        return store


def run(args: list[str]):
    return CliRunner().invoke(main, args)


def harm(path: Path, damage: str) -> None:
    data = path.read_bytes()
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(
            data[: len(data) // 2]
            + bytes([data[len(data) // 2] ^ 0x24])
            + data[len(data) // 2 + 1 :]
        )
    else:
        path.write_text("{broken")


PARTS = {  # what the store holds, as a user reads it
    "pooled": lambda store: store.checkpoint("ckpt").pooled[:].tobytes(),
    "positive": lambda store: store.checkpoint("ckpt").positive[:].tobytes(),
    "norms": lambda store: np.asarray(store.checkpoint("ckpt").norms[:]).tobytes(),
    "complete": lambda store: store.checkpoint("ckpt").complete,
    "labels": lambda store: [part.tolist() for part in (*store.labels(), store.texts())],
    "analysis": lambda store: [
        np.asarray(array).tobytes() for array in vars(store.analysis_arrays("ckpt")).values()
    ],
    "record": lambda store: (store.analysis("ckpt").whole.to_dict(), store.analysis("ckpt").sklr),
    "ablation": lambda store: store.ablation("ckpt").perplexity,
}


def content(store: Path, parts=tuple(PARTS)) -> dict:
    opened = ActivationStore.open(store)
    return {part: PARTS[part](opened) for part in parts}


def cases(pristine_files: list[str]) -> list[tuple[str, str]]:
    every = [
        (file, damage)
        for file in pristine_files
        for damage in DAMAGES
        if damage != "invalid json" or file.endswith("zarr.json")
    ]
    if os.environ.get("LFE_DAMAGE_ALL"):
        return every
    # one file of each kind: where it lies, how deep, metadata or chunk
    kinds: dict[tuple, list[tuple[str, str]]] = {}
    for file, damage in every:
        kind = (file.split("/")[0], file.count("/"), "/c/" in file)
        if not kinds.get(kind) or kinds[kind][0][0] == file:
            kinds.setdefault(kind, []).append((file, damage))
    if os.environ.get("LFE_DAMAGE_KINDS"):
        return [case for damaged in kinds.values() for case in damaged]
    # in turn among the chunks and among the metadata files, so that chunks see every damage too
    turns: Counter[bool] = Counter()
    chosen = []
    for (_, _, chunk), damaged in kinds.items():
        chosen.append(damaged[turns[chunk] % len(damaged)])
        turns[chunk] += 1
    return chosen


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, tiny_models):
    return Pristine(tmp_path_factory.mktemp("damage"), tiny_models("llama"))


# what each relies on or writes; extract does not read finished chunks back (`lfe check --deep`
# does)
MADE = {
    "analyze": ("pooled", "analysis", "record"),
    "ablate": ("ablation",),
    "extract": ("complete", "labels"),
}
COMMANDS = {  # name -> the command on a store, writing any files into out
    "info": lambda p, store, out: ["info", str(store)],
    "check": lambda p, store, out: ["check", str(store), "--quiet"],
    "check --deep": lambda p, store, out: ["check", str(store), "--deep", "--quiet"],
    "analyze": lambda p, store, out: p.command("analyze", store, out),
    "ablate": lambda p, store, out: p.command("ablate", store, out),
    "evolve": lambda p, store, out: [
        "evolve",
        str(store),
        "--step",
        "ckpt=1",
        "--top-percent",
        "5",
        "--bootstrap",
        "0",
        "--null",
        "2",
        "--no-figures",
        "--quiet",
        "--out",
        str(out),
    ],
    "extract": lambda p, store, out: p.command("extract", store, out),
}


def _answer(pristine: Pristine, where: Path, file: str, damage: str, command: str) -> str:
    """Run ``command`` on a fresh damaged copy; check it works or advises; return its output."""
    store = pristine.damaged_copy(where, file, damage)
    result = run(COMMANDS[command](pristine, store, where / "out"))
    said = f"{command} after {damage} {file}: {result.output}"
    assert "Traceback" not in result.output, said
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        said,
        result.exception,
    )
    if result.exit_code == 0:
        if command in MADE:  # what it made or kept equals the original
            try:
                now = content(store, MADE[command])
            except Exception as error:  # noqa: BLE001 - whatever reading the store raises is the failure
                raise AssertionError(
                    f"{said} (exit 0, then the store reads as {error!r})"
                ) from None
            assert now == {part: pristine.content[part] for part in MADE[command]}, said
        return ""
    assert result.exit_code in ((1, 2) if command.startswith("check") else (2,)), said
    assert any(advice in result.output for advice in ADVICE) or "remove " in result.output, said
    return result.output.replace(str(store), "{store}")  # the advice, for any copy of the store


def _follow(pristine: Pristine, where: Path, file: str, damage: str, advice: str) -> None:
    """Do what ``advice`` says on a fresh damaged copy; then redo what the store held; it must equal
    the original."""
    store = pristine.damaged_copy(where, file, damage)
    advice = advice.replace("{store}", str(store))
    removal = re.search(r"remove (\S+?)[;,)]?(\s|$)", advice)
    if removal:
        shutil.rmtree(removal.group(1), ignore_errors=True)
    steps = sorted((advice.index(text), step) for text, step in ADVICE.items() if text in advice)
    for _, step in steps:
        args = (
            ["check", str(store), "--repair", "--quiet"]
            if step == "repair"
            else pristine.command(step, store, where / f"redo-{step}")
        )
        result = run(args)
        assert "Traceback" not in result.output, (advice, step, result.output)
    # what the user reruns to have their results again
    for step in ("extract", "analyze", "ablate"):
        result = run(pristine.command(step, store, where / f"again-{step}"))
        assert result.exit_code == 0, f"{step} after following {advice!r}: {result.output}"
    try:
        assert content(store) == pristine.content, (file, damage, advice)
    except (LfeError, RuntimeError, ValueError, KeyError, OSError) as error:
        raise AssertionError(
            f"{file} {damage}: after {advice!r} the store is still damaged: {error}"
        ) from None


# numpy noise before the message is a defect too
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_every_damaged_file_under_every_command(pristine, tmp_path) -> None:
    tried, failures = 0, []
    for number, (file, damage) in enumerate(cases(pristine.files)):
        said = {}
        for command in COMMANDS:
            try:
                said[command] = _answer(
                    pristine,
                    tmp_path / f"{number}-{command.replace(' ', '')}",
                    file,
                    damage,
                    command,
                )
            except Exception as error:  # noqa: BLE001 - every case is tried, all failures reported together
                failures.append(f"{command} after {damage} {file}: {error!r}"[:700])
            tried += 1
        advice = said.get("check --deep") or next((text for text in said.values() if text), "")
        try:  # the deep check's advice first: it is what the README tells a user to run
            _follow(pristine, tmp_path / f"{number}-repair", file, damage, advice)
        except Exception as error:  # noqa: BLE001
            failures.append(f"repair after {damage} {file}: {error!r}"[:700])
    assert not failures, "\n\n".join(failures)
    assert tried >= len(COMMANDS) * 12
    print(
        f"damage campaign: {len(pristine.files)} files, {tried // len(COMMANDS)} damages x"
        f" {len(COMMANDS)} commands "
        # RELIABILITY.md's counts (pytest -s)
        f"= {tried} runs, {tried // len(COMMANDS)} repairs followed"
    )
