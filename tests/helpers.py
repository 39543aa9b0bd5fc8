"""What several test modules share: small parallel corpora, planted activations, planted stores,
wheels.

Test modules import from here, never from each other.
"""

from __future__ import annotations

import json
import os
import random
import signal
import zipfile
from pathlib import Path

import numpy as np

from lfe.corpus.corpus import Corpus, rows_fingerprint
from lfe.records import CheckpointMeta
from lfe.store import ActivationStore

# Short texts in several scripts; lengths vary so batches need padding.
PHRASES = {
    "en": "the cat sat on the mat",
    "fr": "le chat est assis sur le tapis",
    "zh": "猫坐在垫子上",
    "hi": "बिल्ली चटाई पर बैठी",
    "ar": "جلست القطة على الحصيرة",
    "es": "el gato se sentó en la alfombra",
}


def parallel_rows(langs=("en", "fr", "zh"), n_sids=12, seed=0):
    """(lang, sid, text) rows: sid s has the same words in every language plus s-dependent
    filler."""
    rng = random.Random(seed)
    extra = [rng.randint(0, 12) for _ in range(n_sids)]
    return [
        (lang, str(sid), f"{PHRASES[lang]} {sid}" + " ." * (extra[sid] + rng.randint(0, 3)))
        for lang in langs
        for sid in range(n_sids)
    ]


def write_tsv(path: Path, rows, header=("lang", "sid", "text")) -> Path:
    path.write_text(
        "\t".join(header) + "\n" + "".join("\t".join(row) + "\n" for row in rows), encoding="utf-8"
    )
    return path


def planted(n_langs=4, n_sids=6, layers=((1.0, 2.0), (3.0, 0.5)), width=40, seed=0):
    """Rows h(l, s) = α_m u_l + β_m v_s in each layer m, with orthonormal u's and v's.

    Whole model: S = (Σα² [same lang] + Σβ² [same sid]) / Σ(α² + β²), so LRDS = Σα²/Σ(α²+β²) and
    SADS = Σβ²/Σ(α²+β²); layer m alone: LRDS_m = α_m²/(α_m²+β_m²), SADS_m = β_m²/(α_m²+β_m²).
    """
    rng = np.random.default_rng(seed)
    panels = []
    for alpha, beta in layers:
        basis, _ = np.linalg.qr(rng.normal(size=(width, n_langs + n_sids)))
        u, v = basis[:, :n_langs].T, basis[:, n_langs:].T
        panels.append(
            np.stack([alpha * u[l] + beta * v[s] for l in range(n_langs) for s in range(n_sids)])
        )
    langs = [f"l{l}" for l in range(n_langs) for _ in range(n_sids)]
    sids = [str(s) for _ in range(n_langs) for s in range(n_sids)]
    return np.concatenate(panels, axis=1), langs, sids


# Language separation falls and meaning alignment grows with the step: (alpha, beta) of each layer.
TREND = {
    0: ((3.0, 0.5), (2.0, 0.5)),
    100: ((2.0, 1.0), (1.5, 1.0)),
    1000: ((1.0, 2.0), (1.0, 1.5)),
    10000: ((0.5, 3.0), (0.5, 2.0)),
}


def store_of_rows(path, langs, sids, texts=None) -> ActivationStore:
    """An empty store for rows (langs[i], sids[i], texts[i]) in corpus order, described as
    extraction describes a corpus."""
    texts = ["t"] * len(langs) if texts is None else list(texts)
    corpus = Corpus(tuple(dict.fromkeys(langs)), tuple(dict.fromkeys(sids)), tuple(texts))
    assert corpus.fingerprint == rows_fingerprint(langs, sids, texts), (
        "rows not in corpus order (language, then sid)"
    )
    return ActivationStore.create(path, corpus.describe(), langs, sids, texts)


