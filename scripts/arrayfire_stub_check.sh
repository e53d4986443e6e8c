#!/usr/bin/env bash
# Checks the ArrayFire feature's failure paths on a machine WITHOUT ArrayFire, by linking
# against stand-in `libaf.so` libraries built here from the `arrayfire` crate's own list of
# C functions:
#
#   1. "no backend": every call fails as the unified library does when it finds no backend
#      library (code 501). The conformance suite and tests/arrayfire.rs must link, run, and
#      report every ArrayFire test as skipped with that reason; PACT_REQUIRE_ARRAYFIRE=1 must
#      turn the skips into failures; `pact --backend arrayfire` must be a usage error naming
#      the reason.
#   2. "failing device": one CPU device that selects fine but cannot allocate (code 101).
#      Device selection must work, and the allocation failure must come back as
#      `Error::Backend("ArrayFire out of device memory (code 101): …")` — through the crate's
#      error handler and pact's unwinding guard — not as a crash.
#
# Nothing here computes with ArrayFire: that needs the real library (docs/gpu.md, Testing).
# Builds into target/af-stub (or $CARGO_TARGET_DIR), with the stand-ins in its `stub/`: the
# crate's build script looks for libaf only once per target directory, so they stay there.
# Needs a C compiler and python3.
#
#   scripts/arrayfire_stub_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

crate=$(cargo metadata --format-version 1 --features arrayfire 2>/dev/null |
  python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "arrayfire"))')
src=$(dirname "$crate")/src
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/af-stub}
stub=$(realpath -m "$CARGO_TARGET_DIR/stub")
mkdir -p "$stub"
functions() { grep -rhoE "fn af_[a-z0-9_]+" "$src" | sed 's/fn //' | sort -u; }

# 1. No backend library: everything fails with 501.
mkdir -p "$stub/none/lib"
{
  echo 'void af_get_last_error(char **msg, long long *len) { *msg = 0; *len = 0; }'
  functions | grep -v '^af_get_last_error$' | while read -r f; do echo "int $f() { return 501; }"; done
} > "$stub/none.c"
cc -shared -fPIC -o "$stub/none/lib/libaf.so" "$stub/none.c"

# 2. One CPU device that cannot allocate.
mkdir -p "$stub/nomem/lib"
special='af_get_available_backends|af_set_backend|af_get_device_count|af_set_device|af_get_dbl_support|af_get_version|af_get_last_error|af_free_host|af_device_info|af_sync'
{
  cat <<'EOF'
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
int af_get_available_backends(int *b) { *b = 1; return 0; }
int af_set_backend(int b) { return (b == 0 || b == 1) ? 0 : 501; }
int af_get_device_count(int *n) { *n = 1; return 0; }
int af_set_device(int d) { return d == 0 ? 0 : 208; }
int af_get_dbl_support(bool *ok, int d) { *ok = true; return 0; }
int af_get_version(int *a, int *b, int *c) { *a = 3; *b = 8; *c = 0; return 0; }
void af_get_last_error(char **msg, long long *len) { *msg = strdup("stub: cannot allocate"); *len = (long long)strlen(*msg); }
int af_free_host(void *p) { free(p); return 0; }
int af_device_info(char *n, char *p, char *t, char *c) { strcpy(n, "stub"); strcpy(p, "CPU"); strcpy(t, "-"); strcpy(c, "-"); return 0; }
int af_sync(int d) { return 0; }
EOF
  functions | grep -vE "^($special)\$" | while read -r f; do
    case $f in
      af_create_array | af_constant | af_constant_long | af_constant_ulong) echo "int $f() { return 101; }" ;;
      *) echo "int $f() { return 501; }" ;;
    esac
  done
} > "$stub/nomem.c"
cc -shared -fPIC -o "$stub/nomem/lib/libaf.so" "$stub/nomem.c"

export AF_PATH=$stub/none
cargo build -q -p pact-cli --features arrayfire
tests=$(cargo test -q -p pact --features arrayfire --test backend_conformance --test arrayfire --no-run \
  --message-format json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])')
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== no backend library"
export LD_LIBRARY_PATH=$stub/none/lib
for t in $tests; do
  # The conformance binary's ArrayFire tests are `arrayfire::…`; every test of the other is.
  case $(basename "$t") in backend_conformance-*) filter=arrayfire:: ;; *) filter= ;; esac
  out=$("$t" $filter 2>&1) || fail "$t: $out"
  skips=$(grep -o 'skipped: arrayfire::' <<<"$out" | wc -l)
  echo "$(basename "$t"): $skips skipped"
  [ "$skips" -gt 0 ] || fail "$t reported no skips"
  grep -q 'code 501' <<<"$out" || fail "$t: no reason given"
  if PACT_REQUIRE_ARRAYFIRE=1 "$t" $filter >/dev/null 2>&1; then
    fail "$t passed with PACT_REQUIRE_ARRAYFIRE=1"
  fi
done
set +e
out=$("$CARGO_TARGET_DIR/debug/pact" --backend arrayfire demo --quick 2>&1)
rc=$?
set -e
[ $rc -eq 2 ] && grep -q 'ArrayFire is not usable here' <<<"$out" || fail "pact --backend arrayfire: $rc $out"
echo "pact --backend arrayfire: usage error with the reason"

echo "== a device that cannot allocate"
export LD_LIBRARY_PATH=$stub/nomem/lib
for t in $tests; do
  case $t in */arrayfire-*) ;; *) continue ;; esac
  "$t" selection_resolves_or_says_why_not failures_are_errors_not_panics device_names >/dev/null 2>&1 ||
    fail "device selection or error reporting"
  out=$("$t" tensors_move_between_devices 2>&1 || true)
  grep -q 'Backend("ArrayFire out of device memory (code 101): stub: cannot allocate")' <<<"$out" ||
    fail "allocation failure not reported as Error::Backend: $out"
  echo "allocation failure reported as Error::Backend"
done
echo "ok"
