#!/usr/bin/python3
"""Independent reference for phive's cloth material (include/phive/cloth_material.h,
kernels/cloth_material.h): the Wang et al. 2011 data-driven model transcribed
literally from ARCSim 0.3.1 in float64 numpy —

- dde.cpp evaluate_stretching_sample: C = 2G + I through vectors.cpp's
  closed-form eigen_decomposition<2> (its C01 == 0 branches included), the
  angle |atan2(V_y, V_x)|/pi*8 and strain (sqrt(l1) - 1)*6 with their clamps,
  integer truncation, the four-term bilinear sum and k = 2*max(raw, 0);
- dde.cpp evaluate_stretching_samples + stretching_stiffness: the 30^3 grid
  and the clamped trilinear lookup at (G00, G11, |G01|);
- dde.cpp bending_stiffness: value = theta*l/A/2*0.2, the folded bias angle,
  the bilinear sum, ke = max(., 0); the curvature limits of
  cloth_curvature_mode (0 clamp to [0, 4], 1 |.|, 2 ARCSim 0.3.1 as is);
- physics.cpp stretching_force (fuu, fvv, fuv, the max(G, 0) Hessian) and
  bending_force (dihedral_angle, distance, barycentric_weights, l^2/(2A)).

Derivatives w.r.t. the material tables are obtained here without calculus:
the models are linear in the tables before the ReLU, so each column of the
Jacobian is the same model evaluated on a one-hot table, masked by the
material's own ReLU.  Entries whose ReLU input is within the tolerance of 0
(where float and double may take different sides) are not compared.

usage:
  cloth_material_reference.py stretch MATERIAL.json G.f64 OURS.f64 TOL
      G: n x 3 (G00, G11, G01); OURS: n x 56 = k direct (4), k table (4),
      dk/drows direct (6 x 4), dk/drows table (6 x 4) with dk/drows[r][i] = dk_i/drows[r][i].
  cloth_material_reference.py bend MATERIAL.json IN.f64 OURS.f64 TOL
      IN: n x 6 (du_x, du_y, theta, l, A0 + A1, mode); OURS: n x 16 = ke, dke/dbending (3 x 5).
  cloth_material_reference.py forces IN.f64 OURS.f64 TOL
      IN: n x 26 = x0..x3 (12), u0..u2 (6), k (4), ke, l, A0 + A1, theta_rest;
      OURS: n x 249 = stretching E, grad (9), hess (81) of the face (x0, x1, x2) with
      material coordinates u, then theta, bending E, grad (12), hess (144) of the hinge.
All files are raw little-endian float64, row-major.  Errors are relative,
with a floor of 5% of the largest table entry of the column for stiffnesses
(k is a difference of table entries where it crosses zero; for bending
times the size of the interpolation weights, which exceed 1 where ARCSim
extrapolates to negative curvature), relative to
max(|J|, 1) for the Jacobians (interpolation weights, at most 2) and normwise
per output block for the element forces.  Exit status 1 when one exceeds TOL.
"""
import itertools
import json
import sys

import numpy as np

N = 30  # dde.cpp nsamples


def load_material(path):
    with open(path) as f:
        j = json.load(f)
    st = np.array(j["stretching"], dtype=np.float64)
    be = np.array(j["bending"], dtype=np.float64)
    if j.get("units", "si") == "phisft":
        st, be = st * 1e3, be * 1e-4
    assert st.shape == (6, 4) and be.shape == (3, 5)
    return st, be


def stretching_data(st):
    """ARCSim's StretchingData d[2][5] from the file's 6 rows."""
    d = np.empty((2, 5, 4))
    d[0, :, :] = st[0]
    d[1, :, :] = st[1:]
    return d


# ---------------------------------------------------------------- stretching

def eigen_decomposition2(a, b, d):
    """vectors.cpp eigen_decomposition<2> of [[a, b], [b, d]]: l1 and the first column of Q."""
    amd, apd, b2 = a - d, a + d, b * b
    det = np.sqrt(4 * b2 + amd * amd)
    l1 = 0.5 * (apd + det)
    with np.errstate(invalid="ignore", divide="ignore"):
        v0 = l1 - d
        vn = np.sqrt(v0 * v0 + b2)
        q00 = np.where(b != 0, v0 / vn, np.where(a >= d, 1.0, 0.0))
        q10 = np.where(b != 0, b / vn, np.where(a >= d, 0.0, 1.0))
    return l1, q00, q10