def planted_series(path, steps=TREND, names="global_step{}", params=1000, hashes=None):
    """A store with one checkpoint per step, rows h(l, s) = α u_l + β v_s per layer (see
    `planted`)."""
    n_langs = 6
    store = None
    for index, (step, layers) in enumerate(steps.items()):
        pooled, langs, sids = planted(n_langs=n_langs, n_sids=8, layers=layers, seed=index)
        if store is None:
            store = store_of_rows(path, langs, sids)
        meta = CheckpointMeta(
            n_layers=2,
            n_neurons=40,
            block_rows=16,
            weights_hash=hashes[index] if hashes else f"w{step}",
            n_params=params,
            series="planted",
        )
        checkpoint = store.create_checkpoint(
            names.format(step), meta, np.ones(len(langs), np.int32)
        )
        for block in range(checkpoint.n_blocks):
            checkpoint.write_block(block, pooled[checkpoint.block_slice(block)].astype(np.float32))
    return path


def closed_form(layers):
    total = sum(a * a + b * b for a, b in layers)
    return sum(a * a for a, _ in layers) / total, sum(b * b for _, b in layers) / total


def build_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel ``name==version`` holding ``files`` (paths inside the wheel ->
    bytes)."""
    stem = name.replace("-", "_")
    path = folder / f"{stem}-{version}-py3-none-any.whl"
    info = f"{stem}-{version}.dist-info"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
        archive.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: lfe-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return path


def analysed_store(
    model: Path, folder: Path, langs, n_sids: int, top_percent: float, held_sids: int
) -> tuple[Path, Path]:
    """(a store of ``model`` on a parallel corpus with its analysis, a folder of held-out
    <lang>.txt) in ``folder``."""
    from lfe.corpus import read_corpus
    from lfe.engine import extract
    from lfe.records import AnalysisSettings
    from lfe.workflows.analyze import analyze_store

    corpus = read_corpus(write_tsv(folder / "c.tsv", parallel_rows(langs=langs, n_sids=n_sids)))
    extract(str(model), corpus, folder / "run.zarr", name="ckpt", progress=False)
    analyze_store(
        folder / "run.zarr",
        settings=AnalysisSettings(top_percent=top_percent, n_boot=0),
        figures=False,
        progress=False,
    )
    held = folder / "held"
    held.mkdir()
    for lang in langs:
        (held / f"{lang}.txt").write_text(
            "\n".join(t for _, _, t in parallel_rows(langs=(lang,), n_sids=held_sids, seed=9))
        )
    return folder / "run.zarr", held


def assert_same_files(originals: Path, copies: Path) -> None:
    """``copies`` holds the files of ``originals`` (the commands' hidden journals aside), byte for
    byte."""
    names = sorted(
        path.relative_to(originals)
        for path in originals.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )
    assert names, f"{originals} is empty"
    assert sorted(path.relative_to(copies) for path in copies.rglob("*") if path.is_file()) == names
    different = [
        str(name)
        for name in names
        if (originals / name).read_bytes() != (copies / name).read_bytes()
    ]
    assert not different, f"{copies}: {different}"


def write_xlsum(folder: Path, articles: dict[str, list[str]]) -> Path:
    """A folder in XL-Sum's hub layout: one config per language (named in English), split test,
    columns id, title, summary and text."""
    configs = []
    for name, texts in articles.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "test.jsonl").write_text(
            "".join(
                json.dumps({"id": f"{name}-{i}", "title": "t", "summary": "s", "text": text}) + "\n"
                for i, text in enumerate(texts)
            )
        )
        configs.append(
            f"- config_name: {name}\n  data_files:\n  - split: test\n    path: {name}/test.jsonl\n"
        )
    (folder / "README.md").write_text("---\nconfigs:\n" + "".join(configs) + "---\n")
    return folder


# stops (SIGKILL and Ctrl-C in turn) per command in the interruption tests of analyze, evolve and
# steer; RELIABILITY.md's campaign sets more
STOPS = int(os.environ.get("LFE_STOPS", 1))


def ctrl_c_heard() -> None:
    """In a child process: a background shell (nohup, CI runners) starts children with SIGINT
    ignored; give it back its default, as a terminal's Ctrl-C finds it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def lfe_here(command: list[str]) -> str:
    """Run ``command`` (``[python, -m, lfe, ...]``, as the tests' subprocesses run it) in this
    process on one thread, as those run with OMP_NUM_THREADS=1 (the same floats), without a
    process of its own (on 2 cores a small extraction's process took 11 s, 3 of them the work; a
    vLLM one 20 s); its output."""
    import torch
    from click.testing import CliRunner

    from lfe.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = CliRunner().invoke(main, command[3:])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return result.output
