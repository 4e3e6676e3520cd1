#!/usr/bin/python3
"""Independent checks of phive's NeuS data set loader (nsr_data.h).

check: decomposes every camera of the npz the way NeuS's load_K_Rt_from_P
does with cv2.decomposeProjectionMatrix (cv2 is not installed; the same
decomposition is written here with scipy.linalg.rq plus OpenCV's sign rules:
R a rotation, K[0,0] and K[1,1] positive, then K /= K[2,2]; the centre is the
null vector of P from numpy's SVD), makes rays with NeuS's formulas
(gen_random_rays_at, near_far_from_sphere) and reads the PNGs with
scikit-image, converting them as cv2.imread(...)/256 would.  phive's cameras
must agree to CAM_TOL (relative to each matrix's largest entry, default
1e-9), its rays to RAY_TOL (default 1e-5; relative for origins and near/far)
and its targets to 1e-6.

Pixel convention checked: at downscale l, stored pixel (i, j) is the l x l box
average of the full-resolution samples (rounded half up to 8 bits) and its
ray is NeuS's ray at the full-resolution point (l*i + (l-1)/2, l*j + (l-1)/2);
rays at a further level L go through the centre of their L x L box of the
stored grid, with targets the unrounded box mean.

make-npz: writes a NeuS cameras file from raw matrices: world_mat_i as <f8 in
C order, scale_mat_i as <f4 in Fortran order (checked in the written bytes),
plus decoy members (world_mat_inv_i, camera_mat_i) a loader must ignore.

usage:
  nsr_data_reference.py check DIR CAMFILE DOWNSCALE CAMS.f64 RAYS.f64 [CAM_TOL RAY_TOL]
  nsr_data_reference.py make-npz OUT.npz MATS.f64 N
Raw files are little-endian float64:
  CAMS: scale_mat_0 (16), then per loaded view: index, K (9) at the downscale, c2w (12)
  RAYS: rows of 16: index, level, px, py, origin (3), direction (3), near, far, rgb (3), mask
        (rgb and mask NaN: not checked)
  MATS: N world matrices (4 x 4), then N scale matrices (4 x 4), row-major
"""
import glob
import os
import sys
import zipfile

import numpy as np
import scipy.linalg


def decompose_like_opencv(P):
    """K, R (world -> camera), centre of P = K [R | t], as cv2.decomposeProjectionMatrix + NeuS."""
    M = P[:, :3]
    K, R = scipy.linalg.rq(M)
    s = np.sign(np.diag(K))
    s[s == 0] = 1
    # OpenCV's RQDecomp3x3: positive K[0,0], K[1,1]; R a proper rotation (K[2,2] takes the sign)
    d = np.array([s[0], s[1], s[0] * s[1] * np.linalg.det(R)])
    K, R = K * d[None, :], d[:, None] * R
    K = K / K[2, 2]
    _, _, vt = np.linalg.svd(P)
    c = vt[-1]
    return K, R, c[:3] / c[3]


def downscale_matrix(l):
    h = (l - 1) / (2.0 * l)
    return np.array([[1.0 / l, 0, -h], [0, 1.0 / l, -h], [0, 0, 1]])


def neus_image(path, kind):
    """cv2.imread(path) (IMREAD_COLOR: 8-bit B, G, R) as scikit-image sees it; kind 'rgb' or 'mask'."""
    from skimage import io

    a = io.imread(path)
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)  # libpng strip_16, what cv2's PNG reader asks for
    assert a.dtype == np.uint8, (path, a.dtype)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] in (1, 2):
        bgr = np.repeat(a[:, :, :1], 3, axis=2)
    else:
        bgr = a[:, :, 2::-1]
    if kind == "rgb":
        return bgr[:, :, ::-1].astype(np.int64)
    return bgr[:, :, :1].astype(np.int64)  # NeuS: mask[:, :, :1] of B, G, R


