#!/usr/bin/env bash
# Regenerates the numbers and plots of docs/RESULTS.md: sweeps ACT's τ and PACT's λ on the
# built-in image task (and on parity), evaluates every run with its test-time procedure, and
# writes one `pact eval --json` record per run, the trade-off plots and a Markdown table.
#
#   scripts/results.sh [images|resnet32|parity|all] [OUT]      defaults: all results-runs
#   NOISE=1 scripts/results.sh images    the image sweep at the standard noise (default 4)
#
# Every run is seeded; on this project's 2-core machine the image sweep takes about 10 minutes
# and the parity sweep a few (release build).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}; out=${2:-results-runs}
cargo build --release -q -p pact-cli
pact=./target/release/pact
mkdir -p "$out"

# train MODEL PENALTY_FLAG VALUE NAME DATA_TRAIN DATA_TEST EXTRA...
run() {
    local model=$1 flag=$2 value=$3 name=$4 train=$5 test=$6; shift 6
    local dir="$out/$name/${flag#--}=$value"
    mkdir -p "$dir"
    echo "== $name: $model $flag $value"
    "$pact" train --model "$model" "$flag" "$value" --data "$train" --out "$dir" "$@" >"$dir/train.txt" 2>&1
    "$pact" eval --checkpoint "$dir/last.safetensors" --data "$test" --json >"$dir/eval.json"
}

images() {
    # Four times the standard noise by default: at the standard noise every setting scores
    # 99.4–100%.
    local noise=${NOISE:-4} name=images
    [ "$noise" = 4 ] || name=images-noise-$noise
    local train=shapes:3000:16:$noise test=shapes:900:16:$noise
    local common=(--units 3 --epochs 4 --batch-size 64 --seed 0)
    for tau in 0.01 0.03 0.1 0.3; do run act-resnet --tau "$tau" "$name" "$train" "$test" "${common[@]}"; done
    for lambda in 0.02 0.05 0.2 0.5; do run pact-resnet --lambda "$lambda" "$name" "$train" "$test" "${common[@]}"; done
    "$pact" plot tradeoff --runs "$out/$name"/* --out "docs/img/results-$name.png" \
        --title "Shapes 16×16 (noise × $noise), ResNet-20: accuracy against FLOPs"
    table "$name"
}

# PACT ResNet-32 on 32×32 shapes: the trained operating points docs/BENCHMARKS.md times.
resnet32() {
    for lambda in 0.05 0.2; do
        run pact-resnet --lambda "$lambda" resnet32 shapes:4000:32 shapes:2000:32 \
            --units 5 --epochs 3 --batch-size 64 --seed 0
    done
    table resnet32
}

table() {
    python3 - "$out/$1" <<'PY'
import json, pathlib, sys
rows = []
for f in sorted(pathlib.Path(sys.argv[1]).glob("*/eval.json")):
    r = json.loads(f.read_text())
    penalty, value = f.parent.name.split("=")
    rows.append((r["model"], penalty, float(value), r))
def flops(v):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.2f}{unit}"
    return f"{v:.0f}"
print("| model | penalty | mode | accuracy | by difficulty | FLOPs / example | units per block | eval activations (MiB) |")
print("|---|---|---|---|---|---|---|---|")
for model, penalty, value, r in sorted(rows, key=lambda x: (x[0], x[2])):
    units = " / ".join(f"{u:.2f}" for u in r["units_mean"])
    by = "/".join(f"{100 * a:.0f}" for a in r.get("accuracy_by_difficulty") or []) or "–"
    print(f"| {model} | {penalty} = {value:g} | {r['mode']} | {100 * r['accuracy']:.1f}% | {by} | "
          f"{flops(r['flops_mean'])} ± {flops(r['flops_std'])} | {units} | "
          f"{r['peak_activation_bytes'] / 2**20:.2f} |")
PY
}

# Graves' parity with a pondering tanh RNN (the recurrent defaults: Adam, constant schedule).
parity() {
    local common=(--hidden 64 --max-ponder 6 --steps 5000 --seed 0)
    for tau in 0.0001 0.001 0.01 0.1; do run act-rnn --tau "$tau" parity parity:8 parity:8 "${common[@]}"; done
    for lambda in 0.0001 0.001 0.01 0.1; do run pact-rnn --lambda "$lambda" parity parity:8 parity:8 "${common[@]}"; done
    "$pact" plot tradeoff --runs "$out/parity"/* --out docs/img/results-parity.png \
        --title "Parity (8 bits), pondering RNN: accuracy against FLOPs"
    table parity
}

case $what in
    images) images ;;
    resnet32) resnet32 ;;
    parity) parity ;;
    all) images; resnet32; parity ;;
    *) echo "usage: scripts/results.sh [images|resnet32|parity|all] [OUT]" >&2; exit 2 ;;
esac
