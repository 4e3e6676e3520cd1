#!/usr/bin/python3
"""Independent check of an `sdf` job's result.h5 (numpy + h5py, Debian's packages).

Recomputes the MLP from the stored parameters with numpy (NeuS positional
encoding, Softplus beta, geometric layout W [out x in]), evaluates it on the
grid of cell centres and compares with /outputs/sdf_grid; compares the grid
with the analytic SDF written here from its textbook formula; checks that
h5py reads strings as str and scalars as scalars.

usage: sdf_reference.py RESULT.h5 MAX_GRID_ERR
"""
import sys

import h5py
import numpy as np


def torus(p, size):
    ring = np.sqrt(p[:, 0] ** 2 + p[:, 2] ** 2) - size
    return np.sqrt(ring ** 2 + p[:, 1] ** 2) - 0.4 * size


def sphere(p, size):
    return np.linalg.norm(p, axis=1) - size


def box(p, size):
    r = 0.05 * size
    q = np.abs(p) - (np.array([1.0, 0.7, 0.5]) * size - r)
    outside = np.linalg.norm(np.maximum(q, 0), axis=1)
    inside = np.minimum(np.max(q, axis=1), 0)
    return outside + inside - r


def capsule(p, size):
    x = np.clip(p[:, 0], -0.6 * size, 0.6 * size)
    return np.sqrt((p[:, 0] - x) ** 2 + p[:, 1] ** 2 + p[:, 2] ** 2) - 0.4 * size


SHAPES = {"torus": torus, "sphere": sphere, "box": box, "capsule": capsule}


def softplus(x, beta):
    return np.where(beta * x > 20, x, np.log1p(np.exp(np.minimum(beta * x, 20))) / beta)


def encode(p, freqs):
    parts = [p]
    for k in range(freqs):
        parts += [np.sin(2.0 ** k * p), np.cos(2.0 ** k * p)]
    return np.concatenate(parts, axis=1)


def main():
    path, max_grid_err = sys.argv[1], float(sys.argv[2])
    f = h5py.File(path, "r")
    for key in ("status", "job_id", "config", "error", "job_type"):
        assert isinstance(f.attrs[key], str), f"{key} is {type(f.attrs[key])}, not str"
    assert f.attrs["status"] == "complete", f.attrs["status"]
    assert np.ndim(f.attrs["wall_seconds"]) == 0 and np.ndim(f.attrs["ranks"]) == 0
    cfg = {k: v for k, v in f["config"].attrs.items()}
    assert all(isinstance(v, str) for v in cfg.values())
    freqs, beta = int(cfg["model.pe_freqs"]), float(cfg["model.beta"])
    layers = int(cfg["model.hidden_layers"]) + 1
    res = int(cfg["eval.grid"])

    idx = (np.arange(res) * 2.0 + 1.0) / res - 1.0
    z, y, x = np.meshgrid(idx, idx, idx, indexing="ij")  # grid is stored [z][y][x], x fastest
    p = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    h = encode(p, freqs)
    for i in range(layers):
        w = f[f"outputs/params/sdf.w{i}"][:].astype(np.float64)
        b = f[f"outputs/params/sdf.b{i}"][:].astype(np.float64)
        h = h @ w.T + b
        if i < layers - 1:
            h = softplus(h, beta) if beta > 0 else np.maximum(h, 0)
    grid = f["outputs/sdf_grid"][:].ravel().astype(np.float64)
    forward_err = np.max(np.abs(h[:, 0] - grid))
    truth = SHAPES[cfg["sdf.shape"]](p, float(cfg["sdf.size"]))
    fit_err = np.mean(np.abs(grid - truth))
    loss = f["metrics/loss"][:]
    print(f"numpy forward vs phive grid: max |diff| {forward_err:.3g}; grid vs analytic SDF: mean |err| {fit_err:.4g};"
          f" loss {loss[0]:.4g} -> {loss[-1]:.4g}; final {dict(f['final'].attrs)}")
    assert forward_err < 1e-4, "phive's MLP forward disagrees with numpy"
    assert fit_err < max_grid_err, f"the fitted SDF is off by {fit_err} on average"
    assert loss[-1] < 0.2 * loss[0], "training did not reduce the loss"
    assert abs(f["final"].attrs["eval_mae"]) < max_grid_err


if __name__ == "__main__":
    main()
