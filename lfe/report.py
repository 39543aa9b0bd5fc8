"""A Markdown report of one checkpoint's analysis, next to the figures and tables it shows."""

from __future__ import annotations


def markdown_report(result, metrics: dict, figures: bool = True) -> str:
    """The report's text: what was measured, on what, with which parameters, and the pictures."""
    whole, params = metrics["whole"], metrics["params"]
    rule = f"top {params['top_percent']}% by z" if params.get("top_percent") else f"z > {params['threshold']}"
    source = metrics.get("source") or {}
    interval = lambda key: (f"[{whole[f'{key}_low']:.4f}, {whole[f'{key}_high']:.4f}]"  # noqa: E731
                            if f"{key}_low" in whole else "-")
    lines = [
        f"# lfe report: {metrics.get('checkpoint', '')}",
        "",
        f"- model: {source.get('spec', '?')} ({metrics.get('family', '?')}, {result.n_layers} layers x "
        f"{result.n_neurons} neurons), weights sha256 {str(metrics.get('weights_hash'))[:16]}",
        f"- corpus: {len(result.langs)} languages ({', '.join(result.langs)}) x {len(result.sids)} sids, "
        f"fingerprint {metrics.get('corpus_fingerprint', '')[:16]}",
        f"- pooling: {metrics.get('pooling')}; stored as {metrics.get('store_dtype')}",
        f"- key neurons: {rule}; z-scores across languages with the population std; intervals: "
        f"{params['n_boot']} bootstrap resamples over sids, seed {params['seed']}",
        "",
        "## Whole model",
        "",
        "| LRDS | 95% interval | SADS | 95% interval | SKLR (neurons) | SKLR (% of all) |",
        "|---|---|---|---|---|---|",
        f"| {whole['lrds']:.4f} | {interval('lrds')} | {whole['sads']:.4f} | {interval('sads')} | "
        f"{metrics['sklr']} | {metrics['sklr_percent']:.2f} |",
        "",
        "LRDS > 0: samples of one language are more alike than samples of different languages. "
        "SADS > 0: translations of one sentence are more alike than unrelated sentences in other languages.",
        "",
    ]
    if figures:
        lines += ["![similarity map](similarity_map.png)", "", "## Per layer", "", "![LRDS and SADS per layer](layer_lrds_sads.png)", ""]
    else:
        lines += ["## Per layer", ""]
    lines += ["| layer | LRDS | SADS |", "|---|---|---|"]
    lines += [f"| {layer['layer']} | {layer['lrds']:.4f} | {layer['sads']:.4f} |" for layer in metrics["layers"]]
    lines += ["", "## Key linguistic regions", "", "| language | key neurons | % of all neurons |", "|---|---|---|"]
    lines += [f"| {lang} | {size} | {metrics['region_percent'][lang]:.2f} |" for lang, size in metrics["region_sizes"].items()]
    if figures:
        lines += ["", "![region sizes](region_sizes.png)", "", "![key neurons per layer](key_neurons_per_layer.png)",
                  "", "![overlap of key regions](region_overlap.png)"]
    lines += ["", "Tables: `layers.csv`, `regions.csv`, `key_neurons_per_layer.csv`, `overlap.csv`; "
              "every number with its parameters: `metrics.json`.", ""]
    return "\n".join(lines)
