"""``lfe demo``: the whole pipeline on its embedded default, offline, in about a minute."""

from __future__ import annotations

from pathlib import Path

import click

from lfe.cli._errors import friendly_errors

# Eight short sentences written for lfe (no third-party text), in nine languages.
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
    "pt": ["O sol nasce no leste.", "Meu irmão lê um livro toda semana.", "A água ferve a cem graus.",
           "As crianças estão brincando no jardim.", "Amanhã viajaremos para o mar.",
           "Ela abriu a janela porque estava quente.", "O pão é vendido na pequena loja.",
           "O velho nos contou uma longa história."],
    "it": ["Il sole sorge a est.", "Mio fratello legge un libro ogni settimana.", "L'acqua bolle a cento gradi.",
           "I bambini giocano in giardino.", "Domani andremo al mare.",
           "Lei ha aperto la finestra perché faceva caldo.", "Il pane si vende nel piccolo negozio.",
           "Il vecchio ci ha raccontato una lunga storia."],
    "nl": ["De zon komt op in het oosten.", "Mijn broer leest elke week een boek.", "Water kookt bij honderd graden.",
           "De kinderen spelen in de tuin.", "Morgen reizen we naar de zee.",
           "Ze opende het raam omdat het warm was.", "Brood wordt verkocht in de kleine winkel.",
           "De oude man vertelde ons een lang verhaal."],
    "id": ["Matahari terbit di timur.", "Kakak saya membaca buku setiap minggu.", "Air mendidih pada seratus derajat.",
           "Anak-anak bermain di kebun.", "Besok kami akan pergi ke laut.",
           "Dia membuka jendela karena panas.", "Roti dijual di toko kecil itu.",
           "Orang tua itu menceritakan kisah panjang kepada kami."],
    "sv": ["Solen går upp i öster.", "Min bror läser en bok varje vecka.", "Vatten kokar vid hundra grader.",
           "Barnen leker i trädgården.", "I morgon reser vi till havet.",
           "Hon öppnade fönstret eftersom det var varmt.", "Bröd säljs i den lilla affären.",
           "Den gamle mannen berättade en lång historia för oss."],
}


@click.command()
@click.option("--out", type=click.Path(), default="out/demo", show_default=True, help="Folder for everything made.")
@click.option("--family", default="bloom", show_default=True, help="Model family of the built model.")
@friendly_errors
def demo(out, family):
    """Build a small random model, extract a 9-language sample into a store, and analyse it.

    Until lfe fetches a real model and corpus, the demo runs on a model that lfe builds itself
    (random weights, so the numbers show the machinery, not a finding).
    """
    from lfe.corpus import read_corpus
    from lfe.engine import ExtractSettings, extract
    from lfe.engine.tiny import build_tiny_model
    from lfe.analyze import analyze_store

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
    for name, result in analyze_store(store, out=out / "analysis", n_boot=200, seed=0).items():
        click.echo(f"{name}: LRDS {result.whole['lrds']:.4f}, SADS {result.whole['sads']:.4f}, "
                   f"SKLR {result.sklr} of {result.n_layers * result.n_neurons} neurons")
    click.echo(f"figures and tables: {out / 'analysis'}; the store: lfe info {store}")
