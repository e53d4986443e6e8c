#!/usr/bin/env bash
# Regenerates the numbers and plots of docs/RESULTS.md: sweeps ACT's τ and PACT's λ on the
# built-in image task (and on parity), evaluates every run with its test-time procedure, and
# writes one `pact eval --json` record per run, the trade-off plots and a Markdown table.
#
#   scripts/results.sh [images|resnet32|parity|all] [OUT]      defaults: all results-runs
#   NOISE=1 scripts/results.sh images    the image sweep at the standard noise (default 4)
#   scripts/results.sh parity-seeds      the demo's parity RNNs, ACT and PACT, over 5 seeds
#   scripts/results.sh lstm-sort         pondering LSTMs on Graves' sort task, ACT and PACT
#   scripts/results.sh fashion [OUT]     the Fashion-MNIST sweep (hours; resumable, see below)
#   scripts/results.sh fashion-report    tables and plots from the committed Fashion-MNIST records
#
# Every run is seeded; on this project's 2-core machine the image sweep takes about 10 minutes
# and the parity sweep a few (release build).
#
# The Fashion-MNIST sweep (needs `apt-get install dataset-fashion-mnist`) trains a plain
# ResNet, ACT over several τ and PACT over several λ, each with several seeds, and writes one
# JSON record per run to docs/results/fashion/SETTING/seed-S.json (committed; checkpoints stay
# under OUT). Run it again after an interruption and it goes on where it stopped: finished
# runs (those with a record) are skipped, an interrupted training resumes from its last
# checkpoint. `fashion-report` prints the tables of docs/RESULTS.md and draws its plots.
# The same sweep is the grid docs/results/fashion/grid.toml for `pact sweep` (built with
# `--features mpi`, `mpirun -np K pact sweep docs/results/fashion/grid.toml` runs K runs at a
# time; docs/distributed.md); both use the same directories and records.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}; out=${2:-results-runs}
cargo build --release -q -p pact-cli
mkdir -p "$out"
# A copy of the binary, so that rebuilding while a long sweep runs does not change it midway.
pact="$out/.pact-$$"
cp target/release/pact "$pact"
trap 'rm -f "$pact"' EXIT
# The commit the binary was built from (+ when the tree had changes), stored in the records.
built_from=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || built_from="$built_from+"

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

# recurrent_seeds NAME DATA "SEEDS" "MODELS" TRAIN_FLAGS...: every model on the sequence task
# DATA for every seed (skipping runs already evaluated), each evaluated on 2000 generated
# sequences, then a table of seeds against models.
recurrent_seeds() {
    local name=$1 data=$2 seeds=$3 models=$4; shift 4
    for seed in $seeds; do
        for model in $models; do
            local dir="$out/$name/$model/seed-$seed"
            mkdir -p "$dir"
            if [ ! -f "$dir/eval.json" ]; then
                echo "== $data $model seed $seed"
                "$pact" train --model "$model" --data "$data" --seed "$seed" --out "$dir" "$@" \
                    >"$dir/train.txt" 2>&1
                "$pact" eval --checkpoint "$dir/last.safetensors" --data "$data" --seed "$seed" \
                    --examples 2000 --json >"$dir/eval.json"
            fi
        done
    done
    seed_table "$out/$name"
}

# The demo's parity RNNs (ACT and PACT at their defaults, 5000 steps) over several seeds.
parity_seeds() {
    recurrent_seeds parity-seeds parity:8 "${SEEDS:-0 1 2 3 4}" "act-rnn pact-rnn" \
        --hidden 64 --max-ponder 6 --steps 5000
}

# Graves' sort task (at most 4 numbers) with pondering LSTMs, ACT against PACT.
lstm_sort() {
    recurrent_seeds lstm-sort sort:4 "${SEEDS:-0 1 2}" "act-lstm pact-lstm" \
        --hidden 64 --max-ponder 6 --steps "${LSTM_STEPS:-3000}"
}

# One row per seed, one column per model: accuracy and pondering steps per input step.
seed_table() {
    python3 - "$1" <<'PY'
import json, pathlib, sys
root = pathlib.Path(sys.argv[1])
models = sorted(p.name for p in root.iterdir() if p.is_dir())
seeds = sorted({s.name for m in models for s in (root / m).iterdir() if (s / "eval.json").exists()},
               key=lambda s: int(s.split("-")[1]))
print("| seed | " + " | ".join(f"{m}: accuracy | steps | FLOPs" for m in models) + " |")
print("|---|" + "---|---|---|" * len(models))
for seed in seeds:
    cells = []
    for m in models:
        f = root / m / seed / "eval.json"
        if f.exists():
            r = json.loads(f.read_text())
            cells.append(f"{100 * r['accuracy']:.1f}% | {r['units_mean'][0]:.2f} | {r['flops_mean'] / 1e3:.1f}k")
        else:
            cells.append("– | – | –")
    print(f"| {seed.split('-')[1]} | " + " | ".join(cells) + " |")
PY
}

