#!/usr/bin/env bash
# How cost grows with batch size and with the number of units, pact against the PyTorch peer,
# side by side (scripts/bench_vs_torch.sh for each point), as a Markdown table.
#
#   scripts/bench_scaling.sh [MODE] [STEPS] [THREADS]     defaults: act 5 2
#
# Rows: ResNet-32 (5 units per stage) at batch 16, 32, 64, 128 and 256, then ResNet-110
# (18 units per stage) at batch 128.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-act}; steps=${2:-5}; threads=${3:-2}
echo "| units per stage | batch | pact train img/s | PyTorch train img/s | ratio | pact eval img/s | PyTorch eval img/s | ratio |"
echo "|---|---|---|---|---|---|---|---|"
for point in "5 16" "5 32" "5 64" "5 128" "5 256" "18 128"; do
    set -- $point
    out=$(scripts/bench_vs_torch.sh "$mode" "$1" "$2" "$steps" "$threads")
    python3 - "$1" "$2" <<PY
import json, sys
lines = """$out""".strip().splitlines()
t, p = json.loads(lines[0]), json.loads(lines[1])
tr, ev = p["train_img_per_s"] / t["train_img_per_s"], p["eval_img_per_s"] / t["eval_img_per_s"]
print(f"| {sys.argv[1]} | {sys.argv[2]} | {p['train_img_per_s']} | {t['train_img_per_s']} | {tr:.2f}× "
      f"| {p['eval_img_per_s']} | {t['eval_img_per_s']} | {ev:.2f}× |")
PY
done
