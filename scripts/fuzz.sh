#!/usr/bin/env bash
# Fuzzes the readers of untrusted input for a bounded time: every target of fuzz/ (cifar10,
# idx, csv, checkpoint, config), SECONDS each (default 60).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# With cargo-fuzz and a nightly toolchain it runs libFuzzer (coverage-guided, seeded from
# the stable driver's inputs; by default without a sanitizer and with debug assertions, so
# that integer overflow is caught: PACT_FUZZ_FLAGS="-a" adds AddressSanitizer); otherwise, or with PACT_FUZZ_STABLE=1, the stable driver
# (fuzz/examples/stable.rs: random and mutated inputs, any toolchain). A crash leaves its
# input under fuzz/artifacts/TARGET/ and makes the script exit non-zero; turn it into a fix
# and a regression test (docs/guide/fuzzing.md). CI does not run this; it runs the
# regression tests.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(cifar10 idx csv checkpoint config)
fi

# The stable driver shares the main build directory, whose dependencies it reuses.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
stable() {
  cargo run -q --manifest-path fuzz/Cargo.toml --no-default-features --example stable -- "$@"
}

status=0
if [[ ${PACT_FUZZ_STABLE:-0} != 1 ]] && cargo fuzz --version >/dev/null 2>&1 \
  && rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "== cargo fuzz (libFuzzer), ${seconds}s per target"
  for t in "${targets[@]}"; do
    if [[ ! -d fuzz/corpus/$t ]]; then
      stable "$t" --write-seeds "fuzz/corpus/$t"
    fi
    echo "-- $t"
    # cargo-fuzz keeps its own build directory (instrumented, another toolchain).
    (cd fuzz && CARGO_TARGET_DIR=target cargo +nightly fuzz run ${PACT_FUZZ_FLAGS:--s none -a} "$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1) \
      || status=1
  done
else
  echo "== stable driver (no cargo-fuzz or nightly), ${seconds}s per target"
  for t in "${targets[@]}"; do
    stable "$t" "$seconds" "${PACT_FUZZ_SEED:-0}" || status=1
  done
fi
if [[ $status -ne 0 ]]; then
  echo "fuzzing found crashes: see fuzz/artifacts/" >&2
fi
exit $status