# The Fashion-MNIST sweep: one network and budget for every setting (the choice is explained
# in docs/RESULTS.md), seeds in the outer loop so that every setting has a first seed early.
# (The FASHION_* variables exist for trying the script on a small copy of the data.)
FASHION_RECORDS=${FASHION_RECORDS:-docs/results/fashion}
FASHION_DATA=${FASHION_DATA:-fashion-mnist}
FASHION_EPOCHS=${FASHION_EPOCHS:-3}
FASHION_SEEDS=${FASHION_SEEDS:-0 1 2}
FASHION_TAU=${FASHION_TAU:-0.02 0.05 0.1 0.2 0.4}
FASHION_LAMBDA=${FASHION_LAMBDA:-0.01 0.015 0.02 0.03 0.05 0.1 0.2 0.35 0.6}
FASHION_COMMON=(--units 5 --epochs "$FASHION_EPOCHS" --batch-size 64 --penalty-warmup 0.5)

# fashion_run MODEL SETTING SEED [FLAGS...]: one run, skipped if its record exists.
fashion_run() {
    local model=$1 setting=$2 seed=$3; shift 3
    local record="$FASHION_RECORDS/$setting/seed-$seed.json"
    [ -f "$record" ] && return 0
    local dir="$out/fashion/$setting/seed-$seed" resume=()
    mkdir -p "$dir" "$FASHION_RECORDS/$setting"
    if [ ! -f "$dir/trained" ]; then
        if [ -f "$dir/last.safetensors" ]; then
            resume=(--resume)
        else
            rm -f "$dir/log.jsonl" "$dir/train.txt"  # a start cut short before its first checkpoint
        fi
        echo "== $(date +%H:%M) fashion $setting seed $seed ${resume[*]}"
        if ! "$pact" train --model "$model" --data "$FASHION_DATA" --seed "$seed" --out "$dir" \
            "${FASHION_COMMON[@]}" "$@" "${resume[@]}" >>"$dir/train.txt" 2>&1; then
            echo "   failed: see $dir/train.txt" >&2
            return 0
        fi
        touch "$dir/trained"
    fi
    "$pact" eval --checkpoint "$dir/last.safetensors" --data "$FASHION_DATA" --json >"$dir/eval.json"
    python3 - "$dir" "$setting" "$seed" "$record" "$built_from" <<'PY'
import json, os, pathlib, sys
run, setting, seed, record, commit = sys.argv[1:]
r = json.loads(pathlib.Path(run, "eval.json").read_text())
log = [json.loads(l) for l in pathlib.Path(run, "log.jsonl").read_text().splitlines() if l.strip()]
# Training seconds over every call (a resumed run's log restarts its clock).
seconds, last = 0.0, 0.0
for x in log:
    if x.get("elapsed_s", 0.0) < last:
        seconds += last
    last = x.get("elapsed_s", 0.0)
seconds += last
r.update({
    "setting": setting,
    "seed": int(seed),
    "train_steps": log[-1]["step"] if log else 0,
    "train_seconds": round(seconds, 1),
    "final_train_units": [log[-1][k] for k in sorted(log[-1]) if k.startswith("units_")] if log else [],
    "commit": commit,
})
tmp = record + ".tmp"
pathlib.Path(tmp).write_text(json.dumps(r, indent=1) + "\n")
os.replace(tmp, record)
PY
}

fashion() {
    for seed in $FASHION_SEEDS; do
        fashion_run resnet resnet "$seed"
        for tau in $FASHION_TAU; do fashion_run act-resnet "act-tau-$tau" "$seed" --tau "$tau"; done
        for lambda in $FASHION_LAMBDA; do
            fashion_run pact-resnet "pact-lambda-$lambda" "$seed" --lambda "$lambda"
        done
    done
    fashion_report
}

# Tables (Markdown, on stdout and into docs/RESULTS.md) and plots (docs/img/fashion-*.png) from
# the records.
fashion_report() {
    python3 scripts/fashion_report.py "$FASHION_RECORDS" "$pact" --write docs/RESULTS.md
}

case $what in
    images) images ;;
    resnet32) resnet32 ;;
    parity) parity ;;
    fashion) fashion ;;
    parity-seeds) parity_seeds ;;
    lstm-sort) lstm_sort ;;
    fashion-report) fashion_report ;;
    all) images; resnet32; parity ;;
    *) echo "usage: scripts/results.sh [images|resnet32|parity|parity-seeds|lstm-sort|fashion|fashion-report|all] [OUT]" >&2; exit 2 ;;
esac