def stretching_raw(G00, G11, G01, d):
    """evaluate_stretching_sample up to the ReLU: (n, 4)."""
    l1, V0, V1 = eigen_decomposition2(2 * G00 + 1, 2 * G01, 2 * G11 + 1)
    w0 = np.sqrt(l1)
    angle_weight = np.abs(np.arctan2(V1, V0) / np.pi) * 8
    angle_weight = np.where(angle_weight < 0, 0.0, angle_weight)
    angle_weight = np.where(angle_weight > 4 - 1e-6, 4 - 1e-6, angle_weight)
    angle_id = angle_weight.astype(np.int64)
    angle_weight = angle_weight - angle_id
    strain_value = (w0 - 1) * 6
    strain_value = np.where(strain_value < 0, 0.0, strain_value)
    strain_value = np.where(strain_value > 1 - 1e-6, 1 - 1e-6, strain_value)
    strain_id = 0  # ARCSim overrides the level index
    sw = (strain_value - strain_id)[:, None]
    aw = angle_weight[:, None]
    return (d[strain_id][angle_id] * (1 - sw) * (1 - aw) + d[strain_id + 1][angle_id] * sw * (1 - aw)
            + d[strain_id][angle_id + 1] * (1 - sw) * aw + d[strain_id + 1][angle_id + 1] * sw * aw)


def grid():
    i = np.arange(N)
    g00, g11, g01 = np.meshgrid(-0.25 + i / (N * 1.0), -0.25 + i / (N * 1.0), i / (N * 1.0), indexing="ij")
    return g00.ravel(), g11.ravel(), g01.ravel()


def lookup_corners(G00, G11, G01):
    """stretching_stiffness's 8 (index, weight) pairs per query."""
    def axis(t):
        t = np.clip(t, 0.0, N - 1 - 1e-5)
        ti = np.clip(np.floor(t).astype(np.int64), 0, N - 2)
        return ti, t - ti
    ai, a = axis((G00 + 0.25) * N)
    bi, b = axis((G11 + 0.25) * N)
    ci, c = axis(np.abs(G01) * N)
    corners = []
    for i, j, k in itertools.product((0, 1), repeat=3):
        w = (a if i else 1 - a) * (b if j else 1 - b) * (c if k else 1 - c)
        corners.append((((ai + i) * N + bi + j) * N + ci + k, w))
    return corners


def lookup(samples, corners):
    return sum(samples[idx] * w[:, None] for idx, w in corners)


def relative(ours, ref, floor):
    return np.abs(ours - ref) / np.maximum(np.abs(ref), floor)


def check_stretch(args):
    st, _ = load_material(args[0])
    G = np.fromfile(args[1], dtype=np.float64).reshape(-1, 3)
    ours = np.fromfile(args[2], dtype=np.float64).reshape(len(G), 56)
    tol = float(args[3])
    d = stretching_data(st)
    scale = 2 * np.abs(st).max(axis=0)  # per stiffness component
    mask_band = 10 * tol * scale

    raw = stretching_raw(G[:, 0], G[:, 1], G[:, 2], d)
    k_direct = 2 * np.maximum(raw, 0)
    samples_raw = stretching_raw(*grid(), d)
    samples = 2 * np.maximum(samples_raw, 0)
    corners = lookup_corners(G[:, 0], G[:, 1], G[:, 2])
    k_table = lookup(samples, corners)

    J_direct = np.zeros((len(G), 6, 4))
    J_table = np.zeros((len(G), 6, 4))
    for r in range(6):
        onehot = np.zeros((6, 4))
        onehot[r] = 1
        basis = stretching_data(onehot)
        J_direct[:, r, :] = 2 * stretching_raw(G[:, 0], G[:, 1], G[:, 2], basis) * (raw > 0)
        J_table[:, r, :] = lookup(2 * stretching_raw(*grid(), basis) * (samples_raw > 0), corners)
    uncertain_direct = np.abs(raw) < mask_band
    uncertain_samples = np.abs(samples_raw) < mask_band
    uncertain_table = np.zeros_like(uncertain_direct)
    for idx, w in corners:
        uncertain_table |= uncertain_samples[idx] & (w > 0)[:, None]

    floor = 0.05 * scale
    errors = {
        "k direct": relative(ours[:, 0:4], k_direct, floor).max(),
        "k table": relative(ours[:, 4:8], k_table, floor).max(),
    }
    jd, jt = ours[:, 8:32].reshape(-1, 6, 4), ours[:, 32:56].reshape(-1, 6, 4)
    keep_d = np.broadcast_to(~uncertain_direct[:, None, :], jd.shape)
    keep_t = np.broadcast_to(~uncertain_table[:, None, :], jt.shape)
    errors["dk/drows direct"] = relative(jd, J_direct, 1.0)[keep_d].max(initial=0)
    errors["dk/drows table"] = relative(jt, J_table, 1.0)[keep_t].max(initial=0)
    skipped = int(uncertain_direct.sum() + uncertain_table.sum())
    clamped = int((raw <= 0).sum())
    print(f"stretch {args[0]}: {len(G)} strains ({clamped} clamped components, {skipped} Jacobian columns "
          f"at a ReLU boundary skipped); worst relative error "
          + ", ".join(f"{name} {err:.2e}" for name, err in errors.items()))
    return max(errors.values()) <= tol


