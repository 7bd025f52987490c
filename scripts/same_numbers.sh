#!/usr/bin/env bash
# Runs a quick setting of every compare group, each as `dlrun compare ... --json > OUT/<group>.json`,
# so that two commits can be checked for the same numbers:
#   git checkout A && scripts/same_numbers.sh /tmp/a
#   git checkout B && scripts/same_numbers.sh /tmp/b
#   .venv/bin/python scripts/same_numbers.py /tmp/a /tmp/b
set -euo pipefail
out=${1:?usage: scripts/same_numbers.sh OUT_DIR}
dlrun=${DLRUN:-.venv/bin/dlrun}
mkdir -p "$out"
while read -r group options; do
  "$dlrun" compare "$group" $options --json --out "$out/runs" > "$out/$group.json" 2> "$out/$group.err" \
    || echo "$group failed (exit $?): see $out/$group.err"
done <<'GROUPS'
all --epochs 2 --train-size 1000
xor
vanishing-gradient --train-size 500 --epochs 1
cnn-vs-mlp --train-size 500 --epochs 1
batchnorm --train-size 500 --epochs 1
adversarial --train-size 500 --epochs 1
slot-filling --train-size 300 --epochs 1
generative --train-size 500 --epochs 1
optimizers --train-size 500 --epochs 2 --seeds 2
regularization --train-size 500 --epochs 3
GROUPS
