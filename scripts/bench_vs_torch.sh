#!/usr/bin/env bash
# Runs the PyTorch peer and `pact bench` on the same configuration, one after the other in one
# invocation, on the same thread count, and prints both JSON lines and the ratios.
#
#   scripts/bench_vs_torch.sh [MODE] [UNITS] [BATCH] [STEPS] [THREADS] [CHECKPOINT [DATA]]
#   defaults: plain 5 128 10 2
#
# With CHECKPOINT (a ResNet trained by `pact train`, e.g. a PACT ResNet-32 on shapes:N:32),
# `pact` times that trained network on the test split of DATA (default shapes:2000:32), so
# PACT's deterministic evaluation skips the units its halting heads stop before; the peer
# runs its dense ACT evaluation (every unit, weighted sum) — the performance issue's
# "PACT at a trained operating point against PyTorch's ACT" comparison.
#
# ISA=avx512|avx2 runs both on that instruction set: `PACT_CPU=ISA` for `pact`, and for the
# peer `ATEN_CPU_CAPABILITY` and `ONEDNN_MAX_CPU_ISA` (e.g. ISA=avx2 gives the peer
# `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`; ISA=avx512 only `ATEN_CPU_CAPABILITY=avx512`,
# oneDNN keeping its own choice, AVX-512 on such a CPU); unset, each uses the best it detects.
#
# ROUNDS=N repeats the pair N times (peer, then pact, in turn) and ends with the median of
# each ratio and every round's value: one round on a shared machine can be off by 10-20%.
#
# Needs the peer's environment: python3 -m venv .venv-peer && .venv-peer/bin/pip install torch numpy
# The peer is scripts/peer/torch_resnet.py; PEER=FILE runs another one with the same flags.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-plain}; units=${2:-5}; batch=${3:-128}; steps=${4:-10}; threads=${5:-2}
checkpoint=${6:-}; data=${7:-shapes:2000:32}
peer_mode=$mode; extra=()
if [ -n "$checkpoint" ]; then
    extra=(--checkpoint "$checkpoint" --data "$data")
    [ "$mode" = pact ] && peer_mode=act
fi
peer=${PEER:-scripts/peer/torch_resnet.py}
py=${PYTHON:-.venv-peer/bin/python}
rounds=${ROUNDS:-1}
case $rounds in ''|*[!0-9]*|0) echo "ROUNDS must be a positive integer, not '$rounds'" >&2; exit 2 ;; esac
case $units in 5) model=resnet32 ;; 18) model=resnet110 ;; *) echo "units must be 5 or 18" >&2; exit 2 ;; esac

cargo build --release -q -p pact-cli
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads RAYON_NUM_THREADS=$threads
isa=${ISA:-}
peer_env=()
case $isa in
    "") ;;
    avx512) export PACT_CPU=avx512; peer_env=(ATEN_CPU_CAPABILITY=avx512) ;;
    avx2) export PACT_CPU=avx2; peer_env=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2) ;;
    *) echo "ISA must be avx512 or avx2" >&2; exit 2 ;;
esac
pairs=()
for round in $(seq 1 "$rounds"); do
    [ "$rounds" -gt 1 ] && echo "# round $round of $rounds"
    torch_json=$(env ${peer_env[@]+"${peer_env[@]}"} "$py" "$peer" --mode "$peer_mode" --units "$units" --batch "$batch" --steps "$steps" --threads "$threads" 2>/dev/null | tail -n 1)
    pact_json=$(./target/release/pact bench --model "$model" --mode "$mode" --batch "$batch" --steps "$steps" --threads "$threads" --json ${extra[@]+"${extra[@]}"})
    echo "$torch_json"
    echo "$pact_json"
    python3 - "$torch_json" "$pact_json" <<'PY'
import json, sys
t, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ("train_img_per_s", "eval_img_per_s"):
    print(f"{k}: pact {p[k]} / pytorch {t[k]} = {p[k] / t[k]:.2f}x")
print(f"isa: pact {p.get('isa')} / pytorch {t.get('isa', '?')} on {p.get('cpu', '?')}")
print(f"peak_rss_mb: pact {p['peak_rss_mb']} / pytorch {t['peak_rss_mb']} = {p['peak_rss_mb'] / t['peak_rss_mb']:.2f}x")
PY
    pairs+=("$torch_json" "$pact_json")
done
# With several rounds (peer and pact alternating, so that both see the same drifts of a
# shared machine), the median ratio and the range of each figure.
if [ "$rounds" -gt 1 ]; then
    python3 - "${pairs[@]}" <<'PY'
import json, statistics, sys
rows = [json.loads(a) for a in sys.argv[1:]]
pairs = list(zip(rows[0::2], rows[1::2]))
print(f"# {len(pairs)} rounds")
for k in ("train_img_per_s", "eval_img_per_s"):
    ratios = sorted(p[k] / t[k] for t, p in pairs)
    print(f"{k}: median ratio {statistics.median(ratios):.2f}x "
          f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})")
PY
fi
