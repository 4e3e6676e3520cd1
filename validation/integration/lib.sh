# lib.sh — shared helpers of the integration tests (sourced).
set -euo pipefail
PHIVE=${PHIVE_BIN:-$PWD/bin/phive}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
check() { echo "check: $*"; }

# expect_error CODE PATTERN -- command...: runs the command, wants exit CODE and PATTERN in its output
expect_error() {
    local code=$1 pattern=$2
    shift 3
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    [ "$rc" -eq "$code" ] || fail "'$*' exited $rc, expected $code; output: $out"
    grep -qiE -- "$pattern" <<<"$out" || fail "'$*' output lacks /$pattern/: $out"
    echo "ok: $* -> exit $rc, /$pattern/"
}

# A fast SDF config for the tests: small net, few iterations, one thread per rank.
small_config() {
    cat >"$1" <<EOC
include = $PWD/configs/sdf/default.ini
[job]
name = t
[model]
width = 32
hidden_layers = 2
[train]
iterations = ${2:-200}
batch = 512
[eval]
points = 4000
grid = 16
[run]
threads = 1
checkpoint_every = 50
log_every = 100
EOC
}

# resume_after_interrupt INI OUT: runs the job, stops it with SIGUSR1 once its checkpoint exists
# (exit 75, no result.h5), then reruns it, which must resume from the checkpoint and complete.
resume_after_interrupt() {
    local ini=$1 out=$2 pid rc=0
    "$PHIVE" run "$ini" --out "$out" 2>"$TMP/log_interrupted" &
    pid=$!
    for _ in $(seq 1 1000); do ls "$out"/*/ckpt.h5 >/dev/null 2>&1 && break; sleep 0.01; done
    kill -USR1 "$pid"
    wait "$pid" || rc=$?
    [ "$rc" -eq 75 ] || { cat "$TMP/log_interrupted"; fail "SIGUSR1 should stop the job with exit 75, got $rc"; }
    ! ls "$out"/*/result.h5 >/dev/null 2>&1 || fail "an interrupted job wrote result.h5"
    "$PHIVE" run "$ini" --out "$out" 2>"$TMP/log_resumed" || { cat "$TMP/log_resumed"; fail "resumed run failed"; }
    grep "resuming from" "$TMP/log_resumed" || fail "the rerun did not resume"
}

# same_datasets LABEL DIR_A DIR_B DATASET...: the result.h5 of the job in each output directory
# holds bit-identical DATASETs (a resumed run against the uninterrupted one).
same_datasets() {
    $PY - "$@" <<'PY'
import glob, sys
import h5py, numpy as np
label, dir_a, dir_b, *names = sys.argv[1:]
a = h5py.File(glob.glob(dir_a + "/*/result.h5")[0])
b = h5py.File(glob.glob(dir_b + "/*/result.h5")[0])
for k in names:
    assert np.array_equal(a[k][:], b[k][:]), k
print(f"{label}: {', '.join(names)} ({len(b[names[0]])} values) bit-identical to the uninterrupted run")
PY
}
