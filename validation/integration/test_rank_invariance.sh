#!/usr/bin/env bash
# Data-parallel invariance: the same job on 1 and on 2 ranks (the batch split
# across ranks, gradients all-reduced) gives the same loss curve and metrics
# up to float rounding.
source validation/integration/lib.sh
small_config "$TMP/job.ini" 200
"$PHIVE" run "$TMP/job.ini" --out "$TMP/one" 2>/dev/null
mpirun -np 2 "$PHIVE" run "$TMP/job.ini" --out "$TMP/two" 2>/dev/null
$PY - "$TMP" <<'PY'
import glob, sys
import h5py, numpy as np
one = h5py.File(glob.glob(sys.argv[1] + "/one/*/result.h5")[0])
two = h5py.File(glob.glob(sys.argv[1] + "/two/*/result.h5")[0])
assert one.attrs["ranks"] == 1 and two.attrs["ranks"] == 2
a, b = one["metrics/loss"][:], two["metrics/loss"][:]
rel = np.max(np.abs(a - b) / np.abs(a))
print(f"loss curves: {len(a)} iterations, max relative difference {rel:.3g}")
assert len(a) == len(b) == 200 and rel < 1e-4, rel
for k, v in one["final"].attrs.items():
    w = two["final"].attrs[k]
    print(f"{k}: 1 rank {v:.6g}, 2 ranks {w:.6g}")
    assert abs(v - w) <= 1e-4 * abs(v) + 1e-7, k
PY
