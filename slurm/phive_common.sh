# shellcheck shell=bash
# phive_common.sh — shared launch / signal / requeue logic for the phive sbatch scripts.
# Sourced (not executed) by slurm/phive_sweep.sbatch and slurm/phive_array.sbatch.
#
# Contract with bin/phive: on SIGUSR1 or SIGTERM every rank finishes its iteration,
# checkpoints, and the process exits 75 ("requeue me"); 0 = all jobs complete; 1 = a job failed.
#
# Environment knobs:
#   PHIVE_LAUNCHER      srun (default) | mpirun
#   PHIVE_SRUN_MPI      srun --mpi plugin (default pmix)
#   PHIVE_SRUN_ARGS     extra srun arguments (word-split), e.g. "--gpu-bind=closest"
#   PHIVE_MPIRUN_ARGS   extra mpirun arguments (word-split), e.g. "--oversubscribe"
#   PHIVE_BIN           the phive binary (default $PHIVE_HOME/bin/phive)
#   PHIVE_MAX_REQUEUES  stop requeueing after this many restarts (default 20)
#
# Lines starting with "phive-slurm:" in the job output are markers the integration test reads.

# OpenMP threads that spin between parallel regions take the cores from OpenBLAS's and PETSc's
# work in between (measured: a 10k-vertex cloth step 1.9 s spinning, 0.5 s passive).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

phive_log() { printf 'phive-slurm: [%s] %s\n' "$(date '+%F %T')" "$*"; }
phive_die() { phive_log "ERROR: $*" >&2; exit 1; }

# Resolve PHIVE_BIN (PHIVE_HOME is set by the sbatch script before sourcing this file).
phive_find_bin() {
    PHIVE_BIN=${PHIVE_BIN:-$PHIVE_HOME/bin/phive}
    [ -x "$PHIVE_BIN" ] || phive_die "phive binary '$PHIVE_BIN' not found or not executable (run make, or set PHIVE_HOME/PHIVE_BIN)"
}

_phive_child=""      # launcher pid
_phive_nsig=0        # signals caught so far (distinguishes an interrupted wait from a real exit)
_phive_lastsig=""

# What to pass on. USR1 (the --signal=B:USR1@120 warning) goes on as USR1. TERM: srun forwards
# it to the tasks (and may itself die of a USR1 while it is shutting down), while mpirun turns
# TERM into a hard abort of the ranks but forwards USR1, so each launcher gets its graceful one.
_phive_on_signal() {
    local fwd=USR1
    _phive_nsig=$((_phive_nsig + 1))
    _phive_lastsig=$1
    [ "$1" = TERM ] && [ "$PHIVE_LAUNCHER" = srun ] && fwd=TERM
    if [ -n "$_phive_child" ]; then
        phive_log "caught SIG$1; forwarding SIG$fwd to $PHIVE_LAUNCHER (pid $_phive_child)"
        kill -"$fwd" "$_phive_child" 2>/dev/null || phive_log "launcher already gone"
    else
        phive_log "caught SIG$1 before launch"
    fi
}

# After we asked for a requeue, Slurm ends this batch step (SIGTERM, then SIGKILL): just log it.
_phive_on_late_signal() { phive_log "caught SIG$1 while requeueing; exiting"; exit 0; }