def box_round(a, l):
    h, w = a.shape[0] // l, a.shape[1] // l
    n = l * l
    s = a[: h * l, : w * l].reshape(h, l, w, l, -1).sum(axis=(1, 3))
    return (s + n // 2) // n


def check(args):
    data_dir, cam_file, l = args[0], args[1], int(args[2])
    ours_cams = np.fromfile(args[3], dtype=np.float64)
    rays = np.fromfile(args[4], dtype=np.float64).reshape(-1, 16)
    cam_tol = float(args[5]) if len(args) > 5 else 1e-9
    ray_tol = float(args[6]) if len(args) > 6 else 1e-5
    cams = np.load(os.path.join(data_dir, cam_file))
    images = sorted(glob.glob(os.path.join(data_dir, "image/*.png")))
    masks = sorted(glob.glob(os.path.join(data_dir, "mask/*.png")))
    ok = True

    scale0 = ours_cams[:16].reshape(4, 4)
    err = np.abs(scale0 - cams["scale_mat_0"]).max() / np.abs(cams["scale_mat_0"]).max()
    ok &= err <= cam_tol
    views = ours_cams[16:].reshape(-1, 22)
    S = downscale_matrix(l)
    ref = {}
    worst = {"K": 0.0, "R": 0.0, "centre": 0.0}
    flipped = 0
    for row in views:
        i = int(row[0])
        P = (cams["world_mat_%d" % i].astype(np.float64) @ cams["scale_mat_%d" % i].astype(np.float64))[:3, :4]
        K, R, centre = decompose_like_opencv(P)
        ref[i] = (K, R, centre)
        K_ours, c2w = row[1:10].reshape(3, 3), row[10:22].reshape(3, 4)
        K_expect, R_expect = K, R
        if np.linalg.det(P[:, :3]) < 0:
            # cv2 gives fx, fy < 0 here; phive negates P first: K·D, D·R with D = diag(-1, -1, 1)
            D = np.diag([-1.0, -1.0, 1.0])
            K_expect, R_expect = K @ D, D @ R
            flipped += 1
        K_expect = S @ K_expect
        e_k = np.abs(K_ours - K_expect).max() / np.abs(K_expect).max()
        e_r = np.abs(c2w[:, :3] - R_expect.T).max()
        e_c = np.abs(c2w[:, 3] - centre).max() / max(1.0, np.abs(centre).max())
        worst["K"], worst["R"], worst["centre"] = max(worst["K"], e_k), max(worst["R"], e_r), max(worst["centre"], e_c)
        if not (e_k <= cam_tol and e_r <= cam_tol and e_c <= cam_tol):
            print(f"view {i}: |K - ref| {e_k:.2e} |R - ref| {e_r:.2e} |centre - ref| {e_c:.2e}\n"
                  f"  K ours\n{K_ours}\n  K ref\n{K_expect}\n"
                  f"  c2w ours\n{c2w}\n  R^T ref\n{R_expect.T}\n  c ref {centre}")
            ok = False
    print(f"cameras ({len(views)} views, {flipped} with det P < 0, downscale {l}): worst |K - scipy.rq|/|K| "
          f"{worst['K']:.2e}, |R - ref| {worst['R']:.2e}, |centre - SVD null vector| {worst['centre']:.2e}; "
          f"|scale_mat_0 - npz| {err:.2e}")

    loaded = {}
    e_o = e_d = e_n = e_t = 0.0
    checked_targets = 0
    for row in rays:
        i, level = int(row[0]), int(row[1])
        K, R, centre = ref[i]
        p_stored = level * row[2:4] + (level - 1) / 2.0
        u = l * p_stored + (l - 1) / 2.0
        v = np.linalg.inv(K) @ np.array([u[0], u[1], 1.0])
        d = R.T @ (v / np.linalg.norm(v))  # NeuS: pose[:3, :3] @ normalize(K^-1 p)
        o = centre
        a = np.sum(d * d)
        b = 2.0 * np.sum(o * d)
        mid = 0.5 * (-b) / a
        near, far = mid - 1.0, mid + 1.0
        e_o = max(e_o, np.abs(row[4:7] - o).max() / max(1.0, np.abs(o).max()))
        e_d = max(e_d, np.abs(row[7:10] - d).max())
        e_n = max(e_n, max(abs(row[10] - near), abs(row[11] - far)) / max(1.0, abs(mid)))
        if not np.isnan(row[12]):
            if i not in loaded:
                loaded[i] = (box_round(neus_image(images[i], "rgb"), l), box_round(neus_image(masks[i], "mask"), l))
            rgb, mask = loaded[i]
            x, y = int(row[2]), int(row[3])
            blk = np.s_[y * level:(y + 1) * level, x * level:(x + 1) * level]
            t_rgb = rgb[blk].reshape(-1, 3).mean(axis=0) / 256.0
            t_mask = mask[blk].mean() / 256.0
            e_t = max(e_t, np.abs(row[12:15] - t_rgb).max(), abs(row[15] - t_mask))
            checked_targets += 1
    print(f"rays ({len(rays)}, {checked_targets} with targets): |o - ref| {e_o:.2e} |d - ref| {e_d:.2e} "
          f"|near/far - ref| {e_n:.2e} |targets - skimage| {e_t:.2e}")
    ok &= e_o <= ray_tol and e_d <= ray_tol and e_n <= ray_tol and e_t <= 1e-6
    if not ok:
        print("MISMATCH")
    return 0 if ok else 1


def make_npz(args):
    out, n = args[0], int(args[2])
    mats = np.fromfile(args[1], dtype=np.float64).reshape(2 * n, 4, 4)
    members = {}
    for i in range(n):
        members["world_mat_%d" % i] = np.ascontiguousarray(mats[i])
        members["scale_mat_%d" % i] = np.asfortranarray(mats[n + i].astype(np.float32))
        members["world_mat_inv_%d" % i] = np.linalg.inv(mats[i]).astype(np.float32)
        members["camera_mat_%d" % i] = np.eye(4, dtype=np.float32)
    np.savez(out, **members)
    with zipfile.ZipFile(out) as z:
        header = z.read("scale_mat_0.npy")[:128]
    if b"'fortran_order': True" not in header:
        print("numpy did not store scale_mat_0 in Fortran order:", header)
        return 1
    return 0


def main():
    if len(sys.argv) >= 7 and sys.argv[1] == "check":
        return check(sys.argv[2:])
    if len(sys.argv) == 5 and sys.argv[1] == "make-npz":
        return make_npz(sys.argv[2:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
