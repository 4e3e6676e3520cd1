#!/usr/bin/python3
"""Independent reference for phive's soft rasterizer (include/phive/raster.h, src/raster).

    /usr/bin/python3 validation/reference/softras_reference.py [--tol T] SCENE.h5 [SCENE.h5 ...]
    /usr/bin/python3 validation/reference/softras_reference.py --selftest

Written from the SoftRas paper (Liu et al. 2019) and PyTorch3D's documented
formulas (MeshRasterizer, TexturesUV / TexturesVertex, phong_shading,
softmax_rgb_blend, sigmoid_alpha_blend) as raster.h restates them; nothing is
shared with the C code.  Everything is float64.  Gradients come from a small
reverse-mode automatic differentiation over numpy (class Var below): the
forward formulas are written once and differentiated mechanically, so no
backward formula is written by hand here.

--selftest checks the reference itself: its derivatives against central
differences, a fronto-parallel triangle's hard and soft silhouette against the
projected area, culling, the hard outputs of a square with K = 1, the blur
kernel and the adjointness of its backward.

Per scene file the reference
  1. brute-forces the fragments: every pixel centre against every face
     (screen barycentrics, strict inside test, squared distance to the nearest
     edge segment in PyTorch3D NDC units, perspective-correct then clipped
     barycentrics, z, near/far, blur_radius, back-face culling, zero-area
     faces), keeps the K nearest by z and compares the face indices with
     phive's (they must all agree: the scenes avoid exact ties);
  2. with phive's face indices, recomputes bary, dist and z differentiably
     from the vertex positions, shades (texture or vertex colours, AMBIENT or
     PHONG with a point or directional light), blends with softmax_rgb_blend,
     forms the soft silhouette 1 - prod(1 - D) over every face within reach
     (SoftRas) or over the K fragments (PyTorch3D's SoftSilhouetteShader) and
     the hard outputs from the nearest face that contains the pixel centre
     (these two from its own brute-force candidates), and compares every
     forward output;
  3. differentiates L = sum(grad_rgb * rgb) + sum(grad_alpha * alpha) with
     respect to the vertex positions, vertex colours and texture and compares
     with what raster_backward accumulated (grads after - grads before);
  4. when the file has /blur: the separable Gaussian blur and its backward
     (the gradient of sum(grad_out * blur(in))).

Each compared quantity prints one line with its worst error, relative to the
largest magnitude of the reference: max|phive - ref| / max(max|ref|, 1e-12).
Exit 0 when all are within --tol (default 1e-5), 1 otherwise.

Scene file layout (HDF5, written by validation/unit/grad_raster_reference.c):
  /                 attrs name (str), seed (int)
  /camera           attrs width, height (int), fx, fy, cx, cy, znear, zfar;
                    datasets R (3x3, world -> camera), t (3)
  /settings         attrs K, cull_backfaces, shading (0 AMBIENT, 1 PHONG),
                    light (0 POINT, 1 DIRECTIONAL), silhouette (0 ALL_FACES,
                    1 K_NEAREST; 0 when missing) (int), sigma, gamma,
                    blur_radius, blend_znear, blend_zfar, shininess;
                    datasets background, light_position, light_direction,
                    ambient, diffuse, specular (3 each)
  /mesh             positions (V x 3), faces (F x 3, integers stored as f64);
                    optional vertex_colors (V x 3); optional uvs (n x 2),
                    face_uvs (F x 3), texture (th x tw x 3, row 0 the top)
  /forward          face (H x W x K, -1 for none), zbuf, dist (H x W x K),
                    bary (H x W x K x 3), rgb (H x W x 3), alpha (H x W),
                    silhouette (H x W, 0/1), depth (H x W), normal (H x W x 3)
  /upstream         grad_rgb (H x W x 3) and/or grad_alpha (H x W); a missing
                    one was passed as NULL
  /grads            positions, and vertex_colors / texture when the mesh has
                    them: the buffers after raster_backward, and the same names
                    with suffix _before: their contents before it (backward
                    accumulates)
  /blur (optional)  attrs sigma (pixels); datasets input, output, grad_out,
                    grad_in_before, grad_in (H x W x C each)
"""
import argparse
import math
import sys

import numpy as np

EPS_BLEND = 1e-10  # softmax_rgb_blend's clamps
EPS_NORMALIZE = 1e-6  # F.normalize's eps in PyTorch3D's normals and lighting
ZERO_AREA_NDC = 1e-8  # PyTorch3D's kEpsilon on the face area (NDC units)


# ---------------------------------------------------------------------------------------------
# A minimal reverse-mode automatic differentiation over numpy float64 arrays.
# Each Var holds its value and, for every input it was computed from, a function mapping the
# gradient of the output to the gradient of that input.  Broadcasting is undone in backward().


