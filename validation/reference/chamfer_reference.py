#!/usr/bin/python3
"""Independent reference for phive's Chamfer distances (src/geom/surface_metrics.c).

    /usr/bin/python3 validation/reference/chamfer_reference.py X.bin Y.bin [--max-dist D]

X.bin and Y.bin are raw little-endian float32 xyz triples (n x 3, no header).
Nearest neighbours come from scipy.spatial.cKDTree in float64; nothing is
shared with the C code.  Prints one "name value" line per figure:

    pytorch3d_x_to_y   mean over x of the squared NN distance to y
    pytorch3d_y_to_x   mean over y of the squared NN distance to x
    pytorch3d_chamfer  their sum (PyTorch3D chamfer_distance)
    dtu_accuracy       mean NN distance x -> y over distances < D (DTUeval-python)
    dtu_completeness   mean NN distance y -> x over distances < D
    dtu_overall        mean of the two
    dtu_n_accuracy, dtu_n_completeness   how many distances entered each mean
"""
import argparse
import sys

import numpy as np
from scipy.spatial import cKDTree


def load_points(path):
    raw = np.fromfile(path, dtype="<f4")
    if raw.size == 0 or raw.size % 3:
        sys.exit(f"{path}: expected a non-empty float32 array of xyz triples, got {raw.size} floats")
    return raw.reshape(-1, 3).astype(np.float64)


def nn_distances(target, query):
    distances, _ = cKDTree(target).query(query, k=1)
    return distances


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("x")
    parser.add_argument("y")
    parser.add_argument("--max-dist", type=float, default=np.inf)
    args = parser.parse_args()
    x, y = load_points(args.x), load_points(args.y)
    d_xy, d_yx = nn_distances(y, x), nn_distances(x, y)

    x_to_y, y_to_x = np.mean(d_xy**2), np.mean(d_yx**2)
    acc_sel, comp_sel = d_xy[d_xy < args.max_dist], d_yx[d_yx < args.max_dist]
    accuracy = acc_sel.mean() if acc_sel.size else np.nan
    completeness = comp_sel.mean() if comp_sel.size else np.nan
    figures = [
        ("pytorch3d_x_to_y", x_to_y),
        ("pytorch3d_y_to_x", y_to_x),
        ("pytorch3d_chamfer", x_to_y + y_to_x),
        ("dtu_accuracy", accuracy),
        ("dtu_completeness", completeness),
        ("dtu_overall", (accuracy + completeness) / 2),
        ("dtu_n_accuracy", acc_sel.size),
        ("dtu_n_completeness", comp_sel.size),
    ]
    for name, value in figures:
        print(f"{name} {float(value):.17g}")


if __name__ == "__main__":
    main()