_phive_requeue() {
    local restarts=${SLURM_RESTART_COUNT:-0} max=${PHIVE_MAX_REQUEUES:-20} i state
    if [ -z "${SLURM_JOB_ID:-}" ]; then
        phive_log "not running under Slurm; exiting 75 so the caller can restart"
        exit 75
    fi
    if [ "$restarts" -ge "$max" ]; then
        phive_log "ERROR: already restarted $restarts times (PHIVE_MAX_REQUEUES=$max); not requeueing"
        exit 75
    fi
    trap '_phive_on_late_signal USR1' USR1
    trap '_phive_on_late_signal TERM' TERM
    # Requeue only a job Slurm still considers RUNNING. A plain `scancel` (or the hard time
    # limit, a node failure) also ends in SIGTERM -> checkpoint -> exit 75, but then the job is
    # already COMPLETING and `scontrol requeue` would resurrect a job the user cancelled.
    state=$(timeout 10 scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
    if [ -n "$state" ] && [ "$state" != RUNNING ]; then
        # Exit 0, not 75, so a site's RequeueExit=75 does not requeue it either.
        phive_log "job $SLURM_JOB_ID is $state (cancelled or killed by Slurm): checkpoint kept, not requeueing"
        exit 0
    fi
    for i in 1 2 3; do
        if timeout 30 scontrol requeue "$SLURM_JOB_ID"; then
            phive_log "requeued job $SLURM_JOB_ID (restart $((restarts + 1)))"
            exit 0
        fi
        sleep $((i * 2))
    done
    # Exit 75 so a site with RequeueExit=75 in slurm.conf still requeues the job.
    phive_log "ERROR: scontrol requeue $SLURM_JOB_ID failed; exiting 75"
    exit 75
}

# phive_run ARGS... : launch "$PHIVE_BIN ARGS..." on all tasks of the allocation, forward
# preemption signals, and exit: 0 complete, requeue on 75, the app's code otherwise.
phive_run() {
    local launcher=${PHIVE_LAUNCHER:-srun} rc r before reaped=""
    local -a cmd
    PHIVE_LAUNCHER=$launcher
    case $launcher in
        srun)
            # shellcheck disable=SC2206  # PHIVE_SRUN_ARGS is deliberately word-split
            cmd=(srun "--mpi=${PHIVE_SRUN_MPI:-pmix}" ${PHIVE_SRUN_ARGS:-} "$PHIVE_BIN" "$@") ;;
        mpirun)
            # mpirun takes hosts/slots from the Slurm allocation; -np pins the rank count to it.
            # shellcheck disable=SC2206
            cmd=(mpirun ${SLURM_NTASKS:+-np "$SLURM_NTASKS"} ${PHIVE_MPIRUN_ARGS:-} "$PHIVE_BIN" "$@") ;;
        *) phive_die "PHIVE_LAUNCHER must be srun or mpirun, not '$launcher'" ;;
    esac

    # Traps first, so a signal that lands while we start is not lost (bash would die on it).
    trap '_phive_on_signal USR1' USR1
    trap '_phive_on_signal TERM' TERM

    phive_log "start job=${SLURM_JOB_ID:-none} array_task=${SLURM_ARRAY_TASK_ID:-none}" \
        "restart=${SLURM_RESTART_COUNT:-0} nodes=${SLURM_JOB_NUM_NODES:-?} ntasks=${SLURM_NTASKS:-?}" \
        "host=$(hostname -s)"
    phive_log "launch: ${cmd[*]}"
    if [ "$_phive_nsig" -gt 0 ]; then
        # Preempted before the app started: nothing to checkpoint, come back later.
        phive_log "signal arrived before launch; requeueing without running"
        _phive_requeue
    fi

    # Background + wait: bash runs traps only between commands, so a foreground launcher
    # would delay the trap until the app had already been killed.
    "${cmd[@]}" &
    _phive_child=$!
    if [ "$_phive_nsig" -gt 0 ]; then
        # Caught between the check above and the launch: give the ranks a moment to install
        # their handlers (SIGUSR1's default action kills), then pass it on.
        sleep 5
        _phive_on_signal "$_phive_lastsig"
    fi

    rc=0
    while :; do
        before=$_phive_nsig
        r=0
        wait "$_phive_child" 2>/dev/null || r=$?
        # 127 after a previous round: that round already collected the real status.
        if [ "$r" = 127 ] && [ -n "$reaped" ]; then break; fi
        rc=$r
        reaped=1
        # No signal during this wait: it returned because the launcher exited.
        [ "$_phive_nsig" = "$before" ] && break
    done
    _phive_child=""

    case $rc in
        0)  phive_log "app exited 0: all jobs complete"; exit 0 ;;
        75) phive_log "app exited 75: checkpointed, requeue requested${_phive_lastsig:+ (after SIG$_phive_lastsig)}"
            _phive_requeue ;;
        *)  phive_log "app exited $rc${_phive_lastsig:+ (after SIG$_phive_lastsig)}: not requeueing"
            exit "$rc" ;;
    esac
}
