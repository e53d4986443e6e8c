#!/usr/bin/env bash
# Evaluation speed of the Fashion-MNIST sweep's networks, on an idle machine: every setting's
# seed-0 checkpoint evaluated on the 10 000 test images with its own test-time procedure
# (`pact eval`, batches of 256, 2 threads), three times in turn, median images per second;
# and the PyTorch peer's dense evaluation of the same ResNet-32 shape (1×28×28, 10 classes) in
# ACT and plain mode for reference. Prints a Markdown table.
#
#   scripts/fashion_speed.sh [OUT]       default OUT: results-runs (where the sweep put them)
#
# Run it when nothing else runs: the figures are timings.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results-runs}
records=${FASHION_RECORDS:-docs/results/fashion}
data=${FASHION_DATA:-fashion-mnist}
threads=${THREADS:-2}
cargo build --release -q -p pact-cli
pact=./target/release/pact
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
settings=$(ls "$records")
for round in 1 2 3; do
    for setting in $settings; do
        ckpt="$out/fashion/$setting/seed-0/last.safetensors"
        [ -f "$ckpt" ] || continue
        "$pact" eval --checkpoint "$ckpt" --data "$data" --batch-size 256 --json \
            >"$tmp/$setting.$round.json"
    done
done
peer=${PEER:-scripts/peer/torch_resnet.py}
py=${PYTHON:-.venv-peer/bin/python}
if [ -x "$py" ]; then
    for mode in plain act; do
        "$py" "$peer" --mode "$mode" --units 5 --batch 256 --steps 10 --threads "$threads" \
            --channels 1 --size 28 >"$tmp/peer-$mode.json" 2>/dev/null || true
    done
fi
python3 - "$tmp" "$records" <<'PY'
import json, pathlib, statistics, sys
tmp, records = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rows = []
for setting in sorted(p.name for p in records.iterdir() if p.is_dir()):
    runs = [json.loads(f.read_text()) for f in sorted(tmp.glob(f"{setting}.*.json"))]
    if not runs:
        continue
    speed = statistics.median(r["examples_per_s"] for r in runs)
    rows.append((setting, runs[0]["mode"], runs[0]["flops_mean"] / 1e6, speed,
                 runs[0]["peak_activation_bytes"] / 2**20))
print("| setting | procedure | MFLOPs / image | images / s (median of 3) | eval activations (MiB) |")
print("|---|---|---|---|---|")
for setting, mode, flops, speed, mem in rows:
    print(f"| {setting} | {mode} | {flops:.1f} | {speed:.0f} | {mem:.1f} |")
for mode in ("plain", "act"):
    f = tmp / f"peer-{mode}.json"
    if f.exists() and f.read_text().strip():
        r = json.loads(f.read_text().strip().splitlines()[-1])
        print(f"| PyTorch peer, dense {mode} (every unit) | {mode} | 105.0 | {r['eval_img_per_s']:.0f} | – |")
PY
