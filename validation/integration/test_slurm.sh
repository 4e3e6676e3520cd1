#!/usr/bin/env bash
# test_slurm.sh — preemption/requeue of slurm/phive_sweep.sbatch on a real single-node SLURM.
#
# Starts a private cluster (validation/integration/slurm_cluster.sh), submits the sweep with
# `sbatch --wait` (PHIVE_LAUNCHER=mpirun, 2 ranks), and once the first DIR/<job>/ckpt.h5 exists
# sends SIGUSR1 to the batch shell only (scancel --signal=USR1 --batch, exactly what
# `#SBATCH --signal=B:USR1@120` does at the time limit). Expected chain: trap in the batch
# shell -> SIGUSR1 forwarded to mpirun -> ranks -> phive checkpoints and exits 75 -> the script
# runs `scontrol requeue` -> the job runs again, resumes, completes, exit 0.
# Checks: sbatch exit 0, Restarts=1, the phive-slurm: markers in the job output, check_resumed,
# check_results. Then slurm/phive_array.sbatch as a 2-task array (no preemption), check_results.
#
# Run from anywhere, as root, after `make`:  validation/integration/test_slurm.sh
# Exit: 0 pass, 1 fail, 77 skipped (not root / slurm or munge not installed).
# Env: PHIVE_BIN (default bin/phive), PHIVE_SWEEP (default validation/integration/sweep_slurm.sweep),
#      PHIVE_EXPECT_JOBS (job names that must be complete; default: every DIR/<job>),
#      PHIVE_TEST_NTASKS (2), PHIVE_SLURM_TEST_TIMEOUT (600 s), PHIVE_SLURM_TEST_KEEP=1 (keep work dir).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# One hard wall-clock limit around everything: re-exec once under timeout(1). On expiry timeout
# sends TERM to our process group; the TERM trap below then stops the cluster.
if [ -z "${_PHIVE_SLURM_TEST_TIMED:-}" ]; then
    export _PHIVE_SLURM_TEST_TIMED=1
    exec timeout -k 60 "${PHIVE_SLURM_TEST_TIMEOUT:-600}" "$BASH" "${BASH_SOURCE[0]}" "$@"
fi

T0=$SECONDS
say() { printf 'test_slurm: [%3ds] %s\n' "$((SECONDS - T0))" "$*"; }
ok() { say "ok   - $*"; }
fail() { say "FAIL - $*"; exit 1; }
skip() { say "SKIP - $*"; exit 77; }

# An outer Slurm job (running the test suite under Slurm) must not leak into ours.
while IFS='=' read -r v _; do
    case $v in SLURM_*|SBATCH_*|SALLOC_*|SRUN_*|SQUEUE_*|SCONTROL_*) unset "$v" ;; esac
done < <(env)

[ "$(id -u)" = 0 ] || skip "needs root (the private cluster runs SlurmUser=root)"
for b in slurmctld slurmd sbatch scontrol scancel munged mpirun timeout; do
    command -v "$b" >/dev/null || skip "$b not installed (make deps)"
done

PHIVE_BIN=${PHIVE_BIN:-$REPO/bin/phive}
SWEEP=${PHIVE_SWEEP:-$REPO/validation/integration/sweep_slurm.sweep}
NTASKS=${PHIVE_TEST_NTASKS:-2}
[ -x "$PHIVE_BIN" ] || fail "phive binary $PHIVE_BIN missing (run make, or set PHIVE_BIN)"
[ -f "$SWEEP" ] || fail "sweep file $SWEEP missing (or set PHIVE_SWEEP)"
SWEEP=$(cd "$(dirname "$SWEEP")" && pwd)/$(basename "$SWEEP")

WORK=$(mktemp -d /tmp/phive-slurm-test.XXXXXX)
CLUSTER=$WORK/cluster
OUT=$WORK/out
SBATCH_PID=""
JOBID=""

