#!/usr/bin/env bash
# ϕ-SfT synthetic protocol: e_3D after Procrustes with scale, and the mean
# vertex-normal angle, against an independent numpy computation (Umeyama by
# SVD, area-weighted normals).  Frame 0 is the ground truth moved by a
# similarity transform (both metrics ≈ 0); later frames add known bumps.
source validation/integration/lib.sh
$PY - "$TMP" <<'PY'
import os, sys
import numpy as np
root = sys.argv[1]
os.makedirs(root + "/seq/surfaces", exist_ok=True)
os.makedirs(root + "/recon", exist_ok=True)
n = 12
g = np.linspace(0, 1, n)
x, y = np.meshgrid(g, g)
faces = []
for i in range(n - 1):
    for j in range(n - 1):
        a = i * n + j
        faces += [(a, a + 1, a + n + 1), (a, a + n + 1, a + n)]
faces = np.array(faces)
rng = np.random.default_rng(3)
def write(path, v):
    with open(path, "w") as f:
        f.writelines(f"v {p[0]:.9g} {p[1]:.9g} {p[2]:.9g}\n" for p in v)
        f.writelines(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces)
for frame in range(3):
    gt = np.stack([x.ravel(), y.ravel(), 0.2 * np.sin(3 * x.ravel() + frame) * y.ravel()], 1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    rec = gt + (0.02 * frame) * rng.normal(size=gt.shape) * np.array([0, 0, 1])
    rec = 1.7 * rec @ q.T + np.array([0.3, -2.0, 5.0])
    write(f"{root}/seq/surfaces/{frame:04d}_00.obj", gt)
    write(f"{root}/recon/mesh_{frame:03d}.obj", rec)
np.save(root + "/faces.npy", faces)
PY
mpirun -np 2 "$PHIVE" eval sft eval.mode=synthetic eval.meshes="$TMP/recon" eval.gt="$TMP/seq" --out "$TMP/out" 2>"$TMP/log" ||
    { cat "$TMP/log"; fail "synthetic evaluation failed"; }
$PY - "$TMP" <<'PY'
import glob, sys
import h5py, numpy as np
root = sys.argv[1]
faces = np.load(root + "/faces.npy")
def read(path):
    return np.array([[float(t) for t in l.split()[1:4]] for l in open(path) if l.startswith("v ")])
def normals(v):
    n = np.zeros_like(v)
    c = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    for k in range(3):
        np.add.at(n, faces[:, k], c)
    return n / np.linalg.norm(n, axis=1, keepdims=True)
e3d, angle = [], []
for frame in range(3):
    gt, rec = read(f"{root}/seq/surfaces/{frame:04d}_00.obj"), read(f"{root}/recon/mesh_{frame:03d}.obj")
    mu_s, mu_d = rec.mean(0), gt.mean(0)
    s_c, d_c = rec - mu_s, gt - mu_d
    u, sig, vt = np.linalg.svd(d_c.T @ s_c / len(rec))
    d = np.diag([1, 1, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    scale = np.trace(np.diag(sig) @ d) / (s_c ** 2).sum(1).mean()
    aligned = scale * rec @ r.T + (mu_d - scale * r @ mu_s)
    e3d.append(np.linalg.norm(gt - aligned) / np.linalg.norm(gt))
    dots = np.clip((normals(aligned) * normals(gt)).sum(1), -1, 1)
    angle.append(np.degrees(np.arccos(dots)).mean())
f = h5py.File(glob.glob(root + "/out/*/result.h5")[0])
mine_e, mine_a = f["metrics/e3d"][:], f["metrics/normal_angle_deg"][:]
print("e3d   phive", mine_e, "numpy", np.array(e3d))
print("angle phive", mine_a, "numpy", np.array(angle))
assert mine_e[0] < 1e-5 and mine_a[0] < 0.05, "a similarity transform must cost nothing"
assert np.allclose(mine_e, e3d, rtol=1e-4, atol=1e-6) and np.allclose(mine_a, angle, rtol=1e-3, atol=0.02)
assert abs(f["final"].attrs["e3d_mean"] - np.mean(mine_e)) < 1e-12
PY
check "a reconstruction with other vertices is refused with a clear message"
printf 'v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n' >"$TMP/recon/mesh_001.obj"
expect_error 1 "mesh_001.obj has 3 vertices, the ground truth 144" -- "$PHIVE" eval sft eval.mode=synthetic eval.meshes="$TMP/recon" eval.gt="$TMP/seq" --out "$TMP/out2"
