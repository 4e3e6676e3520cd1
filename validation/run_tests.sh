#!/usr/bin/env bash
# Runs every unit test binary (cmocka) and every integration script, then
# prints one closing line "N passed, N failed".  Unit tests count per cmocka
# test case; each integration script counts as one test.
# Environment: BUILD (float build dir), DBL (double build dir), ONLY / SKIP (regexes on test names),
# VERBOSE=1 (print the output of passing tests too).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/cpu}
DBL=${DBL:-build/double}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export PHIVE_BIN=${PHIVE_BIN:-$PWD/bin/phive}
passed=0
failed=0
failures=()
log_dir=$(mktemp -d)

run_unit() {
    local bin=$1 name log
    name=$(basename "$bin")
    log=$log_dir/$name.log
    "$bin" >"$log" 2>&1
    local rc=$?
    local ok bad
    ok=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    bad=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    ok=${ok:-0}
    bad=${bad:-0}
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi # crashed before its summary
    passed=$((passed + ok))
    failed=$((failed + bad))
    printf '%-34s %3d passed, %d failed\n' "$name" "$ok" "$bad"
    if [ "$bad" -ne 0 ]; then failures+=("$name"); sed 's/^/    /' "$log" | tail -40;
    elif [ -n "${VERBOSE:-}" ]; then sed 's/^/    /' "$log"; fi
}

run_script() {
    local script=$1 name log start
    name=$(basename "$script" .sh)
    log=$log_dir/$name.log
    start=$(date +%s)
    timeout 900 bash "$script" >"$log" 2>&1
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        passed=$((passed + 1))
        printf '%-34s ok (%ds)\n' "$name" $(($(date +%s) - start))
        [ -z "${VERBOSE:-}" ] || sed 's/^/    /' "$log"
    else
        failed=$((failed + 1))
        failures+=("$name")
        printf '%-34s FAILED (exit %d, %ds)\n' "$name" "$rc" $(($(date +%s) - start))
        sed 's/^/    /' "$log" | tail -60
    fi
}

selected() {
    [[ -n "${ONLY:-}" && ! $1 =~ $ONLY ]] && return 1
    [[ -n "${SKIP:-}" && $1 =~ $SKIP ]] && return 1
    return 0
}

for bin in "$BUILD"/tests/test_* "$DBL"/tests/grad_*; do
    [ -x "$bin" ] || continue
    selected "$(basename "$bin")" || continue
    run_unit "$bin"
done
for script in validation/integration/test_*.sh; do
    selected "$(basename "$script")" || continue
    run_script "$script"
done
rm -rf "$log_dir"
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