def _unbroadcast(grad, shape):
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class Var:
    __array_ufunc__ = None  # numpy_array * Var -> Var.__rmul__

    def __init__(self, value, parents=()):
        self.value = np.asarray(value, dtype=np.float64)
        self.parents = parents  # ((Var, grad_fn), ...)

    shape = property(lambda self: self.value.shape)

    # arithmetic ------------------------------------------------------------------------------
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

    def __pow__(self, p):
        a = self.value
        return Var(a**p, ((self, lambda g: g * p * a ** (p - 1)),))

    # shapes ------------------------------------------------------------------------------------
    def __getitem__(self, key):
        shape = self.value.shape

        parts = key if isinstance(key, tuple) else (key,)
        basic = all(isinstance(k, (int, slice)) or k is Ellipsis for k in parts)

        def grad_fn(g):
            out = np.zeros(shape)
            if basic:
                out[key] = g  # a view: no index repeats
            else:
                np.add.at(out, key, g)
            return out

        return Var(self.value[key], ((self, grad_fn),))

    def reshape(self, *shape):
        old = self.value.shape
        return Var(self.value.reshape(*shape), ((self, lambda g: g.reshape(old)),))

    def sum(self, axis=None, keepdims=False):
        shape = self.value.shape

        def grad_fn(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return np.broadcast_to(g, shape).copy()

        return Var(self.value.sum(axis=axis, keepdims=keepdims), ((self, grad_fn),))

    def max(self, axis):
        """Maximum along axis (kept as size 1); the gradient goes to the first maximum."""
        arg = np.expand_dims(np.argmax(self.value, axis=axis), axis)
        onehot = np.zeros(self.value.shape)
        np.put_along_axis(onehot, arg, 1.0, axis=axis)
        return Var(np.take_along_axis(self.value, arg, axis=axis), ((self, lambda g: g * onehot),))


def lift(x):
    return x if isinstance(x, Var) else Var(x)


def exp(x):
    out = np.exp(x.value)
    return Var(out, ((x, lambda g: g * out),))


def sqrt(x):
    out = np.sqrt(x.value)
    return Var(out, ((x, lambda g: g * 0.5 / out),))


def sigmoid(x):
    v = x.value
    e = np.exp(-np.abs(v))
    out = np.where(v >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return Var(out, ((x, lambda g: g * out * (1.0 - out)),))


def clamp_min(x, lo):
    """torch.clamp(x, min=lo): the gradient passes where x >= lo."""
    mask = x.value >= lo
    return Var(np.maximum(x.value, lo), ((x, lambda g: g * mask),))


def clamp(x, lo, hi):
    mask = (x.value >= lo) & (x.value <= hi)
    return Var(np.clip(x.value, lo, hi), ((x, lambda g: g * mask),))


def relu(x):
    mask = x.value > 0
    return Var(np.where(mask, x.value, 0.0), ((x, lambda g: g * mask),))


def minimum(a, b):
    take_a = a.value <= b.value
    return Var(np.where(take_a, a.value, b.value), ((a, lambda g: g * take_a), (b, lambda g: g * ~take_a)))


def where(cond, a, b):
    a, b = lift(a), lift(b)
    return Var(np.where(cond, a.value, b.value), ((a, lambda g: g * cond), (b, lambda g: g * ~cond)))


def stack(xs, axis=-1):
    xs = [lift(x) for x in xs]
    value = np.stack([x.value for x in xs], axis=axis)
    parents = tuple((x, (lambda i: lambda g: np.take(g, i, axis=axis))(i)) for i, x in enumerate(xs))
    return Var(value, parents)


def take_rows(x, index):
    """x[index] along axis 0 (index an integer array of any shape)."""
    shape = x.value.shape

    def grad_fn(g):
        out = np.zeros(shape)
        np.add.at(out, index, g)
        return out

    return Var(x.value[index], ((x, grad_fn),))


def scatter_rows(x, index, n, fill=0.0):
    """An array of n rows, row index[i] = x[i] (distinct indices), the others `fill` (constant)."""
    out = np.full((n,) + x.value.shape[1:], fill, dtype=np.float64)
    out[index] = x.value
    return Var(out, ((x, lambda g: g[index]),))


def index_add(x, index, n):
    """torch.index_add_ into n zero rows: row index[i] += x[i]."""
    out = np.zeros((n,) + x.value.shape[1:])
    np.add.at(out, index, x.value)
    return Var(out, ((x, lambda g: g[index]),))


def apply_matrix(x, m, axis):
    """Multiply by the constant matrix m along `axis` of x: out[..i..] = sum_j m[i, j] x[..j..]."""

    def along(mat, a):
        return np.moveaxis(np.tensordot(mat, a, axes=(1, axis)), 0, axis)

    return Var(along(m, x.value), ((x, lambda g: along(m.T, g)),))


def prod(x, axis=-1):
    """Product along axis; the gradient of each factor is the product of the others (prefix times
    suffix products), so factors that are exactly 0 are fine."""
    v = np.moveaxis(x.value, axis, -1)
    ones = np.ones(v.shape[:-1] + (1,))
    before = np.cumprod(np.concatenate([ones, v[..., :-1]], axis=-1), axis=-1)
    after = np.cumprod(np.concatenate([ones, v[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = np.moveaxis(before * after, -1, axis)
    return Var(np.prod(x.value, axis=axis), ((x, lambda g: np.expand_dims(g, axis) * others),))


def backward(root, seed):
    """Gradients of sum(seed * root) with respect to every Var that root depends on: {id: grad}."""
    order, seen, stack_ = [], set(), [(root, False)]
    while stack_:
        node, done = stack_.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack_.append((node, True))
        for parent, _ in node.parents:
            if id(parent) not in seen:
                stack_.append((parent, False))
    grads = {id(root): np.broadcast_to(np.asarray(seed, dtype=np.float64), root.value.shape).copy()}
    for node in reversed(order):
        g = grads.get(id(node))
        if g is None:
            continue
        for parent, grad_fn in node.parents:
            contribution = _unbroadcast(grad_fn(g), parent.value.shape)
            if id(parent) in grads:
                grads[id(parent)] = grads[id(parent)] + contribution
            else:
                grads[id(parent)] = contribution
    return grads


def dot3(a, b):
    return (a * b).sum(axis=-1, keepdims=True)


def normalize(x, eps=EPS_NORMALIZE):
    """F.normalize(x, p=2, dim=-1, eps): x / max(|x|, eps)."""
    return x / clamp_min(sqrt((x * x).sum(axis=-1, keepdims=True)), eps)


def cross(a, b):
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)


# ---------------------------------------------------------------------------------------------
# The scene


class Scene:
    pass


def read_scene(path):
    import h5py

    s = Scene()
    with h5py.File(path, "r") as f:
        s.name = f.attrs["name"] if "name" in f.attrs else path
        if isinstance(s.name, bytes):
            s.name = s.name.decode()
        c = f["camera"]
        s.width, s.height = int(c.attrs["width"]), int(c.attrs["height"])
        s.fx, s.fy, s.cx, s.cy = (float(c.attrs[k]) for k in ("fx", "fy", "cx", "cy"))
        s.znear, s.zfar = float(c.attrs["znear"]), float(c.attrs["zfar"])
        s.R = np.asarray(c["R"], dtype=np.float64).reshape(3, 3)
        s.t = np.asarray(c["t"], dtype=np.float64).reshape(3)
        st = f["settings"]
        s.K = int(st.attrs["K"])
        s.cull = bool(int(st.attrs["cull_backfaces"]))
        s.shading = int(st.attrs["shading"])
        s.silhouette = int(st.attrs["silhouette"]) if "silhouette" in st.attrs else 0
        s.light = int(st.attrs["light"])
        for k in ("sigma", "gamma", "blur_radius", "blend_znear", "blend_zfar", "shininess"):
            setattr(s, k, float(st.attrs[k]))
        s.silhouette_radius = float(st.attrs["silhouette_radius"]) if "silhouette_radius" in st.attrs else s.blur_radius
        for k in ("background", "light_position", "light_direction", "ambient", "diffuse", "specular"):
            setattr(s, k, np.asarray(st[k], dtype=np.float64).reshape(3))
        m = f["mesh"]
        s.positions = np.asarray(m["positions"], dtype=np.float64).reshape(-1, 3)
        s.faces = np.asarray(m["faces"]).astype(np.int64).reshape(-1, 3)
        s.vertex_colors = np.asarray(m["vertex_colors"], dtype=np.float64).reshape(-1, 3) if "vertex_colors" in m else None
        if "texture" in m:
            s.uvs = np.asarray(m["uvs"], dtype=np.float64).reshape(-1, 2)
            s.face_uvs = np.asarray(m["face_uvs"]).astype(np.int64).reshape(-1, 3)
            s.texture = np.asarray(m["texture"], dtype=np.float64)
        else:
            s.uvs = s.face_uvs = s.texture = None
        s.ours = {k: np.asarray(v, dtype=np.float64) for k, v in f["forward"].items()} if "forward" in f else None
        s.upstream = {k: np.asarray(v, dtype=np.float64) for k, v in f["upstream"].items()} if "upstream" in f else {}
        s.grads = {k: np.asarray(v, dtype=np.float64) for k, v in f["grads"].items()} if "grads" in f else {}
        if "blur" in f:
            b = f["blur"]
            s.blur = {k: np.asarray(v, dtype=np.float64) for k, v in b.items()}
            s.blur["sigma"] = float(b.attrs["sigma"])
        else:
            s.blur = None
    return s


def camera_center(s):
    """-R^T t: the camera centre in world coordinates."""
    return -s.R.T @ s.t


def project(s, positions):
    """Pixel coordinates (u, v) and camera depth z of world points (Var n x 3): three Vars of n."""
    cam = apply_matrix(positions, s.R, axis=1) + s.t  # p_cam = R p + t, row by row
    x, y, z = cam[:, 0], cam[:, 1], cam[:, 2]
    return s.fx * x / z + s.cx, s.fy * y / z + s.cy, z


def ndc_scale2(s):
    """(2 / min(W, H))^2: squared pixel length in PyTorch3D NDC units."""
    return (2.0 / min(s.width, s.height)) ** 2


def point_segment_dist2(px, py, ax, ay, bx, by):
    """Squared distance of (px, py) to the segment a-b (PyTorch3D's PointLineDistanceForward)."""
    ex, ey = bx - ax, by - ay
    l2 = ex * ex + ey * ey
    t = clamp(((px - ax) * ex + (py - ay) * ey) / l2, 0.0, 1.0)
    dx, dy = ax + t * ex - px, ay + t * ey - py
    return dx * dx + dy * dy


def fragment_geometry(s, positions, face_of, px, py):
    """For fragments (face index, pixel centre): screen barycentrics, perspective-correct
    barycentrics, clipped ones, z, the unsigned squared NDC distance and the screen area.

    positions is a Var (V x 3); face_of an int array (P); px, py the pixel centres (P)."""
    u, v, z = project(s, positions)
    idx = s.faces[face_of]  # P x 3
    x0, x1, x2 = take_rows(u, idx[:, 0]), take_rows(u, idx[:, 1]), take_rows(u, idx[:, 2])
    y0, y1, y2 = take_rows(v, idx[:, 0]), take_rows(v, idx[:, 1]), take_rows(v, idx[:, 2])
    z0, z1, z2 = take_rows(z, idx[:, 0]), take_rows(z, idx[:, 1]), take_rows(z, idx[:, 2])
    area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)  # > 0: clockwise on screen (y down)
    safe_area = where(np.abs(area.value) > 0, area, 1.0)
    b0 = ((x1 - px) * (y2 - py) - (y1 - py) * (x2 - px)) / safe_area
    b1 = ((x2 - px) * (y0 - py) - (y2 - py) * (x0 - px)) / safe_area
    b2 = ((x0 - px) * (y1 - py) - (y0 - py) * (x1 - px)) / safe_area
    # perspective correction (PyTorch3D: b0 z1 z2 / (b0 z1 z2 + z0 b1 z2 + z0 z1 b2))
    w0, w1, w2 = b0 * z1 * z2, z0 * b1 * z2, z0 * z1 * b2
    denom = w0 + w1 + w2
    p0, p1, p2 = w0 / denom, w1 / denom, w2 / denom
    # clip_barycentric_coords: clamp at 0 and renormalise
    c0, c1, c2 = clamp_min(p0, 0.0), clamp_min(p1, 0.0), clamp_min(p2, 0.0)
    csum = c0 + c1 + c2
    bary = stack([c0 / csum, c1 / csum, c2 / csum], axis=-1)
    zf = bary[:, 0] * z0 + bary[:, 1] * z1 + bary[:, 2] * z2
    inside = (p0.value > 0) & (p1.value > 0) & (p2.value > 0)
    d = minimum(
        minimum(point_segment_dist2(px, py, x0, y0, x1, y1), point_segment_dist2(px, py, x1, y1, x2, y2)),
        point_segment_dist2(px, py, x2, y2, x0, y0),
    )
    dist = where(inside, -d, d) * ndc_scale2(s)
    return {
        "bary": bary,
        "z": zf,
        "dist": dist,
        "inside": inside,
        "area": area.value,
        "vertex_z": np.stack([z0.value, z1.value, z2.value], axis=-1),
    }


def pixel_centres(s):
    jj, ii = np.meshgrid(np.arange(s.height), np.arange(s.width), indexing="ij")
    return (ii + 0.5).reshape(-1), (jj + 0.5).reshape(-1)


def brute_force_fragments(s):
    """Every (pixel, face) pair that produces a fragment, and per pixel the K nearest of them by z.

    Returns a dict: faces (HW x K face indices, -1 padded), sorted_z (HW x F candidate depths,
    ascending, inf where none), candidate (HW x F bool), inside (HW x F bool), hard_face (HW: the
    nearest candidate face that contains the pixel centre, -1 where none)."""
    n_pix, n_faces = s.width * s.height, s.faces.shape[0]
    px, py = pixel_centres(s)
    face_of = np.tile(np.arange(n_faces), n_pix)
    pxx, pyy = np.repeat(px, n_faces), np.repeat(py, n_faces)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = fragment_geometry(s, Var(s.positions), face_of, pxx, pyy)
    area_ndc = g["area"] * ndc_scale2(s)
    ok = np.abs(area_ndc) > ZERO_AREA_NDC
    if s.cull:
        ok &= g["area"] < 0  # clockwise on screen (positive area here) is a back face
    ok &= np.all(g["vertex_z"] > s.znear, axis=1)
    dist, z = g["dist"].value, g["z"].value
    base = ok & (z <= s.zfar) & np.isfinite(z) & np.isfinite(dist)
    # the all-faces silhouette reaches out on its own radius, the K fragments on blur_radius
    sil_ok = base & (g["inside"] | (dist < s.silhouette_radius))
    ok = base & (g["inside"] | (dist < s.blur_radius))
    zz = np.where(ok, z, np.inf).reshape(n_pix, n_faces)
    order = np.argsort(zz, axis=1, kind="stable")
    sorted_z = np.take_along_axis(zz, order, axis=1)
    k = min(s.K, n_faces)
    faces = np.where(np.isfinite(sorted_z[:, :k]), order[:, :k], -1)
    if k < s.K:
        faces = np.concatenate([faces, -np.ones((n_pix, s.K - k), dtype=faces.dtype)], axis=1)
    # what the rules removed, for the record (per face from the first pixel's row: face-level rules)
    zero_area = ~(np.abs(area_ndc) > ZERO_AREA_NDC)[:n_faces]
    back = (g["area"] > 0)[:n_faces]
    behind = ~np.all(g["vertex_z"] > s.znear, axis=1)[:n_faces]
    face_ok = ~zero_area & ~behind & ~(back & s.cull)
    within = (g["inside"] | (dist < s.blur_radius)) & np.isfinite(z) & face_ok[face_of]
    stats = {
        "zero_area": int(np.count_nonzero(zero_area)),
        "culled": int(np.count_nonzero(back & ~behind)) if s.cull else 0,
        "behind": int(np.count_nonzero(behind)),
        "beyond_zfar": int(np.count_nonzero(within & (z > s.zfar))),
    }
    inside = (ok & g["inside"]).reshape(n_pix, n_faces)
    z_inside = np.where(inside, zz, np.inf)
    hard_face = np.where(inside.any(axis=1), np.argmin(z_inside, axis=1), -1)
    return {
        "faces": faces,
        "sorted_z": sorted_z,
        "candidate": sil_ok.reshape(n_pix, n_faces),
        "inside": inside,
        "hard_face": hard_face,
        "stats": stats,
    }


def vertex_normals(s, positions):
    """PyTorch3D's Meshes.verts_normals_packed: sum of the unnormalised face cross products, normalised."""
    f = s.faces
    v0, v1, v2 = take_rows(positions, f[:, 0]), take_rows(positions, f[:, 1]), take_rows(positions, f[:, 2])
    n = cross(v1 - v0, v2 - v0)
    nv = positions.shape[0]
    summed = index_add(n, f[:, 0], nv) + index_add(n, f[:, 1], nv) + index_add(n, f[:, 2], nv)
    return normalize(summed)


def interpolate(values, face_index_rows, bary):
    """sum_i bary_i * values[face_index_rows[:, i]] for a Var or constant (n x C) table."""
    values = lift(values)
    out = None
    for i in range(3):
        term = take_rows(values, face_index_rows[:, i]) * bary[:, i : i + 1]
        out = term if out is None else out + term
    return out


def sample_texture(s, texture, uv):
    """TexturesUV.sample_textures: grid_sample(flip(texture), 2 uv - 1, bilinear, align_corners=True,
    padding_mode='border'), i.e. texel coordinates x = u (W - 1), y = (1 - v) (H - 1) in the unflipped
    texture, clamped to the border, bilinear between the four neighbouring texel centres."""
    th, tw = s.texture.shape[:2]
    x = clamp(uv[:, 0] * (tw - 1), 0.0, tw - 1.0)
    y = clamp((1.0 - uv[:, 1]) * (th - 1), 0.0, th - 1.0)
    ix = np.clip(np.floor(x.value).astype(np.int64), 0, max(tw - 2, 0))
    iy = np.clip(np.floor(y.value).astype(np.int64), 0, max(th - 2, 0))
    fx, fy = (x - ix.astype(np.float64)).reshape(-1, 1), (y - iy.astype(np.float64)).reshape(-1, 1)
    ix1, iy1 = np.minimum(ix + 1, tw - 1), np.minimum(iy + 1, th - 1)
    flat = texture.reshape(th * tw, 3)
    t00, t01 = take_rows(flat, iy * tw + ix), take_rows(flat, iy * tw + ix1)
    t10, t11 = take_rows(flat, iy1 * tw + ix), take_rows(flat, iy1 * tw + ix1)
    return (1.0 - fx) * (1.0 - fy) * t00 + fx * (1.0 - fy) * t01 + (1.0 - fx) * fy * t10 + fx * fy * t11


def shade(s, positions, vertex_colors, texture, face_of, bary):
    """Per-fragment colour (P x 3 Var) and interpolated unit world normal (P x 3 Var or None)."""
    rows = s.faces[face_of]
    if texture is not None:
        uv = interpolate(s.uvs, s.face_uvs[face_of], bary)
        albedo = sample_texture(s, texture, uv)
    elif vertex_colors is not None:
        albedo = interpolate(vertex_colors, rows, bary)
    else:
        albedo = Var(np.ones((len(face_of), 3)))
    normals = normalize(interpolate(vertex_normals(s, positions), rows, bary))
    if s.shading == 0:
        return albedo * s.ambient, normals
    point = interpolate(positions, rows, bary)
    if s.light == 0:
        direction = normalize(s.light_position - point)
    else:
        direction = normalize(Var(np.broadcast_to(s.light_direction, (len(face_of), 3)).copy()))
    cos = dot3(normals, direction)
    diffuse = relu(cos) * s.diffuse
    view = normalize(camera_center(s) - point)
    reflect = -direction + 2.0 * cos * normals
    mask = cos.value > 0
    spec_base = relu(dot3(view, reflect)) * mask
    specular = (spec_base**s.shininess) * s.specular
    return albedo * (s.ambient + diffuse) + specular, normals


def render(s, positions, vertex_colors, texture, faces_hwk, candidate, hard_face):
    """Forward through a fixed fragment selection: faces_hwk (HW x K) for the blend, candidate
    (HW x F bool: every face within reach) for the all-faces silhouette, hard_face (HW) for the hard
    outputs.  Every output as a Var (rgb, alpha) or array."""
    n_pix, K = faces_hwk.shape
    H, W = s.height, s.width
    px, py = pixel_centres(s)
    slot = np.nonzero(faces_hwk.reshape(-1) >= 0)[0]  # flat (pixel, k) of the real fragments
    face_of = faces_hwk.reshape(-1)[slot]
    pix_of = slot // K
    g = fragment_geometry(s, positions, face_of, px[pix_of], py[pix_of])
    colors, _ = shade(s, positions, vertex_colors, texture, face_of, g["bary"])
    n_slots = n_pix * K
    mask = (faces_hwk >= 0).astype(np.float64)
    dist = scatter_rows(g["dist"], slot, n_slots).reshape(n_pix, K)
    zbuf = scatter_rows(g["z"], slot, n_slots).reshape(n_pix, K)
    col = scatter_rows(colors, slot, n_slots).reshape(n_pix, K, 3)
    # softmax_rgb_blend
    prob = sigmoid(-dist / s.sigma) * mask
    z_inv = (s.blend_zfar - zbuf) / (s.blend_zfar - s.blend_znear) * mask
    z_inv_max = clamp_min(z_inv.max(axis=1), EPS_BLEND)  # n_pix x 1
    weights = prob * exp((z_inv - z_inv_max) / s.gamma)
    delta = clamp_min(exp((EPS_BLEND - z_inv_max) / s.gamma), EPS_BLEND)
    denom = weights.sum(axis=1, keepdims=True) + delta
    weighted = (weights.reshape(n_pix, K, 1) * col).sum(axis=1)
    rgb = (weighted + delta * s.background) / denom
    # soft silhouette: 1 - prod_j (1 - D_j), over every face within reach or over the K fragments
    if s.silhouette == 0:
        n_faces = s.faces.shape[0]
        pair = np.nonzero(candidate.reshape(-1))[0]
        ga = fragment_geometry(s, positions, pair % n_faces, px[pair // n_faces], py[pair // n_faces])
        keep = scatter_rows(1.0 - sigmoid(-ga["dist"] / s.sigma), pair, n_pix * n_faces, fill=1.0)
        alpha = 1.0 - prod(keep.reshape(n_pix, n_faces), axis=1)
    else:
        alpha = 1.0 - prod(1.0 - prob, axis=1)
    # hard outputs from the nearest face that contains the pixel centre
    hard_pix = np.nonzero(hard_face >= 0)[0]
    gh = fragment_geometry(s, positions, hard_face[hard_pix], px[hard_pix], py[hard_pix])
    _, hard_normals = shade(s, positions, vertex_colors, texture, hard_face[hard_pix], gh["bary"])
    sil = np.zeros(n_pix)
    sil[hard_pix] = 1.0
    depth = np.zeros(n_pix)
    depth[hard_pix] = gh["z"].value
    normal = np.zeros((n_pix, 3))
    normal[hard_pix] = hard_normals.value @ s.R.T
    bary_all = scatter_rows(g["bary"], slot, n_slots).value
    return {
        "rgb": rgb,
        "alpha": alpha,
        "zbuf": zbuf.value.reshape(H, W, K),
        "dist": dist.value.reshape(H, W, K),
        "bary": bary_all.reshape(H, W, K, 3),
        "mask": mask.reshape(H, W, K) > 0,
        "silhouette": sil.reshape(H, W),
        "depth": depth.reshape(H, W),
        "normal": normal.reshape(H, W, 3),
    }


def loss_and_grads(s, sel, grad_rgb, grad_alpha, positions=None, vertex_colors=None, texture=None):
    """L = sum(grad_rgb * rgb) + sum(grad_alpha * alpha) through the fixed selection sel (faces,
    candidate, hard_face) and its gradients (None where not an input)."""
    pos = Var(s.positions if positions is None else positions)
    vc = None if s.vertex_colors is None else Var(s.vertex_colors if vertex_colors is None else vertex_colors)
    tex = None if s.texture is None else Var(s.texture if texture is None else texture)
    out = render(s, pos, vc, tex, sel["faces"], sel["candidate"], sel["hard_face"])
    n_pix = s.width * s.height
    loss = Var(np.zeros(1))
    if grad_rgb is not None:
        loss = loss + (out["rgb"] * grad_rgb.reshape(n_pix, 3)).sum()
    if grad_alpha is not None:
        loss = loss + (out["alpha"] * grad_alpha.reshape(n_pix)).sum()
    grads = backward(loss, 1.0)
    pick = lambda v: None if v is None else grads.get(id(v), np.zeros(v.shape))
    return float(loss.value.sum()), out, {"positions": pick(pos), "vertex_colors": pick(vc), "texture": pick(tex)}


# ---------------------------------------------------------------------------------------------
# Gaussian blur


def blur_matrix(n, sigma):
    """1-D Gaussian blur with zero padding as an n x n matrix: taps -r..r, r = ceil(3 sigma)."""
    r = int(math.ceil(3.0 * sigma))
    taps = np.exp(-(np.arange(-r, r + 1) ** 2) / (2.0 * sigma * sigma))
    taps /= taps.sum()
    m = np.zeros((n, n))
    for i in range(n):
        for k in range(-r, r + 1):
            if 0 <= i + k < n:
                m[i, i + k] = taps[k + r]
    return m


def blur(image, sigma):
    """Separable blur of an H x W x C Var: along x, then along y."""
    h, w = image.shape[:2]
    return apply_matrix(apply_matrix(image, blur_matrix(w, sigma), axis=1), blur_matrix(h, sigma), axis=0)


# ---------------------------------------------------------------------------------------------
# Comparison against phive's outputs


class Report:
    def __init__(self, tol):
        self.tol, self.failures = tol, []

    def compare(self, scene, name, ours, ref, where=None):
        ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
        if ours.shape != ref.shape:
            self.fail(scene, name, f"shape {ours.shape} vs reference {ref.shape}")
            return
        where = np.ones(ref.shape, dtype=bool) if where is None else np.broadcast_to(where.reshape(where.shape + (1,) * (ref.ndim - where.ndim)), ref.shape)
        if not np.all(np.isfinite(ours[where])):
            self.fail(scene, name, f"{np.count_nonzero(~np.isfinite(ours[where]))} non-finite values")
            return
        diff = np.where(where, np.abs(ours - ref), 0.0)
        worst = float(diff.max()) if diff.size else 0.0
        scale = max(float(np.abs(np.where(where, ref, 0.0)).max()) if ref.size else 0.0, 1e-12)
        rel = worst / scale
        ok = rel <= self.tol
        at = ""
        if diff.size and not ok:
            at = f"  at {np.unravel_index(int(diff.argmax()), diff.shape)}"
        print(f"softras reference {scene}: {name:<22} max|diff| {worst:.3e}  rel {rel:.3e}  (max|ref| {scale:.3e})  {'ok' if ok else 'FAIL'}{at}")
        if not ok:
            self.failures.append(f"{scene}: {name} relative error {rel:.3e} > {self.tol:g}")

    def fail(self, scene, name, message):
        print(f"softras reference {scene}: {name:<22} FAIL: {message}")
        self.failures.append(f"{scene}: {name}: {message}")


def check_scene(path, report):
    s = read_scene(path)
    name = s.name
    H, W, K = s.height, s.width, s.K
    n_pix = H * W
    ours = s.ours
    if ours is None:
        report.fail(name, "forward", f"{path} has no /forward")
        return
    our_faces = np.rint(ours["face"]).astype(np.int64).reshape(n_pix, K)

    # 1. fragment selection
    sel = brute_force_fragments(s)
    ref_faces, sorted_z = sel["faces"], sel["sorted_z"]
    differ = np.any(ref_faces != our_faces, axis=1)
    covered = np.mean(ref_faces[:, 0] >= 0)
    frac = float(np.mean(differ))
    st = sel["stats"]
    n_frag = np.count_nonzero(ref_faces >= 0, axis=1)
    kept = ref_faces >= 0
    # blur-band fragments: kept fragments whose face does not contain the pixel centre
    rows = np.nonzero(kept)
    blur_band = int(np.count_nonzero(~sel["inside"][rows[0], ref_faces[rows]]))
    print(
        f"softras reference {name}: scene: {s.faces.shape[0]} faces ({st['culled']} culled, {st['behind']} behind the near plane, "
        f"{st['zero_area']} of zero area); pixels with 1..{K} fragments: "
        + "/".join(str(int(np.count_nonzero(n_frag == k))) for k in range(1, K + 1))
        + f"; {blur_band} blur-band fragments; {st['beyond_zfar']} (pixel, face) pairs beyond zfar dropped"
    )
    line = f"softras reference {name}: {'fragments':<22} differing pixels {np.count_nonzero(differ)}/{n_pix} ({frac:.3%}); pixels with a fragment {covered:.1%}"
    if np.count_nonzero(differ):
        p = int(np.nonzero(differ)[0][0])
        j, i = divmod(p, W)
        line += f"  FAIL: first at pixel (x={i}, y={j}): phive {our_faces[p].tolist()} reference {ref_faces[p].tolist()}, reference candidate z {sorted_z[p][np.isfinite(sorted_z[p])][: K + 1].tolist()}"
        report.failures.append(f"{name}: fragment selection differs at {np.count_nonzero(differ)} pixels")
    else:
        line += "  ok"
    print(line)

    # 2. forward through phive's selection (the all-faces silhouette and the hard outputs: the
    # reference's candidates)
    grad_rgb = s.upstream.get("grad_rgb")
    grad_alpha = s.upstream.get("grad_alpha")
    _, out, grads = loss_and_grads(s, dict(sel, faces=our_faces), grad_rgb, grad_alpha)
    mask = out["mask"]
    report.compare(name, "zbuf", ours["zbuf"].reshape(H, W, K), out["zbuf"], mask)
    report.compare(name, "dist", ours["dist"].reshape(H, W, K), out["dist"], mask)
    report.compare(name, "bary", ours["bary"].reshape(H, W, K, 3), out["bary"], mask)
    report.compare(name, "rgb", ours["rgb"].reshape(H, W, 3), out["rgb"].value.reshape(H, W, 3))
    report.compare(name, "alpha", ours["alpha"].reshape(H, W), out["alpha"].value.reshape(H, W))
    sil_ours = ours["silhouette"].reshape(H, W)
    n_sil = int(np.count_nonzero(sil_ours != out["silhouette"]))
    if n_sil:
        report.fail(name, "silhouette", f"{n_sil} of {n_pix} pixels differ")
    else:
        print(f"softras reference {name}: {'silhouette':<22} differing pixels 0/{n_pix}; inside {int(out['silhouette'].sum())}  ok")
    report.compare(name, "depth", ours["depth"].reshape(H, W), out["depth"])
    report.compare(name, "normal", ours["normal"].reshape(H, W, 3), out["normal"])

    # 3. gradients: what raster_backward accumulated
    for key in ("positions", "vertex_colors", "texture"):
        ref = grads[key]
        if ref is None:
            continue
        if key not in s.grads:
            report.fail(name, f"d/d{key}", "phive's gradient is missing from /grads")
            continue
        before = s.grads.get(key + "_before", np.zeros_like(s.grads[key]))
        report.compare(name, f"d/d{key}", (s.grads[key] - before).reshape(ref.shape), ref)

    # 4. the Gaussian blur
    if s.blur is not None:
        b = s.blur
        image = Var(b["input"])
        out_b = blur(image, b["sigma"])
        report.compare(name, f"blur(sigma={b['sigma']:g})", b["output"], out_b.value)
        grad_in = backward(out_b, b["grad_out"])[id(image)]
        report.compare(name, "blur backward", b["grad_in"] - b["grad_in_before"], grad_in)


# ---------------------------------------------------------------------------------------------
# Self-test: the reference against finite differences and closed-form figures (no phive needed)


def random_rotation(rng, max_angle):
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    a = max_angle * rng.uniform()
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def synthetic_scene(rng, width=40, height=30, n_faces=8, K=3, shading=1, light=0, textured=False, silhouette=0):
    s = Scene()
    s.name = "selftest"
    s.width, s.height = width, height
    s.fx = s.fy = 0.9 * width
    s.cx, s.cy = width / 2 + 0.3, height / 2 - 0.2
    s.znear, s.zfar = 0.1, 100.0
    s.R = random_rotation(rng, 0.3)
    centre = np.array([0.1, -0.2, 0.3])
    s.t = np.array([0.05, -0.03, 3.0]) - s.R @ centre
    s.K, s.cull = K, False
    s.shading, s.light, s.silhouette = shading, light, silhouette
    s.sigma, s.gamma = 1e-3, 1e-2
    s.blur_radius = s.silhouette_radius = math.log(1 / 1e-4 - 1) * s.sigma
    s.blend_znear, s.blend_zfar = 1.0, 100.0
    s.shininess = 8.0
    s.background = np.array([0.2, 0.4, 0.6])
    s.light_position = np.array([0.5, -2.0, -1.0])
    s.light_direction = np.array([0.3, -0.8, -0.5])
    s.ambient, s.diffuse, s.specular = np.array([0.4, 0.5, 0.45]), np.array([0.5, 0.3, 0.4]), np.array([0.3, 0.2, 0.25])
    pos = []
    for _ in range(n_faces):
        c = centre + rng.uniform(-0.9, 0.9, size=3) * np.array([1.0, 0.8, 0.6])
        pos.extend(c + rng.uniform(-0.6, 0.6, size=(3, 3)))
    s.positions = np.array(pos)
    s.faces = np.arange(3 * n_faces).reshape(n_faces, 3)
    s.vertex_colors = rng.uniform(size=(3 * n_faces, 3))
    if textured:
        s.texture = rng.uniform(size=(5, 7, 3))
        s.uvs = rng.uniform(0.05, 0.95, size=(3 * n_faces, 2))
        s.face_uvs = s.faces.copy()
    else:
        s.texture = s.uvs = s.face_uvs = None
    return s


def selftest():
    rng = np.random.default_rng(5)
    failures = []

    def check(label, value, limit):
        ok = value <= limit
        print(f"selftest: {label:<48} {value:.3e}  (limit {limit:g})  {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(label)

    for shading, light, textured, silhouette in ((1, 0, False, 0), (1, 1, True, 1), (0, 0, True, 0)):
        s = synthetic_scene(rng, shading=shading, light=light, textured=textured, silhouette=silhouette)
        sel = brute_force_fragments(s)
        n_pix = s.width * s.height
        grad_rgb = rng.normal(size=(n_pix, 3))
        grad_alpha = rng.normal(size=n_pix)
        _, _, grads = loss_and_grads(s, sel, grad_rgb, grad_alpha)
        tag = f"{'phong' if shading else 'ambient'}/{'directional' if light else 'point'}/{'texture' if textured else 'colours'}/{'k' if silhouette else 'all'}"
        for key in ("positions", "vertex_colors", "texture"):
            analytic = grads[key]
            if analytic is None:
                continue
            base = getattr(s, key)
            h = 1e-7 if key == "positions" else 1e-5
            flat_idx = range(base.size) if base.size <= 48 else rng.choice(base.size, 48, replace=False)
            worst = 0.0
            for i in flat_idx:
                plus, minus = base.copy().reshape(-1), base.copy().reshape(-1)
                plus[i] += h
                minus[i] -= h
                lp = loss_and_grads(s, sel, grad_rgb, grad_alpha, **{key: plus.reshape(base.shape)})[0]
                lm = loss_and_grads(s, sel, grad_rgb, grad_alpha, **{key: minus.reshape(base.shape)})[0]
                fd = (lp - lm) / (2 * h)
                worst = max(worst, abs(fd - analytic.reshape(-1)[i]))
            check(f"{tag} d/d{key} vs central differences", worst / max(np.abs(analytic).max(), 1e-12), 1e-5)

    # a fronto-parallel triangle (half of a square turned in its plane): hard silhouette area and soft
    # silhouette mass vs the projected area, depth, normal, culling
    s = synthetic_scene(rng, width=64, height=48, K=1, shading=0)
    s.R, s.t = np.eye(3), np.zeros(3)
    s.fx = s.fy = 50.0
    s.cx, s.cy = 31.7, 24.4
    s.sigma = 1e-4
    s.blur_radius = s.silhouette_radius = math.log(1 / 1e-4 - 1) * s.sigma
    zc, half, turn = 2.0, 0.53, 0.37
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    square = square @ np.array([[math.cos(turn), math.sin(turn)], [-math.sin(turn), math.cos(turn)]])
    s.positions = np.concatenate([square, np.full((4, 1), zc)], axis=1) + [0.013, -0.021, 0]
    s.vertex_colors = np.ones((4, 3))
    s.faces = np.array([[0, 2, 1]])
    sel = brute_force_fragments(s)
    faces = sel["faces"]
    out = render(s, Var(s.positions), Var(s.vertex_colors), None, faces, sel["candidate"], sel["hard_face"])
    area = (2 * half * s.fx / zc) ** 2 / 2
    check("triangle: |hard silhouette area - projected| / area", abs(out["silhouette"].sum() - area) / area, 0.01)
    check("triangle: |soft silhouette mass - projected| / area", abs(out["alpha"].value.sum() - area) / area, 0.005)
    inside = out["silhouette"] > 0
    check("triangle: |depth - z| inside", float(np.abs(out["depth"][inside] - zc).max()), 1e-12)
    check("triangle: |normal - (0, 0, -1)| inside", float(np.abs(out["normal"][inside] - [0, 0, -1]).max()), 1e-12)
    s.cull = True
    culled = brute_force_fragments(s)["faces"]
    check("triangle: a front face survives culling (differing pixels)", float(np.count_nonzero(culled != faces)), 0)
    s.faces = s.faces[:, ::-1].copy()
    culled = brute_force_fragments(s)["faces"]
    check("triangle: a back face is culled (pixels with a fragment)", float(np.count_nonzero(culled >= 0)), 0)

    # the square of two triangles with K = 1: the hard outputs come from the face that contains the
    # pixel centre even where the other face, a little nearer in its blur band, took the only slot
    s.cull, s.K = False, 1
    s.positions[:, 2] += np.array([0.0, 0.02, 0.0, -0.02])  # a slight tilt: no exact depth ties
    s.faces = np.array([[0, 2, 1], [0, 3, 2]])
    sel = brute_force_fragments(s)
    out = render(s, Var(s.positions), Var(s.vertex_colors), None, sel["faces"], sel["candidate"], sel["hard_face"])
    taken = np.count_nonzero(sel["faces"][:, 0] != sel["hard_face"])
    area = (2 * half * s.fx / zc) ** 2
    check("square K=1: |hard silhouette area - projected| / area", abs(out["silhouette"].sum() - area) / area, 0.01)
    print(f"selftest: square K=1: {taken} pixels whose only fragment slot went to the other face's blur band")
    check("square K=1: that happens somewhere (1 = nowhere)", float(taken == 0), 0)

    # the blur: a delta spreads to the normalised kernel, and backward is the adjoint
    img = np.zeros((15, 17, 2))
    img[7, 8, 0] = 1.0
    out_b = blur(Var(img), 1.3).value
    r = math.ceil(3 * 1.3)
    taps = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * 1.3**2))
    taps /= taps.sum()
    check("blur: delta response vs outer(taps, taps)", float(np.abs(out_b[7 - r : 8 + r, 8 - r : 9 + r, 0] - np.outer(taps, taps)).max()), 1e-15)
    x, y = rng.normal(size=(11, 9, 3)), rng.normal(size=(11, 9, 3))
    vx = Var(x)
    bx = blur(vx, 0.8)
    gx = backward(bx, y)[id(vx)]
    check("blur: <blur x, y> - <x, blur y>", abs(float((bx.value * y).sum() - (x * blur(Var(y), 0.8).value).sum())), 1e-12)
    check("blur: autodiff backward vs blur of grad_out", float(np.abs(gx - blur(Var(y), 0.8).value).max()), 1e-12)

    if failures:
        print("selftest FAILED: " + ", ".join(failures))
        return 1
    print("selftest passed")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes", nargs="*", help="scene HDF5 files")
    parser.add_argument("--tol", type=float, default=1e-5, help="relative tolerance (default 1e-5)")
    parser.add_argument("--selftest", action="store_true", help="check the reference itself and exit")
    args = parser.parse_args()
    if args.selftest:
        return selftest()
    if not args.scenes:
        parser.error("no scene files given")
    report = Report(args.tol)
    for path in args.scenes:
        try:
            check_scene(path, report)
        except (OSError, KeyError) as e:
            report.fail(path, "read", str(e))
    if report.failures:
        print(f"softras reference: {len(report.failures)} comparison(s) outside tolerance {args.tol:g}:")
        for f in report.failures:
            print("  " + f)
        return 1
    print(f"softras reference: all comparisons within {args.tol:g} ({len(args.scenes)} scenes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
