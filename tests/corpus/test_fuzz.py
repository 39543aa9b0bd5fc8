"""Bad input, fuzzed (hypothesis): the corpus readers and the CLI's argument handling never crash.

Whatever the bytes, `read_corpus` returns a complete corpus or raises `CorpusError` naming the file;
the CLI answers with a one-line error (exit 2), never a traceback, and leaves no store behind.
"""

import json
import os
import string

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lfe.cli import main
from lfe.corpus import read_corpus
from lfe.errors import CorpusError

# RELIABILITY.md's longer campaign sets more
EXAMPLES = int(os.environ.get("LFE_FUZZ_EXAMPLES", 150))
# the default suite draws the same examples every run; a longer campaign (LFE_FUZZ_EXAMPLES) draws
# new ones
DERANDOMIZE = "LFE_FUZZ_EXAMPLES" not in os.environ
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
SUFFIXES = [".tsv", ".csv", ".jsonl"]
# language codes and sids as people write them, and as they should not
codes = st.one_of(
    st.sampled_from(
        ["en", "fr", "zh-Hant", "pt_BR", "x", "EN", " en", "en ", "", "\t", "🙂", "a,b", 'q"']
    ),
    st.text(max_size=6),
)
texts = st.one_of(
    st.text(max_size=30), st.sampled_from(["", " ", "a\tb", "a\nb", 'say "hi"', "x" * 200_000])
)


def _read(path, **options):
    """read_corpus's answer: a corpus that holds its promises, or a CorpusError that names the
    file."""
    try:
        corpus = read_corpus(path, **options)
    # about the file (naming it), or about an option (naming the option)
    except CorpusError as error:
        assert path.name in str(error) or str(error).startswith("--"), str(error)
        return None
    assert len(corpus.texts) == len(corpus.langs) * corpus.n_sids > 0
    assert all(text.strip() for text in corpus.texts)
    return corpus


@FUZZ
@given(data=st.binary(max_size=400), suffix=st.sampled_from(SUFFIXES))
def test_arbitrary_bytes(tmp_path_factory, data, suffix) -> None:
    path = tmp_path_factory.mktemp("bytes") / f"corpus{suffix}"
    path.write_bytes(data)
    _read(path)


@FUZZ
@given(
    header=st.lists(st.sampled_from(["lang", "sid", "text", "extra", "Lang", ""]), max_size=5),
    rows=st.lists(
        st.tuples(codes, st.sampled_from(["0", "1", "2", " 1", "x"]), texts, st.integers(-1, 1)),
        max_size=8,
    ),
    suffix=st.sampled_from([".tsv", ".csv"]),
    broken=st.booleans(),
)
def test_tables_with_missing_extra_and_duplicate_fields(
    tmp_path_factory, header, rows, suffix, broken
) -> None:
    separator = "\t" if suffix == ".tsv" else ","
    lines = [separator.join(header)]
    for lang, sid, text, extra in rows:  # extra: drop a field (-1), add one (+1), or neither
        fields = [lang, sid, text] + (["more"] if extra > 0 else [])
        lines.append(separator.join(fields[: len(fields) + min(extra, 0)]))
    data = "\n".join(lines).encode("utf-8")
    if broken:
        data += b"\xff\xfe broken utf-8"
    path = tmp_path_factory.mktemp("tables") / f"corpus{suffix}"
    path.write_bytes(data)
    _read(path)


@FUZZ
@given(
    items=st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "lang": codes,
                    "sid": st.one_of(st.integers(0, 3), st.text(max_size=3)),
                    "text": texts,
                }
            ),
            st.dictionaries(
                st.sampled_from(["lang", "sid", "text", "other"]),
                st.one_of(st.none(), st.integers(), texts),
            ),
            st.just([1, 2]),
            st.just("plain string"),
        ),
        max_size=8,
    ),
    langs=st.one_of(st.none(), st.lists(codes, max_size=3)),
)
def test_jsonl_with_odd_values_and_language_choices(tmp_path_factory, items, langs) -> None:
    path = tmp_path_factory.mktemp("jsonl") / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in items), encoding="utf-8")
    _read(path, langs=langs)


@FUZZ
@given(
    files=st.dictionaries(
        st.text(string.ascii_letters + "-_", min_size=1, max_size=5),
        st.lists(texts, max_size=5),
        max_size=4,
    )
)
def test_aligned_directories(tmp_path_factory, files) -> None:
    folder = tmp_path_factory.mktemp("aligned") / "corpus"
    folder.mkdir()
    for lang, lines in files.items():
        (folder / f"{lang}.txt").write_text("\n".join(lines), encoding="utf-8")
    try:
        corpus = read_corpus(folder)
    except CorpusError as error:
        assert "corpus" in str(error), str(error)
        return
    assert len(corpus.texts) == len(corpus.langs) * corpus.n_sids


OPTION_VALUES = {
    "--batch-tokens": st.sampled_from(["0", "-5", "abc", "1e9", "16"]),
    "--samples": st.sampled_from(["0", "-1", "999999", "x", "2"]),
    "--seed": st.sampled_from(["-1", "x", "0"]),
    "--langs": st.sampled_from(["", ",", "en,en", "xx", "en,fr", "🙂"]),
    "--dtype": st.sampled_from(["float8", "bfloat16", ""]),
    "--max-tokens": st.sampled_from(["0", "-3", "4"]),
    "--block-rows": st.sampled_from(["0", "-1", "3"]),
    "--device": st.sampled_from(["gpu", "cuda:99", "tpu"]),
    "--workers": st.sampled_from(["0", "-2", "x"]),
}


@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    options=st.dictionaries(
        st.sampled_from(sorted(OPTION_VALUES)), st.just(None), min_size=1, max_size=4
    ),
    data=st.data(),
    corpus=st.sampled_from(["valid", "broken", "missing"]),
)
def test_extract_arguments_never_give_a_traceback(tmp_path_factory, options, data, corpus) -> None:
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "c.tsv"
    if corpus == "valid":
        path.write_text("lang\tsid\ttext\nen\t0\thello\nfr\t0\tbonjour\n", encoding="utf-8")
    elif corpus == "broken":
        path.write_bytes(b"lang\tsid\ttext\nen\t0\n\xff")
    arguments = [
        "extract",
        str(folder / "no-such-model"),
        "--corpus",
        str(path),
        "--out",
        str(folder / "run.zarr"),
    ]
    for option in options:
        arguments += [option, data.draw(OPTION_VALUES[option], label=option)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2, (arguments, result.output)  # no model there: never a success
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        arguments,
        repr(result.exception),
    )
    assert "Traceback" not in result.output
    assert "Error" in result.output
    assert not (folder / "run.zarr").exists()
