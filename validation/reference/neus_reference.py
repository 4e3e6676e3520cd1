#!/usr/bin/python3
"""Independent reference for phive's NeuS model and renderer (include/phive/neus.h, src/nsr/neus*.c).

    /usr/bin/python3 validation/reference/neus_reference.py [--tol T] [--gtol G] [--ztol Z] CASE.h5 [CASE.h5 ...]
    /usr/bin/python3 validation/reference/neus_reference.py --selftest

Written from the NeuS paper and the formulas of Totoro97/NeuS (models/fields.py
SDFNetwork and RenderingNetwork, models/renderer.py up_sample, sample_pdf,
cat_z_vals and render_core, exp_runner.py's losses) as neus.h restates them;
nothing is shared with the C code.  Everything is float64.  Gradients come from
a small reverse-mode automatic differentiation over numpy (class Var).  The SDF
gradient is computed by FORWARD-mode derivatives of the network in the three
axis directions, written with Var operations (phive uses a reverse sweep and its
adjoint), so the double backward through it is mechanical here; in FD mode it is
the four tetrahedral taps.

Per case file the reference
  1. re-derives the samples (64-style coarse samples, then the up-sampling rounds
     at s_i = 64·2^i with deterministic u, evaluating the SDF network itself) and
     compares them with phive's (--ztol, absolute, default 1e-4, where the final
     weights are >= 1e-3; elsewhere the up-sampling pdf sits
     on NeuS's 1e-5 floor, where float32 rounding of P - N moves samples by up to
     ~1 % of a coarse section, and 2 % is allowed);
  2. at phive's samples, renders every ray differentiably (sections, midpoints,
     PE, the SDF network with weight norm, skip and Softplus, its gradient, the
     colour network, the discrete α with cos annealing, transmittance, weights,
     colour with background; with n_outside > 0 NeuS's NeRF++ background:
     render_core_outside on the joined samples, inverted-sphere points
     [p/r, 1/r], α = 1 − exp(−softplus(σ)δ), mixed in where the samples leave
     the unit sphere, then the outside samples) and forms the loss (L1 colour with masks, Eikonal,
     mask BCE), and compares the forward outputs: colour, weight sum, weights,
     SDF, gradient and the loss terms;
  3. differentiates the loss w.r.t. every parameter tensor and compares with
     phive's accumulated gradient.
Each compared quantity prints one line with its worst error relative to the
largest magnitude of the reference, max|phive − ref| / max(max|ref|, 1e-12)
(loss terms: relative to the larger of the term and the total loss);
parameter gradients also print the worst over all tensors relative to the
largest gradient of any tensor.  Exit 0 when every quantity is within --tol
(default 1e-4: phive runs in float32) and every parameter gradient within
--gtol (default 3e-4: a weight-norm gain's gradient sums v·dL/dW over a whole
matrix with cancellation, and float32 sums in the BLAS kernel's order, which
depends on the CPU), 1 otherwise.

Case file layout (HDF5, written by validation/unit/test_neus_reference.c):
  /                 attrs name (str), gradient (0 analytic, 1 FD), fd_eps,
                    cos_anneal_ratio, background (0/1), eikonal_radius,
                    color_weight, eikonal_weight, mask_weight, n_samples,
                    n_importance, up_sample_steps, n_outside (ints stored as int64)
  /model            attrs sdf_hidden_layers, sdf_width, sdf_skip, sdf_beta,
                    sdf_features, pe_xyz, color_hidden_layers, color_width,
                    pe_dir, weight_norm, and the NeRF++ background's background
                    (0/1), bg_layers, bg_width, bg_skip, pe_bg, pe_bg_dir
  /background_rgb   (3)
  /params/NAME      every tensor of phive's param_set by name: sdf.w<i>
                    (v [out x in]), sdf.g<i> (out, with weight norm), sdf.b<i>,
                    the same for color.*, variance (1)
  /rays             origin, direction (n x 3), near, far (n), rgb (n x 3), mask (n)
  /phive            z (n x S), color (n x 3), weight_sum (n), weights, sdf (n x S),
                    gradient (n x S x 3), z_out (n x n_outside, with the
                    background); attrs loss_total, loss_color,
                    loss_eikonal, loss_mask
  /grads/NAME       phive's dL/d(tensor) after one backward from zero
"""
import argparse
import math
import sys

