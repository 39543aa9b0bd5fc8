"""Print the RESULTS.md tables of `benchmarks/methods_and_steering.sh`'s outputs for one model.

python benchmarks/methods_summary.py out/methods/gemma3-270m
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

METHODS = ("zscore", "lape", "ap")


def main(folder: Path) -> None:
    name = folder.name
    metrics = json.loads((folder / "analysis" / name / "metrics.json").read_text())
    langs = metrics["languages"]
    sizes = {
        "zscore": metrics["region_sizes"],
        **{m: found["region_sizes"] for m, found in metrics["methods"].items()},
    }
    print(
        "| language | "
        + " | ".join(f"{m} neurons" for m in METHODS)
        + " | Jaccard zscore-lape | zscore-ap | lape-ap |"
    )
    print("|---|" + "---|" * 6)
    agreement = metrics["agreement"]
    for lang in langs:
        jaccard = [
            f"{agreement['jaccard'][pair][lang]:.3f} ({agreement['chance'][pair][lang]:.3f})"
            for pair in ("zscore-lape", "zscore-ap", "lape-ap")
        ]
        print(
            f"| {lang} | "
            + " | ".join(str(sizes[m][lang]) for m in METHODS)
            + " | "
            + " | ".join(jaccard)
            + " |"
        )
    print(
        "\n| language | full PPL | "
        + " | ".join(f"{m}: own / twin / others (median)" for m in METHODS)
        + " |"
    )
    print("|---|---|" + "---|" * 3)
    tables = {
        m: json.loads((folder / f"ablate-{m}" / name / "table.json").read_text()) for m in METHODS
    }
    for lang in langs:
        cells = []
        for method in METHODS:
            row = tables[method]["increase_percent"][lang]
            twin = next(column for column, of in tables[method]["twins"].items() if of == lang)
            others = [row[other] for other in langs if other != lang]
            cells.append(
                f"{row[lang]:+,.0f}% / {row[twin]:+,.0f}% / {statistics.median(others):+,.0f}%"
            )
        print(
            f"| {lang} | {tables['zscore']['perplexity'][lang]['full model']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    print(
        "\n| from | to | "
        + " | ".join(f"{m}: steered / random" for m in METHODS)
        + " | full model |"
    )
    print("|---|---|" + "---|" * 4)
    cells = {}
    for method in METHODS:
        for source in ("en", "fr"):
            for cell in json.loads(
                (folder / f"steer-{method}-from-{source}" / name / "steer.json").read_text()
            )["cells"]:
                cells.setdefault((cell["source"], cell["target"]), {})[method] = cell
    for (source, target), by_method in cells.items():
        shares = [
            f"{100 * c['steered']['target']:.0f}% / {100 * c['random']['target']:.0f}%"
            for c in (by_method[m] for m in METHODS)
        ]
        print(
            f"| {source} | {target} | "
            + " | ".join(shares)
            + f" | {100 * by_method['zscore']['full']['target']:.0f}% |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
