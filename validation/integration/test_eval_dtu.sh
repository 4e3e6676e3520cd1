#!/usr/bin/env bash
# The DTU protocol on synthetic ground truth in the official formats
# (stl{scan:03d}_total.ply, ObsMask{scan}_10.mat written compressed by scipy,
# Plane{scan}.mat) with known answers: the STL is a dense grid on z = 0 over
# [0, 40]² mm; the reconstruction is two squares, x < 20 at z = 1 and
# x ≥ 20 at z = 3 (with duplicated vertices and a degenerate triangle).
#   full ObsMask, plane keeping all          → accuracy ≈ 2, completeness ≈ 2
#   ObsMask false for x ≥ 20                → accuracy ≈ 1
#   plane keeping only x < 20                → completeness ≈ 1
#   right square at z = 30 (beyond 20 mm)    → accuracy ≈ 1 (the cut)
source validation/integration/lib.sh
make_case() { # dir right_z mask_half plane_half
    $PY - "$@" <<'PY'
import os, sys
import numpy as np, scipy.io
root, right_z, mask_half, plane_half = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
os.makedirs(root + "/gt/Points/stl", exist_ok=True)
os.makedirs(root + "/gt/ObsMask", exist_ok=True)
g = np.arange(0, 40.0001, 0.2)
x, y = np.meshgrid(g, g)
stl = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], 1).astype("<f4")
with open(root + "/gt/Points/stl/stl005_total.ply", "wb") as f:
    f.write(f"ply\nformat binary_little_endian 1.0\nelement vertex {len(stl)}\n"
            "property float x\nproperty float y\nproperty float z\nend_header\n".encode())
    f.write(stl.tobytes())
bb = np.array([[-10, -10, -10], [50, 50, 10]], dtype=np.float64)
mask = np.ones((61, 61, 21), dtype=bool)
if mask_half:
    mask[30:, :, :] = False  # voxel index 30 is x = 20
scipy.io.savemat(root + "/gt/ObsMask/ObsMask5_10.mat", {"ObsMask": mask, "BB": bb, "Res": np.array([[1.0]])},
                 do_compression=True)
plane = np.array([[-1.0], [0.0], [0.0], [19.9]]) if plane_half else np.array([[0.0], [0.0], [1.0], [1.0]])
scipy.io.savemat(root + "/gt/ObsMask/Plane5.mat", {"P": plane})
with open(root + "/mesh.obj", "w") as f:
    for x0, x1, z in ((0, 20, 1.0), (20, 40, right_z)):
        f.write(f"v {x0} 0 {z}\nv {x1} 0 {z}\nv {x1} 40 {z}\nv {x0} 40 {z}\n")
    f.write("f 1 2 3 4\nf 5 6 7 8\nf 1 1 2\n")  # the last face is degenerate
PY
}
run_case() { # name right_z mask_half plane_half
    make_case "$TMP/$1" "$2" "$3" "$4"
    "$PHIVE" eval dtu eval.mesh="$TMP/$1/mesh.obj" eval.scan=5 eval.gt="$TMP/$1/gt" eval.error_map=true \
        --out "$TMP/$1/out" 2>"$TMP/$1.log" ||
        { cat "$TMP/$1.log"; fail "eval dtu failed for $1"; }
}
run_case full 3 0 0
run_case mask 3 1 0
run_case plane 3 0 1
run_case cut 30 0 0
$PY - "$TMP" <<'PY'
import glob, sys
import h5py
root = sys.argv[1]
def final(name):
    return dict(h5py.File(glob.glob(f"{root}/{name}/out/*/result.h5")[0])["final"].attrs)
import numpy as np
# completeness of the STL grid: 1 on the left half; on the right, the lower left square wins
# near the seam, min(3, sqrt((x - 20)^2 + 1))
x = np.arange(0, 40.0001, 0.2)
seam = np.where(x < 20, 1.0, np.minimum(3.0, np.sqrt((x - 20) ** 2 + 1)))
expect = {"full": (2.0, seam.mean()), "mask": (1.0, seam.mean()), "plane": (2.0, 1.0), "cut": (1.0, None)}
for name, (acc, comp) in expect.items():
    f = final(name)
    print(f"{name}: accuracy {f['accuracy_mm']:.4f} completeness {f['completeness_mm']:.4f} overall {f['overall_mm']:.4f}"
          f" ({int(f['points_thinned'])} points after thinning)")
    assert abs(f["accuracy_mm"] - acc) < 0.02 * acc, (name, "accuracy")
    if comp is not None:
        assert abs(f["completeness_mm"] - comp) < 0.02 * comp, (name, "completeness")
    assert abs(f["overall_mm"] - (f["accuracy_mm"] + f["completeness_mm"]) / 2) < 1e-12
