#!/usr/bin/env bash
# The ϕ-SfT evaluation protocol on a synthetic sequence with a known answer:
# frame f's reconstruction is a unit square at z = 0, its ground truth a
# dense grid of points on the same square lifted to z = d_f, so the Chamfer
# (squared distances, mean per direction, summed) is close to 2·d_f².  Run
# through `phive eval` on 1 and on 2 ranks, and as a 2-rank sweep over two
# reconstructions.
source validation/integration/lib.sh
$PY - "$TMP" <<'PY'
import os, sys
import numpy as np
root = sys.argv[1]
for name, scale in (("recon_a", 1.0), ("recon_b", 2.0)):
    os.makedirs(f"{root}/{name}", exist_ok=True)
    for f in range(4):
        with open(f"{root}/{name}/mesh_{f:03d}.obj", "w") as out:
            out.write("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3 4\n")
os.makedirs(f"{root}/recon_c", exist_ok=True)
for f in range(4):  # the ground truth's own square, shifted sideways: ICP must undo the shift
    d = 0.01 * (f + 1)
    with open(f"{root}/recon_c/mesh_{f:03d}.obj", "w") as out:
        out.write("".join(f"v {x + 0.04} {y} {d}\n" for x, y in ((0, 0), (1, 0), (1, 1), (0, 1))) + "f 1 2 3 4\n")
os.makedirs(f"{root}/seq/point_clouds", exist_ok=True)
g = (np.arange(400) + 0.5) / 400
x, y = np.meshgrid(g, g)
for f in range(4):
    d = 0.01 * (f + 1)
    pts = np.stack([x.ravel(), y.ravel(), np.full(x.size, d)], 1)
    np.savetxt(f"{root}/seq/point_clouds/point_cloud_{f:03d}.obj", pts, fmt="v %.7f %.7f %.7f")
PY
"$PHIVE" eval sft eval.meshes="$TMP/recon_a" eval.gt="$TMP/seq" --out "$TMP/one" 2>"$TMP/log1" || { cat "$TMP/log1"; fail "eval failed"; }
mpirun -np 2 "$PHIVE" eval sft eval.meshes="$TMP/recon_a" eval.gt="$TMP/seq" --out "$TMP/two" 2>/dev/null
$PY - "$TMP" <<'PY'
import glob, sys
import h5py, numpy as np
root = sys.argv[1]
one = h5py.File(glob.glob(root + "/one/*/result.h5")[0])
two = h5py.File(glob.glob(root + "/two/*/result.h5")[0])
per_frame = one["metrics/chamfer_x1e4"][:]
expected = np.array([2 * (0.01 * (f + 1)) ** 2 * 1e4 for f in range(4)])
print("per-frame Chamfer x1e4:", per_frame, "expected about", expected)
assert one.attrs["job_type"] == "eval_sft" and one["final"].attrs["frames"] == 4
assert np.all(np.abs(per_frame - expected) < 0.03 * expected + 0.02), "Chamfer far from 2 d^2"
assert abs(one["final"].attrs["chamfer_x1e4_mean"] - per_frame.mean()) < 1e-9
assert np.allclose(two["metrics/chamfer_x1e4"][:], per_frame, rtol=1e-12), "rank count changed the result"
PY
check "per-frame ICP (as for S3) removes a rigid offset"
"$PHIVE" eval sft eval.meshes="$TMP/recon_c" eval.gt="$TMP/seq" --out "$TMP/noicp" 2>/dev/null
"$PHIVE" eval sft eval.meshes="$TMP/recon_c" eval.gt="$TMP/seq" eval.icp=true --out "$TMP/icp" 2>/dev/null
$PY - "$TMP" <<'PY'
import glob, sys
import h5py
root = sys.argv[1]
plain = h5py.File(glob.glob(root + "/noicp/*/result.h5")[0])["final"].attrs["chamfer_x1e4_mean"]
icp = h5py.File(glob.glob(root + "/icp/*/result.h5")[0])["final"].attrs["chamfer_x1e4_mean"]
print(f"shifted square: Chamfer x1e4 {plain:.4f} without ICP, {icp:.4f} with ICP")
assert icp < 0.2 * plain, "ICP did not remove the offset"
PY
check "a sweep evaluates a directory of reconstructions over 2 ranks"
cat >"$TMP/eval.sweep" <<EOF
[sweep]
name = evalsft
base = eval.ini
scene_key = eval.meshes
scenes = $TMP/recon_a $TMP/recon_b
EOF
printf '[job]\ntype = eval_sft\n[eval]\nmeshes = none\ngt = %s/seq\n' "$TMP" >"$TMP/eval.ini"
mpirun -np 2 "$PHIVE" sweep "$TMP/eval.sweep" --out "$TMP/sweep" 2>"$TMP/log3" || { tail "$TMP/log3"; fail "eval sweep failed"; }
[ "$(grep -c ',complete,' "$TMP/sweep/summary.csv")" -eq 2 ] || fail "expected 2 complete evaluations"
grep -q chamfer_x1e4_mean "$TMP/sweep/summary.csv" || fail "summary lacks the Chamfer column"
check "a missing ground-truth sequence is a clear error"
expect_error 1 "no ground truth to evaluate: .*point_cloud_000.obj is missing" -- "$PHIVE" eval sft eval.meshes="$TMP/recon_a" eval.gt="$TMP/nothing"
