"""Shared fixtures: tiny models of every family (saved like real ones) and small parallel corpora."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

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
    """(lang, sid, text) rows: sid s has the same words in every language plus s-dependent filler."""
    rng = random.Random(seed)
    extra = [rng.randint(0, 12) for _ in range(n_sids)]
    return [
        (lang, str(sid), f"{PHRASES[lang]} {sid}" + " ." * (extra[sid] + rng.randint(0, 3)))
        for lang in langs
        for sid in range(n_sids)
    ]


def write_tsv(path: Path, rows, header=("lang", "sid", "text")) -> Path:
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """model_type -> directory of a saved tiny random model, built once per session on demand."""
    from lfe.engine.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("models")
    cache: dict[str, Path] = {}

    def get(model_type: str, size: str = "tiny", seed: int = 0) -> Path:
        key = f"{model_type}-{size}-{seed}"
        if key not in cache:
            cache[key] = build_tiny_model(model_type, root / key, size=size, seed=seed)
        return cache[key]

    return get


@pytest.fixture
def corpus_file(tmp_path):
    return write_tsv(tmp_path / "corpus.tsv", parallel_rows())
