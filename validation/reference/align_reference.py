#!/usr/bin/python3
"""Independent checks of phive's alignment (align.h).

procrustes: the Umeyama closed form written here with numpy's SVD, and, for
the rotation, scipy's Rotation.align_vectors (Kabsch) as a second opinion;
phive's R, t, s must agree with them to TOL (default 1e-6).

icp: Open3D's registration_icp (point-to-point or point-to-plane) on the same
clouds, from the same initial transform, with the same maximum correspondence
distance and tolerances tight enough that both solvers reach their fixed
point; phive's transform must agree to TOL (default 1e-5) and its RMS distance
and fitness to 1e-4 (relative) and 1e-9.

usage:
  align_reference.py procrustes SRC.f32 DST.f32 WEIGHTS.f64|- WITH_SCALE OURS.f64 [TOL]
  align_reference.py icp point|plane SRC.f32 TGT.f32 NORMALS.f32|- INIT.f64 MAX_DIST MAX_ITER OURS.f64 [TOL]
Files are raw little-endian arrays: clouds float32 n x 3, weights float64 n,
INIT float64 row-major 4 x 4, OURS float64 [R (9, row-major), t (3), s, rmse, fitness].
"""
import sys

import numpy as np


def read_cloud(path):
    return np.fromfile(path, dtype=np.float32).reshape(-1, 3).astype(np.float64)


def umeyama(src, dst, w, with_scale):
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    xs, xd = src - mu_s, dst - mu_d
    cov = (xd * w[:, None]).T @ xs
    u, sigma, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1
    rot = u @ np.diag(d) @ vt
    scale = (sigma * d).sum() / (w @ (xs * xs).sum(axis=1)) if with_scale else 1.0
    return rot, mu_d - scale * rot @ mu_s, scale


def check_procrustes(args):
    from scipy.spatial.transform import Rotation

    src, dst = read_cloud(args[0]), read_cloud(args[1])
    w = np.ones(len(src)) if args[2] == "-" else np.fromfile(args[2], dtype=np.float64)
    with_scale = args[3] == "1"
    ours = np.fromfile(args[4], dtype=np.float64)
    tol = float(args[5]) if len(args) > 5 else 1e-6
    rot, t, s = umeyama(src, dst, w, with_scale)
    keep = w > 0
    mu_s, mu_d = np.average(src, axis=0, weights=w), np.average(dst, axis=0, weights=w)
    kabsch = Rotation.align_vectors(dst[keep] - mu_d, src[keep] - mu_s, weights=w[keep])[0].as_matrix()
    err_r = np.abs(ours[:9].reshape(3, 3) - rot).max()
    err_t = np.abs(ours[9:12] - t).max()
    err_s = abs(ours[12] - s)
    err_kabsch = np.abs(kabsch - rot).max()
    print(f"procrustes: |R - numpy| {err_r:.2e} |t - numpy| {err_t:.2e} |s - numpy| {err_s:.2e} "
          f"(numpy vs scipy Kabsch {err_kabsch:.2e}); det R {np.linalg.det(rot):+.6f}, s {s:.9f}")
    return max(err_r, err_t, err_s, err_kabsch) < tol


def check_icp(args):
    import open3d as o3d

    method, src, tgt = args[0], read_cloud(args[1]), read_cloud(args[2])
    init = np.fromfile(args[4], dtype=np.float64).reshape(4, 4)
    max_dist, max_iter = float(args[5]), int(args[6])
    ours = np.fromfile(args[7], dtype=np.float64)
    tol = float(args[8]) if len(args) > 8 else 1e-5
    reg = o3d.pipelines.registration
    source, target = o3d.geometry.PointCloud(), o3d.geometry.PointCloud()
    source.points = o3d.utility.Vector3dVector(src)
    target.points = o3d.utility.Vector3dVector(tgt)
    if method == "plane":
        target.normals = o3d.utility.Vector3dVector(read_cloud(args[3]))
        estimation = reg.TransformationEstimationPointToPlane()
    else:
        estimation = reg.TransformationEstimationPointToPoint(False)
    criteria = reg.ICPConvergenceCriteria(relative_fitness=1e-14, relative_rmse=1e-14, max_iteration=max_iter)
    result = reg.registration_icp(source, target, max_dist, init, estimation, criteria)
    ours_t = np.eye(4)
    ours_t[:3, :3] = ours[:9].reshape(3, 3)
    ours_t[:3, 3] = ours[9:12]
    err_t = np.abs(ours_t - result.transformation).max()
    err_rmse = abs(ours[13] - result.inlier_rmse) / max(result.inlier_rmse, 1e-12)
    err_fit = abs(ours[14] - result.fitness)
    print(f"icp point-to-{method}: |T - open3d| {err_t:.2e}; rmse phive {ours[13]:.9f} open3d "
          f"{result.inlier_rmse:.9f}; fitness phive {ours[14]:.6f} open3d {result.fitness:.6f}")
    return err_t < tol and (err_rmse < 1e-4 or abs(ours[13] - result.inlier_rmse) < 1e-9) and err_fit < 1e-9


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("procrustes", "icp"):
        sys.exit(__doc__)
    ok = check_procrustes(sys.argv[2:]) if sys.argv[1] == "procrustes" else check_icp(sys.argv[2:])
    print("align reference:", "agree" if ok else "DISAGREE")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