show_logs() {
    local f
    for f in "$WORK"/job-*.out "$WORK/sbatch.out" "$WORK"/array-*.out "$WORK/sbatch-array.out"; do
        [ -f "$f" ] || continue
        echo "----- $f (last 60 lines) -----"; tail -n 60 "$f"
    done
    if [ -n "$JOBID" ]; then
        echo "----- scontrol show job $JOBID -----"
        timeout 10 scontrol show job "$JOBID" 2>&1 || true
    fi
    for f in "$CLUSTER/log/slurmctld.log" "$CLUSTER/log/slurmd.log"; do
        [ -f "$f" ] || continue
        echo "----- $f (last 20 lines) -----"; tail -n 20 "$f"
    done
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [ "$rc" = 0 ] || [ "$rc" = 77 ] || show_logs
    if [ -n "$SBATCH_PID" ]; then kill "$SBATCH_PID" 2>/dev/null; wait "$SBATCH_PID" 2>/dev/null; fi
    timeout 50 "$HERE/slurm_cluster.sh" stop "$CLUSTER" >/dev/null 2>&1 \
        || say "warning: slurm_cluster.sh stop failed (see $CLUSTER/log)"
    if [ "$rc" = 0 ] && [ -z "${PHIVE_SLURM_TEST_KEEP:-}" ]; then
        rm -rf "$WORK"
    else
        say "work directory kept: $WORK"
    fi
    say "$([ "$rc" = 0 ] && echo PASS || echo "exit $rc") in $((SECONDS - T0)) s"
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "timed out or terminated"; exit 124' TERM

# Value of KEY=... in `scontrol show job -o` (empty when the job record is gone).
job_field() {
    timeout 10 scontrol show job -o "$JOBID" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1
}
sbatch_running() { [ -n "$SBATCH_PID" ] && kill -0 "$SBATCH_PID" 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# check_results OUTDIR — every job of the sweep has a complete OUTDIR/<job>/result.h5
# (HDF5 root attribute status == 'complete', read with h5py). Jobs are PHIVE_EXPECT_JOBS if set,
# else the ids `phive sweep --list` gives for the sweep file.
# ---------------------------------------------------------------------------------------------
check_results() {
    local outdir=$1 expect=${PHIVE_EXPECT_JOBS:-}
    [ -n "$expect" ] || expect=$("$PHIVE_BIN" sweep "$SWEEP" --list 2>/dev/null | tr '\n' ' ')
    /usr/bin/python3 - "$outdir" "$expect" <<'PY'
import os, sys
try:
    import h5py
except ImportError:
    sys.exit("check_results: h5py missing for /usr/bin/python3 (apt-get install python3-h5py)")
outdir, expect = sys.argv[1], sys.argv[2].split()
jobs = expect or sorted(d for d in os.listdir(outdir) if os.path.isdir(os.path.join(outdir, d)))
if not jobs:
    sys.exit(f"check_results: no job directories under {outdir}")
bad = []
for job in jobs:
    path = os.path.join(outdir, job, "result.h5")
    try:
        with h5py.File(path, "r") as f:
            status = f.attrs.get("status")
    except OSError as e:
        bad.append(f"{job}: cannot read {path}: {e}")
        continue
    if isinstance(status, bytes):
        status = status.decode()
    if status != "complete":
        bad.append(f"{job}: status={status!r} in {path}")
    else:
        print(f"check_results: {job}: complete")
if bad:
    sys.exit("check_results: incomplete jobs:\n  " + "\n  ".join(bad))
PY
}

# check_resumed LOG — the restarted run resumed from a checkpoint instead of starting over
# (bin/phive prints "<job>: resuming from DIR/<job>/ckpt.h5 at iteration N" after the requeue).
check_resumed() {
    awk '/phive-slurm: .*requeued job/ { r = 1 } r && /resuming from .*ckpt\.h5/ { found = 1 } END { exit !found }' "$1"
}

# ---------------------------------------------------------------------------------------------
say "phive=$PHIVE_BIN sweep=$SWEEP ntasks=$NTASKS work=$WORK"
# Ports off the defaults so a real slurmd/slurmctld on this host does not collide with ours.
export SLURM_CLUSTER_CTLD_PORT=${SLURM_CLUSTER_CTLD_PORT:-16817}
export SLURM_CLUSTER_SLURMD_PORT=${SLURM_CLUSTER_SLURMD_PORT:-16818}
"$HERE/slurm_cluster.sh" start "$CLUSTER" 2>&1 | sed 's/^/  /' || fail "cluster did not start"
export SLURM_CONF=$CLUSTER/slurm.conf
ok "single-node cluster up ($(sinfo -h -o '%n %T %c CPUs'))"

# sbatch exports this environment to the job (and again on restart).
export PHIVE_HOME=$REPO PHIVE_BIN PHIVE_LAUNCHER=mpirun
export PHIVE_MPIRUN_ARGS=${PHIVE_MPIRUN_ARGS:---oversubscribe}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$WORK"
sbatch --wait --parsable --nodes=1 --ntasks-per-node="$NTASKS" --job-name=phive-test \
    --output="$WORK/job-%j.out" "$REPO/slurm/phive_sweep.sbatch" "$SWEEP" "$OUT" \
    >"$WORK/sbatch.out" 2>&1 &
SBATCH_PID=$!

deadline=$((SECONDS + 30))
until JOBID=$(head -n1 "$WORK/sbatch.out" 2>/dev/null | grep -Eo '^[0-9]+' ); do
    sbatch_running || fail "sbatch exited before printing a job id: $(cat "$WORK/sbatch.out")"
    [ "$SECONDS" -lt "$deadline" ] || fail "no job id from sbatch after 30 s"
    sleep 0.2
done
ok "submitted job $JOBID (sbatch --wait pid $SBATCH_PID)"

# Preempt only once the app has made progress worth keeping: the first checkpoint on disk.
deadline=$((SECONDS + 180))
until ckpt=$(find "$OUT" -name ckpt.h5 -print -quit 2>/dev/null) && [ -n "$ckpt" ]; do
    sbatch_running || fail "job $JOBID ended before writing any ckpt.h5 (sweep too short to preempt?)"
    [ "$SECONDS" -lt "$deadline" ] || fail "no ckpt.h5 under $OUT after 180 s"
    sleep 0.2
done
[ "$(job_field JobState)" = RUNNING ] || fail "job $JOBID not RUNNING when $ckpt appeared (state $(job_field JobState))"
ok "first checkpoint ${ckpt#"$OUT"/} written while job is RUNNING"

scancel --signal=USR1 --batch "$JOBID"
ok "sent SIGUSR1 to the batch shell of job $JOBID (scancel --signal=USR1 --batch)"

# Requeue: Restarts goes to 1 and the job becomes PENDING with a BeginTime ~cred_expire (120 s)
# ahead; pull it forward so the test does not wait out that delay, to 2 s from now: slurmd
# revokes the first run's credential with a one-second clock, and a relaunch within that second
# is refused ("Job credential revoked": the job fails instead of running again).
# Restarts turns 1 while the first run is still ending (state RUNNING), so only a RUNNING seen
# after PENDING is the restart.
deadline=$((SECONDS + 180))
seen_pending=0
while :; do
    state=$(job_field JobState) restarts=$(job_field Restarts) reason=$(job_field Reason)
    if [ "${restarts:-0}" -ge 1 ]; then
        case $state in
            PENDING) seen_pending=1
                [ "$reason" != BeginTime ] \
                || timeout 10 scontrol update JobId="$JOBID" StartTime=now+2 >/dev/null 2>&1 || true ;;
            RUNNING) [ "$seen_pending" = 0 ] || break ;;
            COMPLETED) break ;;
        esac
    fi
    sbatch_running || break
    [ "$SECONDS" -lt "$deadline" ] || fail "job $JOBID not requeued 180 s after SIGUSR1 (state $state, restarts ${restarts:-?})"
    sleep 0.5