# ---------------------------------------------------------------- bending

def bending_raw(du, theta, l, a, mode, data):
    curv = theta * l / a
    curv = np.where(mode == 1, np.abs(curv), curv)
    alpha = curv / 2
    value = alpha * 0.2  # samples are per 0.05 cm^-1 = 5 m^-1
    value = np.where((mode == 0) & (value < 0), 0.0, value)
    value = np.where(value > 4, 4.0, value)
    value_i = np.clip(np.trunc(value).astype(np.int64), 0, 3)
    value = value - value_i
    bias_angle = np.arctan2(du[:, 1], du[:, 0]) * 4 / np.pi
    bias_angle = np.where(bias_angle < 0, -bias_angle, bias_angle)
    bias_angle = np.where(bias_angle > 4, 8 - bias_angle, bias_angle)
    bias_angle = np.where(bias_angle > 2, 4 - bias_angle, bias_angle)
    bias_id = np.clip(np.trunc(bias_angle).astype(np.int64), 0, 1)
    bias_angle = bias_angle - bias_id
    bending_raw.weight_size = np.maximum(1.0, np.abs(1 - value))  # > 1 where ARCSim extrapolates
    return (data[bias_id, value_i] * (1 - bias_angle) * (1 - value)
            + data[bias_id + 1, value_i] * bias_angle * (1 - value)
            + data[bias_id, value_i + 1] * (1 - bias_angle) * value
            + data[bias_id + 1, value_i + 1] * bias_angle * value)


def check_bend(args):
    _, be = load_material(args[0])
    inp = np.fromfile(args[1], dtype=np.float64).reshape(-1, 6)
    ours = np.fromfile(args[2], dtype=np.float64).reshape(len(inp), 16)
    tol = float(args[3])
    du, theta, l, a, mode = inp[:, 0:2], inp[:, 2], inp[:, 3], inp[:, 4], inp[:, 5].astype(np.int64)
    raw = bending_raw(du, theta, l, a, mode, be)
    weight_size = bending_raw.weight_size
    ke = np.maximum(raw, 0)
    J = np.zeros((len(inp), 15))
    for e in range(15):
        onehot = np.zeros(15)
        onehot[e] = 1
        J[:, e] = bending_raw(du, theta, l, a, mode, onehot.reshape(3, 5)) * (raw > 0)
    scale = np.abs(be).max()
    keep = np.abs(raw) >= 10 * tol * scale
    err_ke = relative(ours[:, 0], ke, 0.05 * scale * weight_size).max()
    err_j = relative(ours[:, 1:], J, 1.0)[keep].max(initial=0)
    print(f"bend {args[0]}: {len(inp)} edges (modes {np.bincount(mode, minlength=3).tolist()}, "
          f"{int((raw <= 0).sum())} clamped); worst relative error ke {err_ke:.2e}, dke/dbending {err_j:.2e}")
    return max(err_ke, err_j) <= tol


# ---------------------------------------------------------------- element forces

def normalize(v):
    return v / np.linalg.norm(v)


def stretching_force(x, u, k):
    """physics.cpp stretching_force (use_dde, no plasticity, no damage): force, Jacobian, and
    stretching_energy's value."""
    Dm = np.column_stack([u[1] - u[0], u[2] - u[0]])
    a = abs(np.linalg.det(Dm)) / 2
    Y = np.linalg.inv(Dm)
    D = np.vstack([-Y[0] - Y[1], Y[0], Y[1]])
    DD = [np.kron(D[:, c][None, :], np.eye(3)) for c in range(2)]
    X = x[:3].reshape(9)
    f = [DD[c] @ X for c in range(2)]
    F = np.column_stack(f)
    G = (F.T @ F - np.eye(2)) * 0.5
    Du, Dv = DD
    fuu, fvv, fuv = Du.T @ f[0], Dv.T @ f[1], (Du.T @ f[1] + Dv.T @ f[0]) / 2.
    grad_f = k[0] * G[0, 0] * fuu + k[2] * G[1, 1] * fvv + k[1] * (G[0, 0] * fvv + G[1, 1] * fuu) + 2 * k[3] * G[0, 1] * fuv
    hess_f = (k[0] * (np.outer(fuu, fuu) + max(G[0, 0], 0.) * Du.T @ Du)
              + k[2] * (np.outer(fvv, fvv) + max(G[1, 1], 0.) * Dv.T @ Dv)
              + k[1] * (np.outer(fuu, fvv) + max(G[0, 0], 0.) * Dv.T @ Dv
                        + np.outer(fvv, fuu) + max(G[1, 1], 0.) * Du.T @ Du)
              + 2. * k[3] * np.outer(fuv, fuv))
    sigma = np.array([[k[0] * G[0, 0] + k[1] * G[1, 1], 0.5 * k[3] * G[0, 1]],
                      [0.5 * k[3] * G[1, 0], k[2] * G[1, 1] + k[1] * G[0, 0]]])
    energy = a * 0.5 * np.sum(sigma * G)
    return -a * grad_f, -a * hess_f, energy


