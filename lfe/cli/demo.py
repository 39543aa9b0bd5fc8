"""``lfe demo``: the whole pipeline on its embedded default, offline, in about a minute."""

from __future__ import annotations

from pathlib import Path

import click

from lfe.cli._errors import friendly_errors

# Eight short sentences written for lfe (no third-party text), in four languages.
DEMO_SENTENCES = {
    "en": ["The sun rises in the east.", "My brother reads a book every week.", "Water boils at one hundred degrees.",
           "The children are playing in the garden.", "We will travel to the sea tomorrow.",
           "She opened the window because it was hot.", "Bread is sold in the small shop.",
           "The old man told us a long story."],
    "fr": ["Le soleil se lève à l'est.", "Mon frère lit un livre chaque semaine.", "L'eau bout à cent degrés.",
           "Les enfants jouent dans le jardin.", "Nous partirons à la mer demain.",
           "Elle a ouvert la fenêtre parce qu'il faisait chaud.", "Le pain est vendu dans la petite boutique.",
           "Le vieil homme nous a raconté une longue histoire."],
    "es": ["El sol sale por el este.", "Mi hermano lee un libro cada semana.", "El agua hierve a cien grados.",
           "Los niños juegan en el jardín.", "Mañana viajaremos al mar.",
           "Ella abrió la ventana porque hacía calor.", "El pan se vende en la tienda pequeña.",
           "El anciano nos contó una larga historia."],
    "de": ["Die Sonne geht im Osten auf.", "Mein Bruder liest jede Woche ein Buch.", "Wasser kocht bei hundert Grad.",
           "Die Kinder spielen im Garten.", "Morgen fahren wir ans Meer.",
           "Sie öffnete das Fenster, weil es heiß war.", "Brot wird im kleinen Laden verkauft.",
           "Der alte Mann erzählte uns eine lange Geschichte."],
}


@click.command()
@click.option("--out", type=click.Path(), default="out/demo", show_default=True, help="Folder for everything made.")
@click.option("--family", default="bloom", show_default=True, help="Model family of the built model.")
@friendly_errors
def demo(out, family):
    """Build a small random model, extract a 4-language sample into a store, and describe it.

    Until lfe fetches a real model and corpus, the demo runs on a model that lfe builds itself
    (random weights, so the numbers show the machinery, not a finding).
    """
    from lfe.corpus import read_corpus
    from lfe.engine import ExtractSettings, extract
    from lfe.engine.tiny import build_tiny_model
    from lfe.store import ActivationStore

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    corpus_path = out / "corpus.tsv"
    corpus_path.write_text(
        "lang\tsid\ttext\n" + "".join(
            f"{lang}\t{sid}\t{text}\n" for lang, texts in DEMO_SENTENCES.items() for sid, text in enumerate(texts)
        ), encoding="utf-8")
    model = out / f"{family}-small"
    if not (model / "config.json").exists():
        click.echo(f"building a random {family} model (small) in {model}")
        build_tiny_model(family, model, size="small")
    corpus = read_corpus(corpus_path)
    store = out / "run.zarr"
    for report in extract(str(model), corpus, store, settings=ExtractSettings(), overwrite=True):
        click.echo(f"{report.name}: {report.status}, {report.rows} rows, {report.tokens} tokens")
    described = ActivationStore.open(store).describe()
    for name, checkpoint in described["checkpoints"].items():
        click.echo(f"{store}: checkpoint {name}, pooled {checkpoint['shape'][0]} samples x {checkpoint['shape'][1]} "
                   f"neurons ({checkpoint['n_layers']} layers), complete={checkpoint['complete']}")
    click.echo(f"next: lfe info {store}")