PY
check "error_map.ply colours each vertex by its distance to the STL (viridis over [0, 5] mm)"
$PY - "$TMP" <<'PY'
import glob, sys
import numpy as np
path = glob.glob(sys.argv[1] + "/full/out/*/error_map.ply")[0]
data = open(path, "rb").read()
header = data[: data.index(b"end_header\n")].decode()
assert "property uchar red" in header, header
import open3d as o3d
m = o3d.io.read_triangle_mesh(path)
v, c = np.asarray(m.vertices), np.asarray(m.vertex_colors)
import matplotlib
viridis = matplotlib.colormaps["viridis"]
for p, col in zip(v, c):
    expected = np.array(viridis(min(abs(p[2]) / 5.0, 1.0))[:3])
    assert np.abs(col - expected).max() < 2.5 / 255, (p, col, expected)
print(f"{len(v)} vertices coloured by their distance (z = 1 and z = 3 mm above the STL)")
PY
check "against the independent Python protocol (validation/reference/dtu_reference.py)"
read -r acc comp overall count < <($PY validation/reference/dtu_reference.py "$TMP/cut/mesh.obj" "$TMP/cut/gt" 5)
$PY - "$TMP" "$acc" "$comp" "$overall" "$count" <<'PY'
import glob, sys
import h5py
f = dict(h5py.File(glob.glob(f"{sys.argv[1]}/cut/out/*/result.h5")[0])["final"].attrs)
acc, comp, overall, count = map(float, sys.argv[2:6])
print(f"phive: {f['accuracy_mm']:.5f} {f['completeness_mm']:.5f} {f['overall_mm']:.5f} {int(f['points_thinned'])} points;"
      f" reference: {acc:.5f} {comp:.5f} {overall:.5f} {int(count)} points")
# the two shuffles differ, so thinning keeps different (equally valid) points
assert abs(f["points_thinned"] - count) < 0.01 * count
for mine, ref in ((f["accuracy_mm"], acc), (f["completeness_mm"], comp), (f["overall_mm"], overall)):
    assert abs(mine - ref) < 0.005 * ref, (mine, ref)
PY
check "robustness: a mesh with a hole, duplicated vertices and degenerate triangles, vs the reference"
$PY - "$TMP/full" <<'PY'
import sys
root = sys.argv[1]
with open(root + "/holed.obj", "w") as f:
    k = 0
    for i in range(4):
        for j in range(4):
            if (i, j) == (1, 2):
                continue  # a 10 x 10 mm hole
            x0, y0 = 10 * i, 10 * j  # every quad has its own (duplicated) corner vertices
            f.write(f"v {x0} {y0} 1\nv {x0 + 10} {y0} 1\nv {x0 + 10} {y0 + 10} 1\nv {x0} {y0 + 10} 1\n")
            f.write(f"f {k + 1} {k + 2} {k + 3} {k + 4}\nf {k + 1} {k + 2} {k + 2}\n")  # + a degenerate face
            k += 4
PY
"$PHIVE" eval dtu eval.mesh="$TMP/full/holed.obj" eval.scan=5 eval.gt="$TMP/full/gt" --out "$TMP/holed" 2>/dev/null ||
    fail "the holed mesh failed"
read -r acc comp overall count < <($PY validation/reference/dtu_reference.py "$TMP/full/holed.obj" "$TMP/full/gt" 5)
$PY - "$TMP" "$acc" "$comp" "$overall" <<'PY'
import glob, sys
import h5py
f = dict(h5py.File(glob.glob(f"{sys.argv[1]}/holed/*/result.h5")[0])["final"].attrs)
acc, comp, overall = map(float, sys.argv[2:5])
print(f"holed mesh: phive {f['accuracy_mm']:.5f} / {f['completeness_mm']:.5f}, reference {acc:.5f} / {comp:.5f}")
assert abs(f["accuracy_mm"] - 1.0) < 0.01 and f["completeness_mm"] > 1.05  # the hole costs completeness
assert abs(f["accuracy_mm"] - acc) < 0.005 * acc and abs(f["completeness_mm"] - comp) < 0.005 * comp
PY
check "a missing ObsMask file names it"
rm "$TMP/full/gt/ObsMask/ObsMask5_10.mat"
expect_error 1 "ObsMask5_10.mat" -- "$PHIVE" eval dtu eval.mesh="$TMP/full/mesh.obj" eval.scan=5 eval.gt="$TMP/full/gt" --out "$TMP/x"
