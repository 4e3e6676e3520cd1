#!/usr/bin/python3
"""Independent check of phive's marching cubes against scikit-image (Lewiner).

Runs skimage.measure.marching_cubes on the same grid and iso value, maps its
vertices with the same grid -> world affine map, and compares with phive's mesh:
  - surface area and |enclosed volume| to REL_TOL (default 1e-3): the two
    triangulations differ (Lewiner adds vertices inside some cubes), the
    surfaces do not;
  - the vertices on grid edges: both place them by linear interpolation along
    the edge, so the two vertex sets must match point for point to 1e-5
    (world units), in both directions, with the same count.
Lewiner's extra vertices inside cubes (not on a grid edge) are left out of the
set comparison.

usage: mcubes_reference.py GRID.f32 NX NY NZ ISO VERTS.f32 FACES.u32 M00 M01 M02 M03 M10 ... M23 [REL_TOL]
  GRID.f32   raw float32, x fastest (value(i,j,k) = grid[i + nx*(j + ny*k)])
  VERTS.f32  phive's vertices, raw float32 n x 3 (world)
  FACES.u32  phive's triangles, raw uint32 m x 3
  M..        the first three rows of the 4x4 map: world = M (i, j, k, 1)
"""
import sys

import numpy as np
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes


def area_volume(verts, faces):
    a, b, c = (verts[faces[:, k]].astype(np.float64) for k in range(3))
    cross = np.cross(b - a, c - a)
    return 0.5 * np.linalg.norm(cross, axis=1).sum(), np.einsum("ij,ij->i", a, cross).sum() / 6.0


def main():
    if len(sys.argv) not in (20, 21):
        sys.exit(__doc__)
    grid_path, nx, ny, nz, iso = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    ours_v = np.fromfile(sys.argv[6], dtype=np.float32).reshape(-1, 3)
    ours_f = np.fromfile(sys.argv[7], dtype=np.uint32).reshape(-1, 3).astype(np.int64)
    affine = np.array([float(x) for x in sys.argv[8:20]]).reshape(3, 4)
    rel_tol = float(sys.argv[20]) if len(sys.argv) == 21 else 1e-3

    volume = np.fromfile(grid_path, dtype=np.float32).reshape(nz, ny, nx)
    sk_v, sk_f, _, _ = marching_cubes(volume, level=iso, method="lewiner")
    index = sk_v[:, ::-1].astype(np.float64)  # skimage's columns are (k, j, i)
    sk_world = index @ affine[:, :3].T + affine[:, 3]

    sk_area, sk_vol = area_volume(sk_world, sk_f)
    our_area, our_vol = area_volume(ours_v, ours_f)
    area_err = abs(our_area / sk_area - 1)
    vol_err = abs(abs(our_vol) / abs(sk_vol) - 1)
    print(f"area    phive {our_area:.6f} skimage {sk_area:.6f} rel diff {area_err:.2e}")
    print(f"volume  phive {our_vol:.6f} skimage {sk_vol:.6f} (signed) rel diff {vol_err:.2e}")

    # Vertices on grid edges: two of the three index coordinates are integers.
    frac = np.abs(index - np.round(index))
    on_edge = (frac < 1e-4).sum(axis=1) >= 2
    sk_edge = np.unique(sk_world[on_edge], axis=0)
    d_ours, _ = cKDTree(sk_edge).query(ours_v.astype(np.float64))
    d_sk, _ = cKDTree(ours_v.astype(np.float64)).query(sk_edge)
    print(f"vertices phive {len(ours_v)} skimage on edges {len(sk_edge)} (+{(~on_edge).sum()} inside cubes); "
          f"max distance phive->skimage {d_ours.max():.2e}, skimage->phive {d_sk.max():.2e}")

    ok = area_err < rel_tol and vol_err < rel_tol
    ok = ok and len(sk_edge) == len(ours_v) and d_ours.max() < 1e-5 and d_sk.max() < 1e-5
    print("mcubes reference:", "agree" if ok else "DISAGREE")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