import numpy as np

# ---------------------------------------------------------------------------------------------
# Reverse-mode automatic differentiation over float64 numpy arrays.  A Var holds its value and,
# per input, a function mapping the output's gradient to that input's.


def _unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Var:
    __array_ufunc__ = None

    def __init__(self, value, parents=()):
        self.value = np.asarray(value, dtype=np.float64)
        self.parents = parents

    shape = property(lambda self: self.value.shape)

    def __add__(self, other):
        other = lift(other)
        return Var(self.value + other.value, ((self, lambda g: g), (other, lambda g: g)))

    __radd__ = __add__

    def __sub__(self, other):
        other = lift(other)
        return Var(self.value - other.value, ((self, lambda g: g), (other, lambda g: -g)))

    def __rsub__(self, other):
        return lift(other) - self

    def __neg__(self):
        return Var(-self.value, ((self, lambda g: -g),))

    def __mul__(self, other):
        other = lift(other)
        a, b = self.value, other.value
        return Var(a * b, ((self, lambda g: g * b), (other, lambda g: g * a)))

    __rmul__ = __mul__

    def __truediv__(self, other):
        other = lift(other)
        a, b = self.value, other.value
        return Var(a / b, ((self, lambda g: g / b), (other, lambda g: -g * a / (b * b))))

    def __rtruediv__(self, other):
        return lift(other) / self

    def __getitem__(self, key):
        shape = self.value.shape

        def grad_fn(g):
            out = np.zeros(shape)
            out[key] = g
            return out

        return Var(self.value[key], ((self, grad_fn),))

    def sum(self, axis=None, keepdims=False):
        shape = self.value.shape

        def grad_fn(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return np.broadcast_to(g, shape).copy()

        return Var(self.value.sum(axis=axis, keepdims=keepdims), ((self, grad_fn),))

    def matmul_t(self, w):
        """self @ w.T (self: rows x in, w: out x in)."""
        w = lift(w)
        a, b = self.value, w.value
        return Var(a @ b.T, ((self, lambda g: g @ b), (w, lambda g: g.T @ a)))


def lift(x):
    return x if isinstance(x, Var) else Var(x)


def backward(out):
    """d(out.sum())/d(every Var reachable): a dict id(var) -> gradient."""
    order, seen = [], set()
    stack = [(out, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for parent, _ in node.parents:
            if id(parent) not in seen:
                stack.append((parent, False))
    grads = {id(out): np.ones_like(out.value)}
    for node in reversed(order):
        g = grads.get(id(node))
        if g is None:
            continue
        for parent, fn in node.parents:
            contribution = _unbroadcast(np.asarray(fn(g), dtype=np.float64), parent.value.shape)
            grads[id(parent)] = grads.get(id(parent), 0.0) + contribution
    return grads


def exp(x):
    out = np.exp(x.value)
    return Var(out, ((x, lambda g: g * out),))


def log(x):
    v = x.value
    return Var(np.log(v), ((x, lambda g: g / v),))


def sqrt(x):
    out = np.sqrt(x.value)
    return Var(out, ((x, lambda g: g * 0.5 / out),))


def _sigmoid(v):
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid(x):
    out = _sigmoid(x.value)
    return Var(out, ((x, lambda g: g * out * (1.0 - out)),))


def relu(x):
    """torch.relu: the gradient passes where x > 0."""
    mask = x.value > 0
    return Var(np.where(mask, x.value, 0.0), ((x, lambda g: g * mask),))


def absolute(x):
    """torch.abs: the gradient is sign(x), sign(0) = 0."""
    return Var(np.abs(x.value), ((x, lambda g: g * np.sign(x.value)),))


def clip(x, lo, hi):
    """torch.clip: the gradient passes where lo <= x <= hi."""
    mask = (x.value >= lo) & (x.value <= hi)
    return Var(np.clip(x.value, lo, hi), ((x, lambda g: g * mask),))


def concat(xs, axis=-1):
    xs = [lift(x) for x in xs]
    sizes = [x.value.shape[axis] for x in xs]
    value = np.concatenate([x.value for x in xs], axis=axis)
    parents, start = [], 0
    for x, n in zip(xs, sizes):
        idx = [slice(None)] * value.ndim
        idx[axis] = slice(start, start + n)
        parents.append((x, (lambda ix: lambda g: g[tuple(ix)])(idx)))
        start += n
    return Var(value, tuple(parents))


def stack(xs, axis=-1):
    xs = [lift(x) for x in xs]
    value = np.stack([x.value for x in xs], axis=axis)
    return Var(value, tuple((x, (lambda i: lambda g: np.take(g, i, axis=axis))(i)) for i, x in enumerate(xs)))


def softplus(x, beta):
    """nn.Softplus(beta, threshold=20): log(1 + exp(beta x))/beta, x where beta x > 20."""
    bx = beta * x.value
    lin = bx > 20
    value = np.where(lin, x.value, np.logaddexp(0.0, bx) / beta)
    slope = np.where(lin, 1.0, _sigmoid(bx))
    return Var(value, ((x, lambda g: g * slope),))


def softplus_slope(x, beta):
    """The derivative of softplus as a differentiable function of x (for the forward-mode gradient)."""
    bx = beta * x.value
    lin = bx > 20
    s = _sigmoid(bx)
    value = np.where(lin, 1.0, s)
    curvature = np.where(lin, 0.0, beta * s * (1.0 - s))
    return Var(value, ((x, lambda g: g * curvature),))


# ---------------------------------------------------------------------------------------------
# The NeuS networks


def positional_encoding(x, freqs):
    """NeuS get_embedder: [x, sin(2^0 x), cos(2^0 x), ..., sin(2^(F-1) x), cos(2^(F-1) x)] (numpy)."""
    out = [x]
    for k in range(freqs):
        out += [np.sin(2.0**k * x), np.cos(2.0**k * x)]
    return np.concatenate(out, axis=-1)


def positional_encoding_tangent(x, freqs, axis):
    """d PE(x)/d x_axis (numpy), the tangent of the encoding along one coordinate."""
    e = np.zeros_like(x)
    e[..., axis] = 1.0
    out = [e]
    for k in range(freqs):
        s = 2.0**k
        out += [s * np.cos(s * x) * e, -s * np.sin(s * x) * e]
    return np.concatenate(out, axis=-1)


class Network:
    def __init__(self, params, prefix, n_in, width, hidden, n_out, beta, skip, weight_norm):
        self.layers = hidden + 1
        self.beta, self.skip = beta, skip
        self.n_in = n_in
        self.W, self.b = [], []
        self.leaves = {}
        for i in range(self.layers):
            v = Var(params[f"{prefix}.w{i}"])
            b = Var(params[f"{prefix}.b{i}"])
            self.leaves[f"{prefix}.w{i}"] = v
            self.leaves[f"{prefix}.b{i}"] = b
            if weight_norm:
                g = Var(params[f"{prefix}.g{i}"])
                self.leaves[f"{prefix}.g{i}"] = g
                norm = sqrt((v * v).sum(axis=1, keepdims=True))
                W = v * reshape_col(g) / norm
            else:
                W = v
            self.W.append(W)
            self.b.append(b)
        assert self.W[0].shape[1] == n_in, f"{prefix}: input width {self.W[0].shape[1]} != {n_in}"
        assert skip == 0 or self.W[skip].shape[1] == width, f"{prefix}: skip layer width"

    def forward(self, u, tangents=()):
        """Output rows y (Var) and the tangents dy (Vars) for input tangents du (numpy)."""
        h, ts = lift(u), [lift(t) for t in tangents]
        act = (lambda z: relu(z)) if self.beta == 0 else (lambda z: softplus(z, self.beta))
        for l in range(self.layers):
            if self.skip > 0 and l == self.skip:
                h = concat([h, u]) * (1.0 / math.sqrt(2.0))
                ts = [concat([t, du]) * (1.0 / math.sqrt(2.0)) for t, du in zip(ts, tangents)]
            z = h.matmul_t(self.W[l]) + self.b[l]
            ts = [t.matmul_t(self.W[l]) for t in ts]
            if l < self.layers - 1:
                if self.beta == 0:
                    mask = z.value > 0
                    ts = [t * mask for t in ts]
                else:
                    slope = softplus_slope(z, self.beta)
                    ts = [t * slope for t in ts]
                h = act(z)
            else:
                h = z
        return h, ts


def reshape_col(g):
    """g (out,) as a column (out, 1), differentiably."""
    return Var(g.value[:, None], ((g, lambda grad: grad[:, 0]),))


# ---------------------------------------------------------------------------------------------
# Sampling (NeuS renderer.up_sample, sample_pdf, cat_z_vals), no gradient


def sample_pdf(bins, weights, m):
    weights = weights + 1e-5
    pdf = weights / weights.sum(-1, keepdims=True)
    cdf = np.cumsum(pdf, -1)
    cdf = np.concatenate([np.zeros_like(cdf[..., :1]), cdf], -1)
    u = np.broadcast_to(np.linspace(0.5 / m, 1.0 - 0.5 / m, m), cdf.shape[:-1] + (m,))
    inds = np.stack([np.searchsorted(cdf[r], u[r], side="right") for r in range(cdf.shape[0])])
    below = np.maximum(0, inds - 1)
    above = np.minimum(cdf.shape[-1] - 1, inds)
    cdf_b, cdf_a = np.take_along_axis(cdf, below, -1), np.take_along_axis(cdf, above, -1)
    bins_b, bins_a = np.take_along_axis(bins, below, -1), np.take_along_axis(bins, above, -1)
    denom = cdf_a - cdf_b
    denom = np.where(denom < 1e-5, 1.0, denom)
    t = (u - cdf_b) / denom
    return bins_b + t * (bins_a - bins_b)


def up_sample(o, d, z, sdf, m, inv_s):
    pts = o[:, None, :] + d[:, None, :] * z[..., None]
    radius = np.linalg.norm(pts, axis=-1)
    inside = (radius[:, :-1] < 1.0) | (radius[:, 1:] < 1.0)
    prev_sdf, next_sdf = sdf[:, :-1], sdf[:, 1:]
    prev_z, next_z = z[:, :-1], z[:, 1:]
    mid_sdf = (prev_sdf + next_sdf) * 0.5
    cos = (next_sdf - prev_sdf) / (next_z - prev_z + 1e-5)
    prev_cos = np.concatenate([np.zeros((z.shape[0], 1)), cos[:, :-1]], -1)
    cos = np.minimum(prev_cos, cos)
    cos = np.clip(cos, -1e3, 0.0) * inside
    dist = next_z - prev_z
    prev_cdf = _sigmoid((mid_sdf - cos * dist * 0.5) * inv_s)
    next_cdf = _sigmoid((mid_sdf + cos * dist * 0.5) * inv_s)
    alpha = (prev_cdf - next_cdf + 1e-5) / (prev_cdf + 1e-5)
    trans = np.cumprod(np.concatenate([np.ones((z.shape[0], 1)), 1.0 - alpha + 1e-7], -1), -1)[:, :-1]
    return sample_pdf(z, alpha * trans, m)


# ---------------------------------------------------------------------------------------------


class Case:
    def __init__(self, path):
        import h5py

        with h5py.File(path, "r") as f:
            a = f.attrs
            self.name = a["name"] if isinstance(a["name"], str) else a["name"].decode()
            self.gradient = int(a["gradient"])
            self.fd_eps = float(a["fd_eps"])
            self.ratio = float(a["cos_anneal_ratio"])
            self.background = int(a["background"])
            self.eik_radius = float(a["eikonal_radius"])
            self.w_color, self.w_eik, self.w_mask = (float(a[k]) for k in ("color_weight", "eikonal_weight", "mask_weight"))
            self.n_samples, self.n_importance, self.steps = (int(a[k]) for k in ("n_samples", "n_importance", "up_sample_steps"))
            self.n_outside = int(a["n_outside"]) if "n_outside" in a else 0
            m = f["model"].attrs
            self.model = {k: (float(m[k]) if k == "sdf_beta" else int(m[k])) for k in m.keys()}
            self.bg = f["background_rgb"][()]
            self.params = {k: f["params"][k][()] for k in f["params"].keys()}
            self.rays = {k: f["rays"][k][()] for k in f["rays"].keys()}
            self.phive = {k: f["phive"][k][()] for k in f["phive"].keys()}
            self.phive_loss = {k: float(f["phive"].attrs[k]) for k in f["phive"].attrs.keys()}
            self.grads = {k: f["grads"][k][()] for k in f["grads"].keys()}

    def networks(self):
        m = self.model
        n_xyz = 3 + 6 * m["pe_xyz"]
        sdf = Network(self.params, "sdf", n_xyz, m["sdf_width"], m["sdf_hidden_layers"], 1 + m["sdf_features"],
                      m["sdf_beta"], m["sdf_skip"], m["weight_norm"])
        color_in = 3 + (3 + 6 * m["pe_dir"]) + 3 + m["sdf_features"]
        color = Network(self.params, "color", color_in, m["color_width"], m["color_hidden_layers"], 3, 0.0, 0,
                        m["weight_norm"])
        if not self.n_outside:
            return sdf, color, None
        # NeuS's NeRF (D, W, skip; PE of the 4-D point; one view layer of W/2), without weight norm
        W = m["bg_width"]
        nerf = Network(self.params, "bg", 4 * (1 + 2 * m["pe_bg"]), W, m["bg_layers"], 1 + W, 0.0, m["bg_skip"], 0)
        nerf_color = Network(self.params, "bg_color", W + 3 * (1 + 2 * m["pe_bg_dir"]), W // 2, 1, 3, 0.0, 0, 0)
        return sdf, color, (nerf, nerf_color)


def sdf_values(case, sdf_net, pts):
    u = positional_encoding(pts, case.model["pe_xyz"])
    y, _ = sdf_net.forward(u)
    return y.value[:, 0]


def resample(case, sdf_net):
    o, d, near, far = case.rays["origin"], case.rays["direction"], case.rays["near"], case.rays["far"]
    n0 = case.n_samples
    z = near[:, None] + (far - near)[:, None] * np.linspace(0.0, 1.0, n0)[None, :]
    sdf = sdf_values(case, sdf_net, (o[:, None, :] + d[:, None, :] * z[..., None]).reshape(-1, 3)).reshape(z.shape)
    per = case.n_importance // case.steps if case.steps else 0
    for i in range(case.steps if per else 0):
        new_z = up_sample(o, d, z, sdf, per, 64.0 * 2**i)
        last = i + 1 == case.steps
        z_all = np.concatenate([z, new_z], -1)
        index = np.argsort(z_all, axis=-1, kind="stable")
        z = np.take_along_axis(z_all, index, -1)
        if not last:
            new_sdf = sdf_values(case, sdf_net, (o[:, None, :] + d[:, None, :] * new_z[..., None]).reshape(-1, 3))
            sdf = np.take_along_axis(np.concatenate([sdf, new_sdf.reshape(new_z.shape)], -1), index, -1)
    return z


def outside_samples(case):
    """NeuS render(): z_outside = far / flip(linspace(1e-3, 1 - 1/(m + 1), m)) + 1/n_samples (no perturbation)."""
    m = case.n_outside
    lin = np.linspace(1e-3, 1.0 - 1.0 / (m + 1.0), m)
    return case.rays["far"][:, None] / np.flip(lin)[None, :] + 1.0 / case.n_samples


def render_outside(case, nerf, z_all):
    """NeuS render_core_outside at the joined samples: α and sigmoid colours (Vars, n x T and n x T x 3)."""
    net, color_net = nerf
    o, d = case.rays["origin"], case.rays["direction"]
    n, T = z_all.shape
    dists = np.concatenate([z_all[:, 1:] - z_all[:, :-1], np.full((n, 1), 2.0 / case.n_samples)], -1)
    pts = o[:, None, :] + d[:, None, :] * (z_all + 0.5 * dists)[..., None]
    r = np.clip(np.linalg.norm(pts, axis=-1, keepdims=True), 1.0, 1e10)
    q = np.concatenate([pts / r, 1.0 / r], -1).reshape(-1, 4)
    y, _ = net.forward(positional_encoding(q, case.model["pe_bg"]))
    dirs = np.repeat(d, T, axis=0)
    logits, _ = color_net.forward(concat([y[:, 1:], lift(positional_encoding(dirs, case.model["pe_bg_dir"]))]))
    sigma = y[:, 0]
    alpha = 1.0 - exp(-softplus(sigma, 1.0) * dists.reshape(-1))
    return Var_reshape(alpha, (n, T)), Var_reshape(sigmoid(logits), (n, T, 3))


def render(case, sdf_net, color_net, z, nerf=None):
    """Forward at the given samples: outputs (Vars) and the loss."""
    o, d = case.rays["origin"], case.rays["direction"]
    n, S = z.shape
    dists = np.concatenate([z[:, 1:] - z[:, :-1], np.full((n, 1), 2.0 / case.n_samples)], -1)
    mid = z + dists * 0.5
    pts = (o[:, None, :] + d[:, None, :] * mid[..., None]).reshape(-1, 3)
    dirs = np.repeat(d, S, axis=0)
    F = case.model["pe_xyz"]
    u = positional_encoding(pts, F)
    if case.gradient == 0:
        tangents = [positional_encoding_tangent(pts, F, c) for c in range(3)]
        y, dy = sdf_net.forward(u, tangents)
        grad = stack([t[:, 0] for t in dy], axis=-1)
    else:
        y, _ = sdf_net.forward(u)
        taps = np.array([[1, -1, -1], [-1, -1, 1], [-1, 1, -1], [1, 1, 1]], dtype=np.float64)
        grad = None
        for v in taps:
            fv, _ = sdf_net.forward(positional_encoding(pts + case.fd_eps * v[None, :], F))
            term = stack([fv[:, 0] * (v[c] / (4 * case.fd_eps)) for c in range(3)], axis=-1)
            grad = term if grad is None else grad + term
    sdf = y[:, 0]
    feature = y[:, 1:]
    color_in = concat([lift(pts), lift(positional_encoding(dirs, case.model["pe_dir"])), grad, feature])
    logits, _ = color_net.forward(color_in)
    rgb = sigmoid(logits)

    variance = Var(case.params["variance"])
    inv_s = clip(exp(variance * 10.0), 1e-6, 1e6)[0]
    true_cos = (grad * dirs).sum(axis=-1)
    r = case.ratio
    iter_cos = -(relu(-true_cos * 0.5 + 0.5) * (1.0 - r) + relu(-true_cos) * r)
    dist_flat = dists.reshape(-1)
    next_e = sdf + iter_cos * dist_flat * 0.5
    prev_e = sdf - iter_cos * dist_flat * 0.5
    prev_cdf = sigmoid(prev_e * inv_s)
    next_cdf = sigmoid(next_e * inv_s)
    alpha = clip((prev_cdf - next_cdf + 1e-5) / (prev_cdf + 1e-5), 0.0, 1.0)
    # weights = alpha · cumprod([1, 1 − alpha + 1e-7])[:-1], per ray, column by column
    alpha2 = Var_reshape(alpha, (n, S))
    rgb3 = Var_reshape(rgb, (n, S, 3))
    T = S
    if nerf is not None:
        # NeuS render_core: alpha * inside + background_alpha[:, :S] * (1 - inside), then the outside samples
        bg_alpha, bg_rgb = render_outside(case, nerf, np.concatenate([z, case.phive["z_out"]], -1))
        inside = (np.linalg.norm(pts, axis=-1) < 1.0).astype(np.float64).reshape(n, S)
        alpha2 = concat([alpha2 * inside + bg_alpha[:, :S] * (1.0 - inside), bg_alpha[:, S:]])
        rgb3 = concat([rgb3 * inside[..., None] + bg_rgb[:, :S] * (1.0 - inside)[..., None], bg_rgb[:, S:]], axis=1)
        T = S + case.n_outside
    trans = Var(np.ones(n))
    columns = []
    for i in range(T):
        a_i = alpha2[:, i]
        columns.append(a_i * trans)
        trans = trans * (1.0 - a_i + 1e-7)
    weights = stack(columns, axis=-1)
    weight_sum = weights.sum(axis=-1)
    color = (rgb3 * Var_reshape(weights, (n, T, 1))).sum(axis=1)
    if T > S:
        weights = weights[:, :S]
    if case.background:
        color = color + Var_reshape(1.0 - weight_sum, (n, 1)) * case.bg[None, :]

    # losses (exp_runner.py)
    target, mask_raw = case.rays["rgb"], case.rays["mask"]
    mask = (mask_raw > 0.5).astype(np.float64) if case.w_mask > 0 else np.ones(n)
    color_loss = (absolute((color - target) * mask[:, None])).sum() / (mask.sum() + 1e-5)
    norm = sqrt((grad * grad).sum(axis=-1))
    inside = (np.linalg.norm(pts, axis=-1) < case.eik_radius).astype(np.float64)
    eik_loss = (((norm - 1.0) * (norm - 1.0)) * inside).sum() / (inside.sum() + 1e-5)
    total = color_loss * case.w_color + eik_loss * case.w_eik
    mask_loss = Var(0.0)
    if case.w_mask > 0:
        w = clip(weight_sum, 1e-3, 1.0 - 1e-3)
        mask_loss = (-(log(w) * mask + log(1.0 - w) * (1.0 - mask))).sum() / n
        total = total + mask_loss * case.w_mask
    out = {"color": color, "weight_sum": weight_sum, "weights": weights, "sdf": Var_reshape(sdf, (n, S)),
           "gradient": Var_reshape(grad, (n, S, 3))}
    losses = {"loss_total": total, "loss_color": color_loss, "loss_eikonal": eik_loss, "loss_mask": mask_loss}
    leaves = dict(sdf_net.leaves)
    leaves.update(color_net.leaves)
    leaves["variance"] = variance
    if nerf is not None:
        leaves.update(nerf[0].leaves)
        leaves.update(nerf[1].leaves)
    return out, losses, leaves


def Var_reshape(x, shape):
    old = x.value.shape
    return Var(x.value.reshape(shape), ((x, lambda g: g.reshape(old)),))


def worst(phive, ref):
    phive, ref = np.asarray(phive, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(phive - ref)) / max(float(np.max(np.abs(ref))), 1e-12)) if ref.size else 0.0


def check_case(path, tol, gtol, ztol):
    case = Case(path)
    sdf_net, color_net, nerf = case.networks()
    ok = True
    print(f"neus reference {case.name}: {case.rays['origin'].shape[0]} rays x {case.phive['z'].shape[1]} samples, "
          f"{'FD' if case.gradient else 'analytic'} SDF gradient")

    out, losses, leaves = render(case, sdf_net, color_net, case.phive["z"], nerf)
    if nerf is not None:
        e = float(np.max(np.abs(outside_samples(case) - case.phive["z_out"]))) / float(np.max(case.phive["z_out"]))
        line_ok = e <= 1e-5
        ok &= line_ok
        print(f"  {'ok ' if line_ok else 'BAD'} outside samples z_out: {e:.3g}")

    # Samples: strict where they carry weight.  Where the up-sampling weights are at NeuS's floor
    # (alpha ~ 1e-5, with P - N at float32 rounding), float32 noise of ~1 % in the pdf moves the
    # inverse-CDF samples by ~1 % of a coarse section; those get that looser bound.
    z_ref = resample(case, sdf_net)
    dz = np.abs(z_ref - case.phive["z"])
    w = out["weights"].value
    carries = w >= 1e-3
    section = float(np.max(case.rays["far"] - case.rays["near"])) / (case.n_samples - 1)
    dz_heavy = float(np.max(dz[carries])) if carries.any() else 0.0
    dz_light = float(np.max(dz[~carries])) if (~carries).any() else 0.0
    line_ok = dz_heavy <= ztol and dz_light <= 0.02 * section
    ok &= line_ok
    print(f"  {'ok ' if line_ok else 'BAD'} samples z: max |phive - ref| {dz_heavy:.3g} where the weight is >= 1e-3 "
          f"(tol {ztol:g}), {dz_light:.3g} elsewhere (tol {0.02 * section:.3g})")
    for key in ("color", "weight_sum", "weights", "sdf", "gradient"):
        e = worst(case.phive[key], out[key].value)
        line_ok = e <= tol
        ok &= line_ok
        print(f"  {'ok ' if line_ok else 'BAD'} {key}: {e:.3g}")
    total = abs(float(losses["loss_total"].value))
    for key, var in losses.items():
        # a small term near its optimum (e.g. -log W at W = 0.996) carries float32's absolute error of W:
        # the terms are compared relative to the larger of themselves and the total loss
        e = abs(case.phive_loss[key] - float(var.value)) / max(abs(float(var.value)), total, 1e-12)
        line_ok = e <= tol
        ok &= line_ok
        print(f"  {'ok ' if line_ok else 'BAD'} {key} {float(var.value):.6f}: {e:.3g}")

    grads = backward(losses["loss_total"])
    biggest = max(float(np.max(np.abs(grads.get(id(v), np.zeros(1))))) for v in leaves.values())
    worst_tensor, worst_global, worst_name = 0.0, 0.0, ""
    for name, var in leaves.items():
        ref = grads.get(id(var), np.zeros_like(var.value))
        got = case.grads[name].reshape(ref.shape)
        e = worst(got, ref)
        eg = float(np.max(np.abs(got - ref))) / max(biggest, 1e-12)
        if e > worst_tensor:
            worst_tensor, worst_name = e, name
        worst_global = max(worst_global, eg)
    line_ok = worst_tensor <= gtol
    ok &= line_ok
    print(f"  {'ok ' if line_ok else 'BAD'} parameter gradients ({len(leaves)} tensors): worst per tensor {worst_tensor:.3g} "
          f"({worst_name}), worst relative to the largest gradient {worst_global:.3g}")
    return ok


# ---------------------------------------------------------------------------------------------


def selftest():
    rng = np.random.default_rng(5)
    ok = True
    # 1. the autodiff of a composition against central differences
    x0 = rng.normal(size=(4, 3))
    w0 = rng.normal(size=(5, 3))

    def f(xv, wv):
        x, w = Var(xv), Var(wv)
        h = softplus(x.matmul_t(w), 3.0)
        s = softplus_slope(x.matmul_t(w), 3.0)
        y = (sigmoid(h * s) * absolute(h - 0.3) + clip(h, 0.1, 0.9) + relu(h - 0.5)).sum() + log(exp(h) + 1.0).sum()
        return y, (x, w)

    y, (x, w) = f(x0, w0)
    g = backward(y)
    e_max = 0.0
    for arr, var, which in ((x0, x, 0), (w0, w, 1)):
        for idx in np.ndindex(arr.shape):
            up, dn = arr.copy(), arr.copy()
            up[idx] += 1e-6
            dn[idx] -= 1e-6
            fu = f(up, w0)[0].value if which == 0 else f(x0, up)[0].value
            fd = f(dn, w0)[0].value if which == 0 else f(x0, dn)[0].value
            num = (fu - fd) / 2e-6
            e_max = max(e_max, abs(num - g[id(var)][idx]) / max(1e-6, abs(num)))
    good = e_max < 1e-6
    ok &= good
    print(f"  {'ok ' if good else 'BAD'} autodiff vs central differences: {e_max:.3g}")
    # 2. the forward-mode gradient of a skip + weight-norm network against differences of its output
    params = {}
    dims = [(20, 15), (5, 20), (20, 20), (4, 20)]  # PE 2: 15 inputs; skip at 2: 5 + 15 = 20
    for i, (o, n_in) in enumerate(dims):
        params[f"t.w{i}"] = rng.normal(size=(o, n_in)) * 0.5
        params[f"t.g{i}"] = rng.uniform(0.5, 2.0, size=o)
        params[f"t.b{i}"] = rng.normal(size=o) * 0.1
    net = Network(params, "t", 15, 20, 3, 4, 10.0, 2, 1)
    pts = rng.uniform(-1, 1, size=(5, 3))
    tangents = [positional_encoding_tangent(pts, 2, c) for c in range(3)]
    _, dy = net.forward(positional_encoding(pts, 2), tangents)
    e_max = 0.0
    for c in range(3):
        up, dn = pts.copy(), pts.copy()
        up[:, c] += 1e-6
        dn[:, c] -= 1e-6
        num = (net.forward(positional_encoding(up, 2))[0].value - net.forward(positional_encoding(dn, 2))[0].value) / 2e-6
        e_max = max(e_max, float(np.max(np.abs(num - dy[c].value))))
    good = e_max < 1e-6
    ok &= good
    print(f"  {'ok ' if good else 'BAD'} forward-mode network gradient vs differences: {e_max:.3g}")
    # 3. sample_pdf puts deterministic samples where the weight is
    bins = np.array([[0.0, 1.0, 2.0, 3.0]])
    s = sample_pdf(bins, np.array([[0.0, 1.0, 0.0]]), 4)
    good = bool(np.all((s > 1.0) & (s < 2.0)))
    ok &= good
    print(f"  {'ok ' if good else 'BAD'} sample_pdf: {s.round(4).tolist()}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--gtol", type=float, default=3e-4)
    parser.add_argument("--ztol", type=float, default=1e-4)
    parser.add_argument("--selftest", action="store_true")
    parser.add_argument("cases", nargs="*")
    args = parser.parse_args()
    if args.selftest:
        print("neus reference self-test")
        return 0 if selftest() else 1
    ok = True
    for path in args.cases:
        ok &= check_case(path, args.tol, args.gtol, args.ztol)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