done
[ "${restarts:-0}" -ge 1 ] || fail "job $JOBID ended without being requeued (state $state)"
ok "job $JOBID requeued (Restarts=$restarts) and released"

rc=0
wait "$SBATCH_PID" || rc=$?
SBATCH_PID=""
[ "$rc" = 0 ] || fail "sbatch --wait exited $rc (job failed)"
ok "sbatch --wait exited 0"

# Slurm's own record (kept MinJobAge seconds after the end).
state=$(job_field JobState) restarts=$(job_field Restarts) exitcode=$(job_field ExitCode)
if [ -n "$state" ]; then
    [ "$state" = COMPLETED ] || fail "final JobState=$state"
    [ "$restarts" = 1 ] || fail "Restarts=$restarts, expected exactly 1"
    [ "$exitcode" = 0:0 ] || fail "ExitCode=$exitcode"
    ok "scontrol: JobState=COMPLETED Restarts=1 ExitCode=0:0"
else
    say "note: job record already purged; relying on the output markers"
fi

# The batch script's markers (one output file, appended across both runs).
log=$WORK/job-$JOBID.out
[ -f "$log" ] || fail "job output $log missing"
expect_marker() { # COUNT REGEX WHAT
    local n
    n=$(grep -cE "^phive-slurm: \[[^]]*\] $2" "$log" || true)
    [ "$n" = "$1" ] || fail "$3: expected $1 marker(s) /$2/ in $log, found $n"
    ok "$3"
}
expect_marker 1 "start job=$JOBID .*restart=0 " "first run started"
expect_marker 1 "caught SIGUSR1; forwarding SIGUSR1 to mpirun" "batch shell trapped SIGUSR1 and forwarded it"
expect_marker 1 "app exited 75: checkpointed, requeue requested" "app exited 75 after the signal"
expect_marker 1 "requeued job $JOBID " "script requeued the job"
expect_marker 1 "start job=$JOBID .*restart=1 " "second run started (SLURM_RESTART_COUNT=1)"
expect_marker 1 "app exited 0: all jobs complete" "second run completed"
# Ordering: the completion comes after the requeue, i.e. in the restarted run.
awk '/requeued job/ { r = NR } /app exited 0: all jobs complete/ { c = NR } END { exit !(r && c > r) }' "$log" \
    || fail "completion marker does not follow the requeue marker"

