#!/usr/bin/env bash
# Kill-and-resume: a job stopped by SIGUSR1 or SIGTERM (checkpoint, exit 75) or killed
# with SIGKILL after a periodic checkpoint, then rerun, ends bit-identical to
# an uninterrupted run with the same rank count: parameters, loss curve,
# final metrics.  Checked on 1 rank and on 2 ranks (mpirun forwards SIGUSR1).
source validation/integration/lib.sh
small_config "$TMP/job.ini" 1500
# interrupt LAUNCHER SIGNAL OUT: start a run, signal it once the first checkpoint exists
interrupt() {
    local launcher=$1 signal=$2 out=$3 rc=0
    $launcher "$PHIVE" run "$TMP/job.ini" --out "$out" 2>"$out.log" &
    local pid=$!
    for _ in $(seq 400); do ls "$out"/*/ckpt.h5 >/dev/null 2>&1 && break; sleep 0.05; done
    ls "$out"/*/ckpt.h5 >/dev/null 2>&1 || fail "no checkpoint appeared in $out"
    kill -s "$signal" "$pid"
    wait "$pid" || rc=$?
    echo "$launcher run stopped by $signal: exit $rc"
    if [ "$signal" != KILL ]; then
        [ "$rc" -eq 75 ] || { cat "$out.log"; fail "SIG$signal should exit 75 (requeue), got $rc"; }
        grep -q "stop requested, checkpointing" "$out.log" || fail "no checkpoint-on-stop message"
    fi
    ! ls "$out"/*/result.h5 >/dev/null 2>&1 || fail "an interrupted job wrote result.h5"
    $launcher "$PHIVE" run "$TMP/job.ini" --out "$out" 2>"$out.log2" || { cat "$out.log2"; fail "resume failed"; }
    grep -q "resuming from" "$out.log2" || fail "the rerun did not resume from the checkpoint"
}

compare() { # reference dir, resumed dir
    $PY - "$1" "$2" <<'PY'
import glob, sys
import h5py, numpy as np
a = h5py.File(glob.glob(sys.argv[1] + "/*/result.h5")[0])
b = h5py.File(glob.glob(sys.argv[2] + "/*/result.h5")[0])
for name in a["outputs/params"]:
    assert np.array_equal(a["outputs/params/" + name][:], b["outputs/params/" + name][:]), name
assert np.array_equal(a["metrics/loss"][:], b["metrics/loss"][:]), "loss curves differ"
assert np.array_equal(a["outputs/sdf_grid"][:], b["outputs/sdf_grid"][:])
assert dict(a["final"].attrs) == dict(b["final"].attrs)
print(f"{sys.argv[2]}: bit-identical to the uninterrupted run ({len(a['metrics/loss'])} losses)")
PY
}

for launcher in "" "mpirun -np 2"; do
    tag=${launcher:+mpi}
    tag=${tag:-serial}
    $launcher "$PHIVE" run "$TMP/job.ini" --out "$TMP/ref_$tag" 2>/dev/null
    interrupt "$launcher" USR1 "$TMP/usr1_$tag"
    compare "$TMP/ref_$tag" "$TMP/usr1_$tag"
done
interrupt "" TERM "$TMP/term_serial"
compare "$TMP/ref_serial" "$TMP/term_serial"
interrupt "" KILL "$TMP/kill_serial"
compare "$TMP/ref_serial" "$TMP/kill_serial"
