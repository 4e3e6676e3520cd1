#!/usr/bin/env python3
"""scene_check.py — an independent check of a synthetic multi-view scene (phive synth scene).

Written from the layout in include/phive/synth_scene.h and NeuS's camera convention, with numpy,
scipy.io and the PNG reader of synth_check.py only:
  - image/ and mask/ hold the same number of 8-bit PNGs as cameras_sphere.npz has cameras;
  - P = world_mat · scale_mat maps the normalised frame to pixels; its K (from an RQ
    decomposition, as NeuS's load_K_Rt_from_P via cv2.decomposeProjectionMatrix) has zero skew
    and the principal point at the image centre, its R is a rotation;
  - the analytic shape of the config (re-implemented here: torus, sphere; tilt about x) is zero
    at every ground-truth point mapped back to the normalised frame (|f| ≤ 1e-4);
  - every ground-truth point projects into the mask (coverage > 0 within 1 px): the silhouette
    is the projection of the whole surface;
  - every fully covered mask pixel has a projected ground-truth point within 1.5 px, and the
    background outside the dilated mask is black;
  - ObsMask / BB / Res / P (scipy.io.loadmat) cover every ground-truth point and keep it above
    the plane.

usage: scene_check.py DIR --shape torus|sphere --size S --tilt DEG [--scan N]
exit status 1 and a message on failure
"""
import argparse
import glob
import os
import struct
import sys

import numpy as np
import scipy.io
import scipy.linalg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synth_check import read_png  # noqa: E402


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def read_ply_points(path):
    """Vertices of a binary little-endian PLY whose vertex element is x, y, z float."""
    data = open(path, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode().splitlines()
    if "format binary_little_endian 1.0" not in header:
        fail(f"{path}: not a binary little-endian PLY")
    n = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    return np.frombuffer(data, dtype="<f4", count=3 * n, offset=end).reshape(n, 3).astype(np.float64)


def shape_sdf(shape, size, tilt_deg, p):
    t = np.radians(tilt_deg)
    q = np.stack([p[:, 0], np.cos(t) * p[:, 1] + np.sin(t) * p[:, 2], -np.sin(t) * p[:, 1] + np.cos(t) * p[:, 2]], 1)
    if shape == "sphere":
        return np.linalg.norm(q, axis=1) - size
    if shape == "torus":
        ring = np.hypot(q[:, 0], q[:, 2]) - size
        return np.hypot(ring, q[:, 1]) - 0.4 * size
    fail(f"shape {shape}: not re-implemented here")


def decompose(P):
    """K, R, camera centre of a 3 × 4 projection (RQ of its left 3 × 3)."""
    K, R = scipy.linalg.rq(P[:, :3])
    signs = np.diag(np.sign(np.diag(K)))
    K, R = K @ signs, signs @ R
    centre = -np.linalg.solve(P[:, :3], P[:, 3])
    return K / K[2, 2], R, centre


def dilate(mask, r):
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--shape", required=True)
    ap.add_argument("--size", type=float, required=True)
    ap.add_argument("--tilt", type=float, required=True)
    ap.add_argument("--scan", type=int, default=1)
    a = ap.parse_args()

    images = sorted(glob.glob(os.path.join(a.dir, "image", "*.png")))
    masks = sorted(glob.glob(os.path.join(a.dir, "mask", "*.png")))
    cams = np.load(os.path.join(a.dir, "cameras_sphere.npz"))
    n = len([k for k in cams.files if k.startswith("world_mat_")])
    if not images or len(images) != len(masks) or len(images) != n:
        fail(f"{len(images)} images, {len(masks)} masks, {n} cameras")

    gt = os.path.join(a.dir, "gt")
    points = read_ply_points(os.path.join(gt, "Points", "stl", f"stl{a.scan:03d}_total.ply"))
    scale = cams["scale_mat_0"]
    normalised = (points - scale[:3, 3]) / scale[0, 0]
    f = shape_sdf(a.shape, a.size, a.tilt, normalised)
    if np.abs(f).max() > 1e-4:
        fail(f"ground-truth points off the surface: max |f| = {np.abs(f).max():.3g}")

    obs = scipy.io.loadmat(os.path.join(gt, "ObsMask", f"ObsMask{a.scan}_10.mat"))
    plane = scipy.io.loadmat(os.path.join(gt, "ObsMask", f"Plane{a.scan}.mat"))["P"].ravel()
    bb, res, obs_mask = obs["BB"], float(obs["Res"].ravel()[0]), obs["ObsMask"].astype(bool)
    voxel = np.rint((points - bb[0]) / res).astype(int)
    if (voxel < 0).any() or (voxel >= np.array(obs_mask.shape)).any() or not obs_mask[tuple(voxel.T)].all():
        fail("ground-truth points outside the observation mask")
    if not (points @ plane[:3] + plane[3] > 0).all():
        fail("ground-truth points below the plane")

    sample = normalised[:: max(1, len(normalised) // 20000)]
    worst_far = 0.0
    for k in range(n):
        P = (cams[f"world_mat_{k}"] @ cams[f"scale_mat_{k}"])[:3]
        K, R, centre = decompose(P)
        img, msk = read_png(images[k]), read_png(masks[k])
        h, w = msk.shape[:2]
        if img.shape != (h, w, 3) or msk.dtype != np.uint8:
            fail(f"view {k}: image {img.shape}, mask {msk.shape}")
        msk = msk[..., 0] if msk.ndim == 3 else msk
        if abs(K[0, 1]) > 1e-6 * K[0, 0] or abs(K[0, 2] - (w - 1) / 2) > 1e-6 or abs(K[1, 2] - (h - 1) / 2) > 1e-6:
            fail(f"view {k}: K = {K.tolist()}")
        if abs(np.linalg.det(R) - 1) > 1e-9 or np.linalg.norm(centre) <= 1:
            fail(f"view {k}: R not a rotation or camera inside the unit sphere")
        x = np.c_[sample, np.ones(len(sample))] @ P.T
        if (x[:, 2] <= 0).any():
            fail(f"view {k}: ground truth behind the camera")
        u, v = x[:, 0] / x[:, 2], x[:, 1] / x[:, 2]
        iu, iv = np.rint(u).astype(int), np.rint(v).astype(int)
        if iu.min() < 0 or iv.min() < 0 or iu.max() >= w or iv.max() >= h:
            fail(f"view {k}: ground truth projects outside the image")
        near = dilate(msk > 0, 1)
        if not near[iv, iu].all():
            fail(f"view {k}: {np.count_nonzero(~near[iv, iu])} ground-truth points project outside the mask")
        hit = np.zeros((h, w), bool)
        hit[iv, iu] = True
        full = msk == 255
        far = full & ~dilate(hit, 2)
        worst_far = max(worst_far, far.sum() / max(1, full.sum()))
        if far.sum() > 0.002 * full.sum():
            fail(f"view {k}: {far.sum()} covered mask pixels far from every projected surface point")
        outside = ~dilate(msk > 0, 2)
        if img[outside].max(initial=0) > 0:
            fail(f"view {k}: background is not black")
    print(f"scene_check: {n} views, {len(points)} ground-truth points, max |f| {np.abs(f).max():.2e}, "
          f"covered pixels far from the surface ≤ {100 * worst_far:.2f} %")


if __name__ == "__main__":
    main()
