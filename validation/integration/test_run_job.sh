#!/usr/bin/env bash
# One real `sdf` job: it trains, result.h5 reads in h5py with the right types,
# an independent numpy forward pass reproduces its SDF grid, the fit is close
# to the analytic torus, and a rerun skips the complete job.
source validation/integration/lib.sh
small_config "$TMP/job.ini" 600
"$PHIVE" run "$TMP/job.ini" --out "$TMP/out" 2>"$TMP/log" || { cat "$TMP/log"; fail "run failed"; }
grep -q "effective config" "$TMP/log" || fail "rank 0 did not print the effective config"
result=$(ls "$TMP"/out/*/result.h5)
check "result.h5 against the numpy reference"
$PY validation/reference/sdf_reference.py "$result" 0.03
before=$(stat -c %Y.%s "$result")
"$PHIVE" run "$TMP/job.ini" --out "$TMP/out" 2>"$TMP/log2"
grep -q "complete, skipped" "$TMP/log2" || fail "a complete job was not skipped"
[ "$(stat -c %Y.%s "$result")" = "$before" ] || fail "the skipped job's result.h5 changed"
check "phive info"
"$PHIVE" info | tee "$TMP/info"
grep -q "build: CPU only\|build: CUDA" "$TMP/info" && grep -q "HDF5" "$TMP/info" && grep -q "PETSc" "$TMP/info" ||
    fail "phive info lacks build or library lines"
