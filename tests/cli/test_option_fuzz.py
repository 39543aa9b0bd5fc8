"""Every numeric, path and list option of every command, fuzzed through the CLI (hypothesis).

A value is either accepted and the command does its job (its output is there), or refused with an
``Error:`` line and exit status 2; never a traceback. Work-size options (--null, --bootstrap) are
drawn up to 60: larger values are valid and only take longer. ``--workers`` is drawn outside the
accepted range only (a local cluster per example would take minutes;
tests/engine/test_distributed.py runs the accepted ones). ``lfe demo``, ``lfe corpus fetch`` and
``lfe models fetch`` are left out: their accepted values start downloads (tests/corpus/test_fetch.py
covers their refusals).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lfe.cli import main
from tests.helpers import parallel_rows, write_tsv

# per option; RELIABILITY.md's campaign sets more
EXAMPLES = int(os.environ.get("LFE_FUZZ_EXAMPLES", 4))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="LFE_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LANGS = ("en", "fr", "zh")
CORES = os.cpu_count() or 1

huge = st.sampled_from([2**31, 2**63, 10**30, -(2**63)])
words = st.sampled_from(["", "x", "1.5", "1e3", "nan", "-", "0x10", " 3"])
ints = st.one_of(st.integers(-3, 300), huge, words.map(str)).map(str)
work = st.one_of(st.integers(-3, 60), words).map(str)
workers = st.one_of(st.integers(-(2**40), 0), st.integers(CORES + 1, 2**40), words).map(str)
floats = st.one_of(st.floats(), st.sampled_from(["nan", "inf", "-inf", "1e400", "", "x"])).map(str)
# comma lists of languages, methods, regions
lists = st.one_of(
    st.sampled_from(
        ["", ",", " ", "en", "en,en", "xx", "en,,fr", " en , fr ", "all", "EN", "zz,en", "en\tfr"]
    ),
    st.text(max_size=8),
).map(str)
# path kinds, made real in the world's folder per example (World.path); outputs are never "/" itself
PATH_KINDS = (
    "missing",
    "file",
    "folder",
    "store",
    "dot",
    "proc",
    "readonly",
    "empty",
    "nul",
    "long",
    "held",
    "choice",
)
paths = st.sampled_from(PATH_KINDS)
inputs = st.sampled_from((*PATH_KINDS, "root"))


class World:
    """A tiny model, a corpus, an extracted and analysed store, held-out text, a choice file."""

    def __init__(self, root: Path, model: Path) -> None:
        self.root, self.model = root, model
        self.corpus = write_tsv(root / "c.tsv", parallel_rows(langs=LANGS, n_sids=6))
        self.held = root / "held"
        self.held.mkdir()
        for lang in LANGS:
            (self.held / f"{lang}.txt").write_text(
                " ".join(t for _, _, t in parallel_rows(langs=(lang,), n_sids=3))
            )
        self.choice = root / "choice.jsonl"
        self.choice.write_text(
            '{"lang": "en", "context": "a b", "endings": ["c", "d"], "label": 0}\n'
        )
        self.prompts = write_tsv(
            root / "prompts.tsv", [("en", "p1", "the cat"), ("fr", "p1", "le")]
        )
        self.flores = root / "flores"
        (self.flores / "dev").mkdir(parents=True)
        for code, text in (("eng_Latn", "a cat"), ("fra_Latn", "un chat")):
            (self.flores / "dev" / f"{code}.dev").write_text(f"{text} 1\n{text} 2\n")
        self.readonly = root / "readonly"
        self.readonly.mkdir()
        self.cwd = root / "cwd"
        self.cwd.mkdir()
        self.store = root / "run.zarr"
        for args in (
            [
                "extract",
                str(model),
                "--corpus",
                str(self.corpus),
                "--name",
                "ckpt",
                "--quiet",
                "--out",
                str(self.store),
            ],
            [
                "analyze",
                str(self.store),
                "--top-percent",
                "5",
                "--bootstrap",
                "0",
                "--null",
                "0",
                "--no-figures",
                "--quiet",
                "--out",
                str(root / "analysis"),
            ],
        ):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, result.output
        self.mask = root / "mask.pt"
        exported = CliRunner().invoke(
            main, ["export", str(self.store), "--regions", "lape", "--out", str(self.mask)]
        )
        assert exported.exit_code == 0, exported.output
        os.chmod(self.readonly, 0o555)

    def fresh(self) -> Path:
        return self.root / f"out-{uuid.uuid4().hex[:8]}"

    def path(self, kind: str) -> str:
        fresh = self.fresh()
        return {
            "missing": str(fresh),
            "file": str(self.corpus),
            "folder": str(self.held),
            "store": str(self.store),
            "dot": ".",
            "root": "/",
            "proc": "/proc/self/status",
            "readonly": str(self.readonly / "x"),
            "empty": "",
            "nul": str(fresh) + "\x00x",
            "long": str(self.root / ("x" * 300)),
            "held": str(self.held),
            "choice": str(self.choice),
        }[kind]


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_models):
    return World(tmp_path_factory.mktemp("fuzz"), tiny_models("llama", size="small"))


def _base(world: World, command: str, out: Path) -> list[str]:
    """A working invocation of ``command`` that writes into ``out`` (the fuzzed option is
    appended)."""
    store = str(world.store)
    return {
        "extract": [
            "extract",
            str(world.model),
            "--corpus",
            str(world.corpus),
            "--name",
            "ckpt",
            "--quiet",
            "--out",
            str(out),
        ],
        "analyze": [
            "analyze",
            store,
            "--bootstrap",
            "0",
            "--null",
            "0",
            "--no-figures",
            "--quiet",
            "--out",
            str(out),
        ],
        "evolve": [
            "evolve",
            store,
            "--bootstrap",
            "0",
            "--null",
            "0",
            "--step",
            "ckpt=1",
            "--no-figures",
            "--quiet",
            "--out",
            str(out),
        ],
        "ablate": [
            "ablate",
            str(world.model),
            store,
            "--eval",
            str(world.held),
            "--regions",
            "en",
            "--window",
            "16",
            "--max-new-tokens",
            "2",
            "--out",
            str(out),
        ],
        "sample": [
            "corpus",
            "sample",
            str(world.corpus),
            "--samples",
            "3",
            "--seed",
            "0",
            "--out-dir",
            str(out),
        ],
        "report": ["report", store, "--no-figures", "--out", str(out)],
        "steer": [
            "steer",
            str(world.model),
            store,
            "--prompts",
            str(world.prompts),
            "--to",
            "fr",
            "--max-new-tokens",
            "2",
            "--out",
            str(out),
        ],
        "export": ["export", store, "--regions", "csv", "--out", str(out)],
        "import": ["import", store, str(world.mask)],
        "flores": ["corpus", "import", "flores", str(world.flores), "--out", str(out)],
        "check": ["check", store],
        "info": ["info", store],
    }[command]


# what an accepted run leaves behind, under its output folder
PRODUCTS = {
    "extract": "zarr.json",
    "analyze": "ckpt/metrics.json",
    "evolve": "evolution.json",
    "ablate": "ckpt/table.json",
    "sample": "probe.tsv",
    "report": "analysis/ckpt/metrics.json",
    "steer": "ckpt/steer.json",
    "export": "",  # the file itself
    "flores": "",
}
# where a positional argument sits in its command's line (the store's, else)
POSITIONS = {"ablate": 2, "sample": 2, "steer": 2, "flores": 3}
OPTIONS = [  # (command, option, values); a positional path is fuzzed by replacing it
    ("extract", "--samples", ints),
    ("extract", "--seed", ints),
    ("extract", "--batch-tokens", ints),
    ("extract", "--max-tokens", ints),
    ("extract", "--block-rows", ints),
    ("extract", "--random-init", ints),
    ("extract", "--workers", workers),
    ("extract", "--corpus", inputs),
    ("extract", "--out", paths),
    ("analyze", "--threshold", floats),
    ("analyze", "--top-percent", floats),
    ("analyze", "--bootstrap", work),
    ("analyze", "--seed", ints),
    ("analyze", "--null", work),
    ("analyze", "--workers", workers),
    ("analyze", "--out", paths),
    ("analyze", "STORE", inputs),
    ("analyze", "--lape-top-rate", floats),
    ("analyze", "--ap-top-k", ints),
    ("evolve", "--threshold", floats),
    ("evolve", "--top-percent", floats),
    ("evolve", "--bootstrap", work),
    ("evolve", "--seed", ints),
    ("evolve", "--null", work),
    ("evolve", "--workers", workers),
    ("evolve", "--out", paths),
    ("evolve", "STORE", inputs),
    ("ablate", "--seed", ints),
    ("ablate", "--window", ints),
    ("ablate", "--stride", ints),
    ("ablate", "--max-new-tokens", ints),
    ("ablate", "--choice", inputs),
    ("ablate", "--generate", inputs),
    ("ablate", "--eval", inputs),
    ("ablate", "--out", paths),
    ("ablate", "STORE", inputs),
    ("sample", "--samples", ints),
    ("sample", "--seed", ints),
    ("sample", "--holdout", ints),
    ("sample", "--out-dir", paths),
    ("sample", "PATH", inputs),
    ("check", "STORE", inputs),
    ("info", "STORE", inputs),
    ("report", "STORE", inputs),
    ("report", "--out", paths),
    ("extract", "--langs", lists),
    ("analyze", "--method", lists),
    ("ablate", "--regions", lists),
    ("steer", "--to", lists),
    ("steer", "--seed", ints),
    ("steer", "--max-new-tokens", ints),
    ("steer", "--prompts", inputs),
    ("steer", "--out", paths),
    ("steer", "STORE", inputs),
    ("export", "--out", paths),
    ("export", "STORE", inputs),
    ("import", "MASK", inputs),
    ("import", "--languages", lists),
    ("flores", "PATH", inputs),
    ("flores", "--langs", lists),
    ("flores", "--out", paths),
]


def _invoke(world: World, command: str, option: str, value: str) -> tuple[list[str], Path]:
    """The command line with ``value`` for ``option``, and the folder its products land in."""
    out = world.fresh()
    args = _base(world, command, out)
    value = world.path(value) if value in (*PATH_KINDS, "root") else value
    if option == "MASK":
        args[2] = value
    elif option.isupper():  # the store (or corpus) argument itself
        args[POSITIONS.get(command, 1)] = value
    elif option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    return args, Path(value) if option in ("--out", "--out-dir") else out


def _answers_well(world: World, command: str, option: str, value: str) -> None:
    args, out = _invoke(world, command, option, value)
    result = CliRunner().invoke(main, args)
    assert "Traceback" not in result.output, (args, result.output, result.exception)
    assert result.exit_code in (0, 2), (args, result.output, result.exception)
    if result.exit_code == 2:
        assert "Error:" in result.output, (args, result.output)
    elif command in PRODUCTS:
        assert (out / PRODUCTS[command]).exists(), (args, result.output)


# tried every run besides the drawn values: every path kind, and the numbers that found bugs before
EDGES = {
    id(paths): PATH_KINDS,
    id(inputs): (*PATH_KINDS, "root"),
    id(ints): ("-1", "0", "1", str(2**63), "17", ""),
    id(work): ("-1", "0", "1", "x"),
    id(floats): ("nan", "inf", "-inf", "0", "101", "-1"),
    id(workers): ("0", str(10**9), ""),
    id(lists): ("", ",", "en,en", "xx", " en , fr "),
}


@pytest.mark.parametrize(
    "command, option, values", OPTIONS, ids=[f"{c} {o}" for c, o, _ in OPTIONS]
)
def test_every_value_is_accepted_with_its_output_or_refused_in_one_line(
    world, command, option, values, monkeypatch
) -> None:
    monkeypatch.chdir(world.cwd)  # "." as an output lands in the world, not in the repository
    tried = list(EDGES[id(values)])
    for value in tried:
        _answers_well(world, command, option, value)
    FUZZ(
        given(value=values)(
            lambda value: tried.append(value) or _answers_well(world, command, option, value)
        )
    )()
    # RELIABILITY.md's counts (pytest -s)
    print(f"option fuzz: {command} {option}: {len(tried)} values")