check_resumed "$log" || fail "the restarted run did not report resuming from a ckpt.h5"
ok "restarted run resumed from its checkpoint"
check_results "$OUT" 2>&1 | sed 's/^/  /' || fail "results incomplete"
ok "all results complete"

# ---------------------------------------------------------------------------------------------
# slurm/phive_array.sbatch: a 2-task array over the same sweep, ids 1-2 so the script's mapping
# to the 0-based --array-index is exercised. No preemption here (same code path as above).
OUT_ARRAY=$WORK/out-array
rc=0
timeout 300 sbatch --wait --parsable --array=1-2 --nodes=1 --ntasks-per-node=1 --job-name=phive-test-array \
    --output="$WORK/array-%A_%a.out" "$REPO/slurm/phive_array.sbatch" "$SWEEP" "$OUT_ARRAY" \
    >"$WORK/sbatch-array.out" 2>&1 || rc=$?
ARRAY_ID=$(head -n1 "$WORK/sbatch-array.out" | grep -Eo '^[0-9]+' || true)
[ "$rc" = 0 ] || fail "array job ${ARRAY_ID:-?}: sbatch --wait exited $rc"
ok "array job $ARRAY_ID (tasks 1-2): sbatch --wait exited 0"
for t in 1 2; do
    alog=$WORK/array-${ARRAY_ID}_$t.out
    [ -f "$alog" ] || fail "array task $t output $alog missing"
    grep -qE "^phive-slurm: .* launch: .* --array-index $((t - 1)) --array-count 2( |$)" "$alog" \
        || fail "array task $t was not launched with --array-index $((t - 1)) --array-count 2"
    grep -qE "^phive-slurm: .* app exited 0: all jobs complete" "$alog" || fail "array task $t did not complete"
    ok "array task $t ran --array-index $((t - 1)) --array-count 2 and completed"
done
check_results "$OUT_ARRAY" 2>&1 | sed 's/^/  /' || fail "array results incomplete"
ok "all array results complete"
