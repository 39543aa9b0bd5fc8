"""``lfe ablate`` as a library call: deactivate each key region (and its random controls) and measure.

For the full model, each language's key region (from ``lfe analyze``) and seeded random controls,
it measures perplexity per language on held-out text, the accuracy of a cross-lingual choice task
and greedy generations; the masks are live during every evaluation. The paper's table follows:
rows = evaluated language, columns = deactivated region, cells = percent increase over the full
model on the same windows.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np

from lfe.analysis.controls import control_regions
from lfe.corpus import read_corpus
from lfe.engine.deactivate import deactivated
from lfe.engine.evaluate import ending_scores, greedy, negative_log_likelihood, perplexity
from lfe.engine.families import adapter_for
from lfe.engine.loading import load_model, resolve_source, weights_hash
from lfe.engine.runner import context_length
from lfe.errors import LfeError, StoreError
from lfe.store import ActivationStore

FULL = "full model"


def read_eval_texts(path: str | Path, langs: list[str]) -> tuple[dict[str, str], set[str]]:
    """({lang: text}, sids) from a folder of <lang>.txt files or a corpus file of held-out sids."""
    path = Path(path)
    if path.is_dir():
        texts = {lang: (path / f"{lang}.txt").read_text(encoding="utf-8") for lang in langs if (path / f"{lang}.txt").exists()}
        sids: set[str] = set()
    else:
        corpus = read_corpus(path)
        texts = {lang: "\n".join(text for l, text in zip(corpus.row_langs(), corpus.texts) if l == lang)
                 for lang in langs if lang in corpus.langs}
        sids = set(corpus.sids)
    missing = [lang for lang in langs if lang not in texts]
    if missing:
        raise LfeError(f"no evaluation text for {', '.join(missing)} in {path}")
    return texts, sids


def ablate(
    model: str, store: str | Path, evaluation: str | Path, checkpoint: str | None = None, regions: str = "all",
    random: str = "matched", seed: int = 0, window: int | None = None, stride: int | None = None,
    choice: str | Path | None = None, generate: str | Path | None = None, max_new_tokens: int = 32,
    out: str | Path | None = None, dtype: str = "float32", device: str = "cpu", say=print,
) -> dict:
    """Run the deactivation experiment; write table.csv/json/md, a heatmap and the extras to ``out``."""
    opened = ActivationStore.open(store)
    names = opened.checkpoint_names()
    checkpoint = checkpoint or (names[0] if len(names) == 1 else None)
    if checkpoint is None:
        raise StoreError(f"{store} has several checkpoints ({', '.join(names)}); pass --checkpoint")
    analysis = opened.analysis(checkpoint)
    info = analysis.attrs["lfe"]
    langs = info["languages"]
    key = np.asarray(analysis["regions"][:], dtype=bool)
    chosen = langs if regions == "all" else [lang.strip() for lang in regions.split(",")]
    unknown = [lang for lang in chosen if lang not in langs]
    if unknown:
        raise LfeError(f"no key region for {', '.join(unknown)}; the analysis has {', '.join(langs)}")
    n_layers = opened.checkpoint(checkpoint).n_layers
    columns = {FULL: np.zeros(key.shape[1], dtype=bool)}
    columns.update({lang: key[langs.index(lang)] for lang in chosen})
    columns.update(control_regions(key[[langs.index(lang) for lang in chosen]], chosen, n_layers, random, seed))

    loaded, tokenizer = load_model(resolve_source(model), dtype, device)
    stored_hash = opened.checkpoint(checkpoint).meta.get("weights_hash")
    if weights_hash(loaded) != stored_hash:
        raise StoreError(f"{model} is not the model whose activations checkpoint {checkpoint!r} holds "
                         "(weights hash differs); pass the same model")
    adapter = adapter_for(loaded)
    texts, eval_sids = read_eval_texts(evaluation, langs)
    shared = eval_sids & set(opened.labels()[1].tolist())
    if shared:
        warnings.warn(f"{len(shared)} evaluation sids were also probed (e.g. {sorted(shared)[0]}): the evaluation "
                      "is not held out; use `lfe corpus sample --holdout`", stacklevel=2)
    window = window or min(context_length(loaded.config) or 1024, 1024)
    token_ids = {lang: tokenizer(text, add_special_tokens=False)["input_ids"] for lang, text in texts.items()}

    from tqdm import tqdm

    table, tokens = {}, {}
    bar = tqdm(total=len(columns) * len(langs), desc="ablate", unit="eval")
    for name, mask in columns.items():
        with deactivated(adapter, mask):
            for lang in langs:
                nll, count = negative_log_likelihood(loaded, token_ids[lang], window, stride)
                table.setdefault(lang, {})[name] = perplexity(nll, count)
                tokens[lang] = count
                bar.update()
    bar.close()
    results = {
        "checkpoint": checkpoint, "model": model, "params": {
            "random": random, "seed": seed, "window": window, "stride": stride, "dtype": dtype,
            "analysis": info["params"], "evaluation": str(evaluation)},
        "tokens": tokens,
        "perplexity": table,
        "increase_percent": {lang: {name: 100 * (value / row[FULL] - 1) for name, value in row.items() if name != FULL}
                             for lang, row in table.items()},
        "region_size": {name: int(mask.sum()) for name, mask in columns.items() if name != FULL},
        "region_percent": {name: 100 * float(mask.mean()) for name, mask in columns.items() if name != FULL},
    }
    if choice:
        results["choice_accuracy"] = _choice(loaded, tokenizer, adapter, columns, choice)
    if generate:
        results["generations"] = _generations(loaded, tokenizer, adapter, columns, generate, max_new_tokens)
    out = Path(out or Path(store).with_name(Path(store).name.removesuffix(".zarr") + "-ablation")) / checkpoint
    _write(results, out)
    # kept in the store too (without the generated texts), for `lfe evolve`
    ActivationStore.open(store, mode="r+").write_record(
        "ablation", checkpoint, {key: value for key, value in results.items() if key != "generations"})
    say(f"table: {out / 'table.md'}")
    return results


def _choice(model, tokenizer, adapter, columns, path) -> dict:
    items = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    accuracy: dict[str, dict[str, float]] = {}
    for name, mask in columns.items():
        with deactivated(adapter, mask):  # live during the whole evaluation
            hits: dict[str, list[bool]] = {}
            for item in items:
                scores = ending_scores(model, tokenizer, item["context"], item["endings"])
                hits.setdefault(item["lang"], []).append(int(np.argmax(scores)) == item["label"])
        for lang, values in hits.items():
            accuracy.setdefault(lang, {})[name] = float(np.mean(values))
    return accuracy


def _generations(model, tokenizer, adapter, columns, path, max_new_tokens) -> list[dict]:
    prompts = read_corpus(path)
    rows = []
    for lang, sid, prompt in zip(prompts.row_langs(), prompts.row_sids(), prompts.texts):
        row = {"lang": lang, "sid": sid, "prompt": prompt}
        for name, mask in columns.items():
            with deactivated(adapter, mask):
                row[name] = greedy(model, tokenizer, prompt, max_new_tokens)
        rows.append(row)
    return rows


def _write(results: dict, out: Path) -> None:
    from lfe.plots import ablation_heatmap

    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    increase = results["increase_percent"]
    langs = list(increase)
    names = list(next(iter(increase.values())))
    with open(out / "table.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["language", "full model perplexity", *names])
        for lang in langs:
            writer.writerow([lang, results["perplexity"][lang][FULL], *[increase[lang][name] for name in names]])
    lines = [f"# Deactivating key regions: {results['checkpoint']}", "",
             "Percent increase in perplexity over the full model (rows: evaluated language; columns: deactivated "
             f"region). Random controls: {results['params']['random']}, seed {results['params']['seed']}; window "
             f"{results['params']['window']} tokens.", "",
             "| language | full-model PPL | tokens | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    for lang in langs:
        lines.append(f"| {lang} | {results['perplexity'][lang][FULL]:.2f} | {results['tokens'][lang]} | "
                     + " | ".join(f"{increase[lang][name]:.0f}%" for name in names) + " |")
    lines += ["| region size | | | " + " | ".join(str(results["region_size"][name]) for name in names) + " |",
              "| region % | | | " + " | ".join(f"{results['region_percent'][name]:.1f}%" for name in names) + " |", ""]
    if "choice_accuracy" in results:
        accuracy = results["choice_accuracy"]
        columns = list(next(iter(accuracy.values())))
        lines += ["## Cross-lingual choice accuracy", "", "| language | " + " | ".join(columns) + " |",
                  "|---|" + "---|" * len(columns)]
        lines += [f"| {lang} | " + " | ".join(f"{row[name]:.2f}" for name in columns) + " |" for lang, row in accuracy.items()]
        lines.append("")
    if "generations" in results:
        lines += ["## Greedy generations", ""]
        for row in results["generations"]:
            lines.append(f"- **{row['lang']}/{row['sid']}** {row['prompt']}")
            lines += [f"  - *{name}*: {text}" for name, text in row.items() if name not in ("lang", "sid", "prompt")]
        lines.append("")
    lines.append("![heatmap](table.png)")
    (out / "table.md").write_text("\n".join(lines), encoding="utf-8")
    ablation_heatmap(increase, out / "table.png", prefix=results["checkpoint"])
