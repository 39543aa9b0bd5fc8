#!/usr/bin/env bash
# The three key-neuron methods, their deactivation tables and the steering tables on one real model
# (issue 17's RESULTS section). Needs `make demo` first (the Bible sample in out/demo/sample).
#   benchmarks/methods_and_steering.sh gemma3-270m|smollm2-135m [PROMPTS_PER_LANGUAGE] [EVAL_VERSES]
# (Gemma's 262k-token vocabulary makes each perplexity evaluation cost about a second per 150 tokens
# on 2 cores: the tables use the first EVAL_VERSES held-out verses of each language.)
set -euo pipefail
MODEL_ALIAS=${1:?a model alias: gemma3-270m or smollm2-135m}
PER_LANG=${2:-10}
EVAL_VERSES=${3:-10}
LFE=${LFE:-.venv/bin/lfe}
SAMPLE=out/demo/sample
OUT=out/methods/$MODEL_ALIAS
MODEL=$($LFE models fetch "$MODEL_ALIAS" | tail -1)
mkdir -p "$OUT/eval"
for file in "$SAMPLE"/holdout/*.txt; do head -n "$EVAL_VERSES" "$file" > "$OUT/eval/$(basename "$file")"; done
# steering prompts: the first held-out verses of English and French
awk -F'\t' -v n="$PER_LANG" 'NR == 1 || (($1 == "en" || $1 == "fr") && ++seen[$1] <= n)' "$SAMPLE/holdout.tsv" > "$OUT/prompts.tsv"
time $LFE extract "$MODEL" --corpus "$SAMPLE/probe.tsv" --name "$MODEL_ALIAS" --stats mean,positive --quiet --out "$OUT/run.zarr"
time $LFE analyze "$OUT/run.zarr" --method all --quiet --out "$OUT/analysis"
for method in zscore lape ap; do
  time $LFE ablate "$MODEL" "$OUT/run.zarr" --method "$method" --eval "$OUT/eval" --out "$OUT/ablate-$method"
  time $LFE steer "$MODEL" "$OUT/run.zarr" --method "$method" --from en --to all --prompts "$OUT/prompts.tsv" \
    --max-new-tokens 24 --out "$OUT/steer-$method-from-en"
  time $LFE steer "$MODEL" "$OUT/run.zarr" --method "$method" --from fr --to en --prompts "$OUT/prompts.tsv" \
    --max-new-tokens 24 --out "$OUT/steer-$method-from-fr"
done
