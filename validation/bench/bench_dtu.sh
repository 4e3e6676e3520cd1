#!/usr/bin/env bash
# `make bench`: the DTU protocol on a 1M-triangle mesh against a 5M-point ground truth.
# Synthetic stand-ins in the official formats: a UV sphere of radius 100 mm (500 × 1000 quads,
# 1M triangles) and 5M points on a sphere of radius 100.5 mm; ObsMask all true, plane keeping all.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PY'
import os, sys
import numpy as np, scipy.io
root = sys.argv[1]
os.makedirs(root + "/gt/Points/stl"); os.makedirs(root + "/gt/ObsMask")
def ply(path, v, f=None):
    with open(path, "wb") as out:
        head = f"ply\nformat binary_little_endian 1.0\nelement vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
        if f is not None:
            head += f"element face {len(f)}\nproperty list uchar int vertex_indices\n"
        out.write((head + "end_header\n").encode())
        out.write(v.astype("<f4").tobytes())
        if f is not None:
            rec = np.zeros(len(f), dtype=[("n", "u1"), ("i", "<i4", 3)])
            rec["n"], rec["i"] = 3, f
            out.write(rec.tobytes())
rng = np.random.default_rng(0)
p = rng.normal(size=(5_000_000, 3))
ply(root + "/gt/Points/stl/stl001_total.ply", 100.5 * p / np.linalg.norm(p, axis=1, keepdims=True))
nt, nphi = 500, 1000
t, ph = np.meshgrid(np.linspace(0, np.pi, nt + 1), np.linspace(0, 2 * np.pi, nphi, endpoint=False), indexing="ij")
v = 100 * np.stack([np.sin(t) * np.cos(ph), np.sin(t) * np.sin(ph), np.cos(t)], -1).reshape(-1, 3)
i, j = np.meshgrid(np.arange(nt), np.arange(nphi), indexing="ij")
a, b = i * nphi + j, i * nphi + (j + 1) % nphi
c, d = a + nphi, b + nphi
f = np.concatenate([np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)])
ply(root + "/mesh.ply", v, f)
scipy.io.savemat(root + "/gt/ObsMask/ObsMask1_10.mat", {"ObsMask": np.ones((221, 221, 221), bool),
                 "BB": np.array([[-110.0] * 3, [110.0] * 3]), "Res": np.array([[1.0]])}, do_compression=True)
scipy.io.savemat(root + "/gt/ObsMask/Plane1.mat", {"P": np.array([[0.0], [0.0], [0.0], [1.0]])})
PY
start=$(date +%s%N)
bin/phive eval dtu eval.mesh="$work/mesh.ply" eval.scan=1 eval.gt="$work/gt" --out "$work/out" 2>"$work/log" ||
    { cat "$work/log"; exit 1; }
milliseconds=$((($(date +%s%N) - start) / 1000000))
overall=$(/usr/bin/python3 -c "import glob,h5py; f=h5py.File(glob.glob('$work/out/*/result.h5')[0]); print('%.4f' % f['final'].attrs['overall_mm'])")
printf '%-40s %6d.%01d s        target: <= 60 s (overall %s mm; expected ~0.5)\n' "DTU protocol, 1M tris vs 5M points" \
    $((milliseconds / 1000)) $((milliseconds % 1000 / 100)) "$overall"