def dihedral_angle(x0, x1, x2, x3):
    e = normalize(x0 - x1)
    n0 = normalize(np.cross(x1 - x0, x2 - x0))
    n1 = normalize(np.cross(x0 - x1, x3 - x1))  # the second face runs along the edge backwards
    return np.arctan2(np.dot(e, np.cross(n0, n1)), np.dot(n0, n1)), n0, n1


def distance(x, a, b):
    e = b - a
    xp = e * np.dot(e, x - a) / np.dot(e, e)
    return max(np.linalg.norm((x - a) - xp), 1e-3 * np.linalg.norm(e))


def barycentric_weights(x, a, b):
    e = b - a
    t = np.dot(e, x - a) / np.dot(e, e)
    return np.array([1 - t, t])


def bending_force(x, ke, l, a, theta_ideal):
    x0, x1, x2, x3 = x
    theta, n0, n1 = dihedral_angle(x0, x1, x2, x3)
    h0, h1 = distance(x2, x0, x1), distance(x3, x0, x1)
    w_f0, w_f1 = barycentric_weights(x2, x0, x1), barycentric_weights(x3, x0, x1)
    dtheta = np.concatenate([-(w_f0[0] * n0 / h0 + w_f1[0] * n1 / h1), -(w_f0[1] * n0 / h0 + w_f1[1] * n1 / h1),
                             n0 / h0, n1 / h1])
    coeff = ke * l * l / (2 * a)  # bending_coeff: ke * shape
    return (theta, -coeff * (theta - theta_ideal) * dtheta / 2., -coeff * np.outer(dtheta, dtheta) / 2.,
            coeff * (theta - theta_ideal) ** 2 / 4)


def normwise(ours, ref):
    return np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-300)


def check_forces(args):
    inp = np.fromfile(args[0], dtype=np.float64).reshape(-1, 26)
    ours = np.fromfile(args[1], dtype=np.float64).reshape(len(inp), 249)
    tol = float(args[2])
    worst = dict.fromkeys(["stretch E", "stretch grad", "stretch hess", "theta", "bend E", "bend grad",
                           "bend hess"], 0.0)
    shear_gap = 0.0
    for row, out in zip(inp, ours):
        x, u, k = row[:12].reshape(4, 3), row[12:18].reshape(3, 2), row[18:22]
        ke, l, a, theta_rest = row[22:26]
        force, jac, energy_arcsim = stretching_force(x, u, k)
        # ARCSim's force is the gradient of this energy (shear k3*G01^2); stretching_energy() has k3/2
        Dm = np.column_stack([u[1] - u[0], u[2] - u[0]])
        F = np.column_stack([x[1] - x[0], x[2] - x[0]]) @ np.linalg.inv(Dm)
        G = (F.T @ F - np.eye(2)) / 2
        area = abs(np.linalg.det(Dm)) / 2
        energy = area * (k[0] * G[0, 0] ** 2 / 2 + k[1] * G[0, 0] * G[1, 1] + k[2] * G[1, 1] ** 2 / 2
                         + k[3] * G[0, 1] ** 2)
        shear_gap = max(shear_gap, abs(energy - energy_arcsim - area * k[3] * G[0, 1] ** 2 / 2) / abs(energy))
        theta, bforce, bjac, benergy = bending_force(x, ke, l, a, theta_rest)
        blocks = [("stretch E", out[0:1], np.array([energy])), ("stretch grad", out[1:10], -force),
                  ("stretch hess", out[10:91], -jac.ravel()), ("theta", out[91:92], np.array([theta])),
                  ("bend E", out[92:93], np.array([benergy])), ("bend grad", out[93:105], -bforce),
                  ("bend hess", out[105:249], -bjac.ravel())]
        for name, o, r in blocks:
            worst[name] = max(worst[name], normwise(o, r))
    print(f"forces: {len(inp)} faces/hinges (ARCSim stretching_energy = ours - A*k3*G01^2/2 to {shear_gap:.1e}); "
          "worst normwise relative error " + ", ".join(f"{n} {e:.2e}" for n, e in worst.items()))
    return max(worst.values()) <= tol


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("stretch", "bend", "forces"):
        print(__doc__)
        return 2
    ok = {"stretch": check_stretch, "bend": check_bend, "forces": check_forces}[sys.argv[1]](sys.argv[2:])
    if not ok:
        print("FAILED: an error exceeds the tolerance")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
