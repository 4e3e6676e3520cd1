#!/usr/bin/python3
"""Independent DTU protocol (after DTUeval-python's eval.py, scipy's cKDTree in place of sklearn).

usage: dtu_reference.py MESH.obj GT_ROOT SCAN [SEED]
Prints: accuracy completeness overall n_thinned.  Triangle meshes in OBJ with
`v` and `f` lines only (the test's meshes).
"""
import sys

import numpy as np
import scipy.io
from scipy.spatial import cKDTree


def read_obj(path):
    v, f = [], []
    for line in open(path):
        parts = line.split()
        if parts and parts[0] == "v":
            v.append([float(x) for x in parts[1:4]])
        elif parts and parts[0] == "f":
            idx = [int(x.split("/")[0]) - 1 for x in parts[1:]]
            f += [[idx[0], idx[i], idx[i + 1]] for i in range(1, len(idx) - 1)]
    return np.array(v), np.array(f)


def read_ply_points(path):
    data = open(path, "rb").read()
    header_end = data.index(b"end_header\n") + len(b"end_header\n")
    n = int([l for l in data[:header_end].decode().splitlines() if l.startswith("element vertex")][0].split()[2])
    return np.frombuffer(data[header_end:header_end + 12 * n], dtype="<f4").reshape(n, 3).astype(np.float64)


def sample_triangles(vertices, triangles, thresh):
    tri = vertices[triangles]
    v1, v2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    l1, l2 = np.linalg.norm(v1, axis=-1), np.linalg.norm(v2, axis=-1)
    area2 = np.linalg.norm(np.cross(v1, v2), axis=-1)
    ok = area2 > 0
    out = [vertices]
    for a, b, c, n1, n2 in zip(tri[ok, 0], v1[ok], v2[ok], np.floor(l1[ok] / (thresh * np.sqrt(l1[ok] * l2[ok] / area2[ok]))),
                               np.floor(l2[ok] / (thresh * np.sqrt(l1[ok] * l2[ok] / area2[ok])))):
        c1, c2 = np.mgrid[: n1 + 1, : n2 + 1].astype(np.float64)
        k1, k2 = (c1.ravel() + 0.5) / max(n1, 1e-7), (c2.ravel() + 0.5) / max(n2, 1e-7)
        keep = k1 + k2 < 1
        out.append(a + b * k1[keep, None] + c * k2[keep, None])
    return np.concatenate(out)


def main():
    mesh_path, root, scan = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    thresh, patch, max_dist = 0.2, 60, 20
    vertices, triangles = read_obj(mesh_path)
    pcd = sample_triangles(vertices, triangles, thresh)
    np.random.default_rng(seed).shuffle(pcd)
    tree = cKDTree(pcd)
    mask = np.ones(len(pcd), dtype=bool)
    for i, neighbours in enumerate(tree.query_ball_point(pcd, thresh)):
        if mask[i]:
            mask[neighbours] = False
            mask[i] = True
    down = pcd[mask]
    obs = scipy.io.loadmat(f"{root}/ObsMask/ObsMask{scan}_10.mat")
    obs_mask, bb, res = obs["ObsMask"], obs["BB"].astype(np.float32), obs["Res"]
    inbound = ((down >= bb[:1] - patch) & (down < bb[1:] + patch * 2)).sum(axis=-1) == 3
    data_in = down[inbound]
    grid = np.around((data_in - bb[:1]) / res).astype(np.int32)
    grid_in = ((grid >= 0) & (grid < np.expand_dims(obs_mask.shape, 0))).sum(axis=-1) == 3
    g = grid[grid_in]
    in_obs = obs_mask[g[:, 0], g[:, 1], g[:, 2]].astype(bool)
    data_in_obs = data_in[grid_in][in_obs]
    stl = read_ply_points(f"{root}/Points/stl/stl{scan:03d}_total.ply")
    d2s = cKDTree(stl).query(data_in_obs)[0]
    accuracy = d2s[d2s < max_dist].mean()
    plane = scipy.io.loadmat(f"{root}/ObsMask/Plane{scan}.mat")["P"]
    above = (np.concatenate([stl, np.ones((len(stl), 1))], 1) @ plane.reshape(4)) > 0
    s2d = cKDTree(data_in).query(stl[above])[0]
    completeness = s2d[s2d < max_dist].mean()
    print(f"{accuracy:.6f} {completeness:.6f} {(accuracy + completeness) / 2:.6f} {len(down)}")


if __name__ == "__main__":
    main()
