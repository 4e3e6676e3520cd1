#!/usr/bin/env bash
# The EPFL protocol: ground truth on z = 0 over [0, 4]²; the mesh is a square
# over x < 2 at z = 0.3 and one over x ≥ 2 at z = 1.5 (beyond the 0.8 cut).
# Full: checked against an independent numpy/cKDTree computation of the same
# protocol (its own samples).  Center (bbox x ≤ 2): accuracy = completeness = 0.3.
source validation/integration/lib.sh
$PY - "$TMP" <<'PY'
import sys
import numpy as np
root = sys.argv[1]
g = np.arange(0, 4.0001, 0.02)
x, y = np.meshgrid(g, g)
gt = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], 1).astype("<f4")
def ply(path, pts):
    with open(path, "wb") as f:
        f.write(f"ply\nformat binary_little_endian 1.0\nelement vertex {len(pts)}\n"
                "property float x\nproperty float y\nproperty float z\nend_header\n".encode())
        f.write(pts.tobytes())
ply(root + "/gt_full.ply", gt)
ply(root + "/gt_center.ply", gt[gt[:, 0] <= 2.0])
np.save(root + "/bbox.npy", np.array([[-0.01, -0.01, -1.0], [2.0, 4.01, 1.0]]))
with open(root + "/mesh.obj", "w") as f:
    for x0, x1, z in ((0, 2, 0.3), (2, 4, 1.5)):
        f.write(f"v {x0} 0 {z}\nv {x1} 0 {z}\nv {x1} 4 {z}\nv {x0} 4 {z}\n")
    f.write("f 1 2 3 4\nf 5 6 7 8\n")
# the independent reference: uniform samples on the two squares (equal areas)
from scipy.spatial import cKDTree
rng = np.random.default_rng(1)
n = 200000
u = rng.random((n, 2))
right = rng.random(n) < 0.5
s = np.stack([2 * u[:, 0] + 2 * right, 4 * u[:, 1], np.where(right, 1.5, 0.3)], 1)
acc = cKDTree(gt).query(s)[0]
comp = cKDTree(s).query(gt)[0]
acc, comp = acc[acc < 0.8].mean(), comp[comp < 0.8].mean()
open(root + "/reference.txt", "w").write(f"{acc} {comp}\n")
PY
for region in full center; do
    "$PHIVE" eval epfl eval.mesh="$TMP/mesh.obj" eval.gt="$TMP" eval.region=$region eval.samples=200000 \
        --out "$TMP/$region" 2>"$TMP/$region.log" || { cat "$TMP/$region.log"; fail "eval epfl $region failed"; }
done
$PY - "$TMP" <<'PY'
import glob, sys
import h5py
root = sys.argv[1]
acc_ref, comp_ref = map(float, open(root + "/reference.txt").read().split())
full = dict(h5py.File(glob.glob(root + "/full/*/result.h5")[0])["final"].attrs)
center = dict(h5py.File(glob.glob(root + "/center/*/result.h5")[0])["final"].attrs)
print(f"full: phive {full['accuracy']:.5f} / {full['completeness']:.5f}, reference {acc_ref:.5f} / {comp_ref:.5f}")
print(f"center: {center['accuracy']:.5f} / {center['completeness']:.5f} (expected 0.3 / 0.3)")
assert abs(full["accuracy"] - acc_ref) < 0.01 * acc_ref and abs(full["completeness"] - comp_ref) < 0.01 * comp_ref
assert abs(center["accuracy"] - 0.3) < 1e-3 and abs(center["completeness"] - 0.3) < 3e-3
assert abs(full["chamfer"] - (full["accuracy"] + full["completeness"]) / 2) < 1e-12
PY
check "a missing bbox.npy is named"
rm "$TMP/bbox.npy"
expect_error 1 "bbox.npy" -- "$PHIVE" eval epfl eval.mesh="$TMP/mesh.obj" eval.gt="$TMP" eval.region=center --out "$TMP/x"
