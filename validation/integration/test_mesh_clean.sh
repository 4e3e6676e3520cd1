#!/usr/bin/env bash
# Mesh cleaning by object masks (the eval_clean job; phive/mesh_clean.h).
# A synthetic NeuS-format scene written by numpy: seven 320x240 cameras around
# a unit sphere, masks = the sphere's exact silhouette (ray through each pixel
# centre hits it), and a mesh = the sphere + a floating blob on camera 0's axis
# (inside mask 0, outside the others) + a small piece inside the sphere.
#   all, 12 px, largest    -> exactly the sphere
#   all, 12 px, no largest -> the sphere and the inner piece (the blob goes)
#   any, 12 px, no largest -> everything (camera 0 sees the blob inside its mask)
# Every case is also checked vertex for vertex against an independent numpy
# implementation (scipy.ndimage dilation with OpenCV's ellipse element,
# scipy.sparse.csgraph components), and once with no dilation, where limb
# vertices fall off.  A one-camera scene pins the vote rules: a point behind
# the camera (whose mirrored projection would land in the mask) and one
# outside the image do not vote.  With ../shared/data/dtu_scan65 present, a
# sphere at the scene centre mostly survives the 49 real masks and a far
# blob is removed.
source validation/integration/lib.sh
$PY - "$TMP" <<'PY'
import os, struct, sys, zlib
import numpy as np
root = sys.argv[1]
W, H, F = 320, 240, 300.0
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])
centre = np.array([3.0, -2.0, 5.0])

def write_png(path, mask):
    rgb = np.repeat((mask * 255).astype(np.uint8)[..., None], 3, axis=2)
    raw = b"".join(b"\0" + row.tobytes() for row in rgb)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", mask.shape[1], mask.shape[0], 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def look_at(eye, target, up):
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, up); x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    assert np.linalg.det(R) > 0
    P = np.eye(4)
    P[:3, :3], P[:3, 3] = K @ R, K @ (-R @ eye)
    return P, R

def silhouette(eye, R):
    """Pixels whose centre ray hits the unit sphere at `centre`."""
    xs, ys = np.meshgrid(np.arange(W), np.arange(H))
    d = np.linalg.solve(K, np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])).T @ R
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    oc = centre - eye
    along = d @ oc
    return ((oc @ oc - along ** 2 < 1.0) & (along > 0)).reshape(H, W)

def scene(path, eyes_ups, masks=None):
    """cameras_sphere.npz + mask/%03d.png; masks.npy (outside the scene) keeps the masks for the reference."""
    os.makedirs(path + "/mask", exist_ok=True)
    cams, kept = {}, []
    for i, (eye, up) in enumerate(eyes_ups):
        P, R = look_at(np.array(eye, float), centre, np.array(up, float))
        cams[f"world_mat_{i}"] = P.astype(np.float32)
        cams[f"scale_mat_{i}"] = np.eye(4, dtype=np.float32)
        kept.append(silhouette(np.array(eye, float), R) if masks is None else masks[i])
        write_png(f"{path}/mask/{i:03d}.png", kept[-1])
    np.savez(path + "/cameras_sphere.npz", **cams)
    np.save(path + ".masks.npy", np.array(kept))

def uv_sphere(r, c, nu, nv):
    th = np.linspace(0, np.pi, nv + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    t, p = np.meshgrid(th, ph, indexing="ij")
    v = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    v = np.vstack([v, [[0, 0, 1], [0, 0, -1]]]) * r + c
    i, j = np.arange(nv - 2)[:, None] * nu, np.arange(nu)[None, :]
    a, b, cc, d = i + j, i + nu + j, i + nu + (j + 1) % nu, i + (j + 1) % nu
    f = np.concatenate([np.stack([a, b, cc], -1).reshape(-1, 3), np.stack([a, cc, d], -1).reshape(-1, 3)])
    top, bottom = len(v) - 2, len(v) - 1
    caps = [[top, (k + 1) % nu, k] for k in range(nu)] + [[bottom, (nv - 2) * nu + k, (nv - 2) * nu + (k + 1) % nu] for k in range(nu)]
    return v, np.concatenate([f, np.array(caps)])

def write_ply(path, v, f):
    with open(path, "wb") as out:
        out.write(f"ply\nformat binary_little_endian 1.0\nelement vertex {len(v)}\nproperty float x\nproperty float y\n"
                  f"property float z\nelement face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n".encode())
        out.write(np.asarray(v, "<f4").tobytes())
        rec = np.zeros(len(f), dtype=[("n", "u1"), ("i", "<i4", 3)])
        rec["n"], rec["i"] = 3, f
        out.write(rec.tobytes())

# ---- the sphere scene ------------------------------------------------------------
ring = [(centre + 6 * np.array([np.cos(a), np.sin(a), 0.5]) / np.linalg.norm([1, 0, 0.5]), (0, 0, 1))
        for a in np.arange(6) * np.pi / 3]
views = ring + [(centre + np.array([0, 0, 6.0]), (0, 1, 0))]
scene(root + "/scene", views)
eye0 = np.array(views[0][0])
parts = [uv_sphere(1.0, centre, 96, 48),                                      # the object
         uv_sphere(0.15, centre + 0.45 * (eye0 - centre), 12, 6),             # floating blob on camera 0's axis
         uv_sphere(0.2, centre, 12, 6)]                                       # small piece inside
v = np.concatenate([p[0] for p in parts])
offsets = np.cumsum([0] + [len(p[0]) for p in parts])
f = np.concatenate([p[1] + o for p, o in zip(parts, offsets)])
write_ply(root + "/mesh.ply", v, f)
np.save(root + "/parts.npy", offsets)

# ---- the one-camera scene: vote rules ---------------------------------------------
one_eye = centre + np.array([0, 0, -6.0])
P1, R1 = look_at(one_eye, centre, np.array([0, 1, 0.0]))
m1 = np.zeros((H, W), bool)
m1[:, : W // 2] = True                                                        # left half set
def at_pixel(px, py, depth):                                                  # the world point at that pixel and depth
    return one_eye + depth * (R1.T @ np.linalg.solve(K, [px, py, 1.0]))
pts = np.array([at_pixel(40, 120, 5),        # in front, in the set half            -> kept by both rules
                at_pixel(280, 120, 5),       # in front, in the clear half          -> removed by both
                at_pixel(40, 120, -5),       # behind; dividing by w < 0 would land it at x = 40 (set) -> all keeps, any removes
                at_pixel(-200, 120, 5)])     # in front, outside the image          -> all keeps, any removes
q = P1[:3, :3] @ pts[2] + P1[:3, 3]
assert q[2] < 0 and abs(q[0] / q[2] - 40) < 1e-6                             # the accident NeuS's script would make
scene(root + "/one", [(one_eye, (0, 1, 0))], masks=[m1])
def write_points(path, p):
    with open(path, "wb") as out:
        out.write(f"ply\nformat binary_little_endian 1.0\nelement vertex {len(p)}\nproperty float x\nproperty float y\n"
                  "property float z\nend_header\n".encode())
        out.write(p.astype("<f4").tobytes())
write_points(root + "/points.ply", pts)
write_points(root + "/outside.ply", pts[1:2])            # seen, outside the mask: nothing survives
write_points(root + "/far.ply", pts[:2] + [0, 0, -1e4])  # behind the camera: nothing is seen
np.save(root + "/points.npy", pts.astype("<f4"))
PY
run() { # name mesh scene overrides...
    local name=$1 mesh=$2 scene=$3
    shift 3
    "$PHIVE" eval clean eval.mesh="$mesh" eval.clean_scene="$scene" "$@" --out "$TMP/$name" >"$TMP/$name.log" 2>&1 ||
        { cat "$TMP/$name.log"; fail "eval clean $name failed"; }
}
run all12 "$TMP/mesh.ply" "$TMP/scene" eval.clean_dilation=12
run all12_parts "$TMP/mesh.ply" "$TMP/scene" eval.clean_dilation=12 eval.clean_largest=false
run any12_parts "$TMP/mesh.ply" "$TMP/scene" eval.clean_dilation=12 eval.clean_rule=any eval.clean_largest=false
run all0_parts "$TMP/mesh.ply" "$TMP/scene" eval.clean_dilation=0 eval.clean_largest=false run.threads=1
run one_all "$TMP/points.ply" "$TMP/one" eval.clean_dilation=3
run one_any "$TMP/points.ply" "$TMP/one" eval.clean_dilation=3 eval.clean_rule=any
$PY - "$TMP" <<'PY'
import glob, sys
import h5py
import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.csgraph import connected_components
root = sys.argv[1]

def read_ply(path):
    data = open(path, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    head = data[:end].decode().split("\n")
    nv = [int(l.split()[2]) for l in head if l.startswith("element vertex")][0]
    nf = ([int(l.split()[2]) for l in head if l.startswith("element face")] or [0])[0]
    v = np.frombuffer(data[end:end + 12 * nv], "<f4").reshape(nv, 3)
    f = np.frombuffer(data[end + 12 * nv:end + 12 * nv + 13 * nf], dtype=[("n", "u1"), ("i", "<i4", 3)])["i"]
    return v, np.asarray(f, np.int64).reshape(-1, 3)

def ellipse(r):  # cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2r+1, 2r+1)), as OpenCV builds it
    k = np.zeros((2 * r + 1, 2 * r + 1), bool)
    for dy in range(-r, r + 1):
        h = int(np.rint(r * np.sqrt((r * r - dy * dy) / (r * r)))) if r else 0
        k[dy + r, r - h:r + h + 1] = True
    return k

def keep_vertices(V, scene, r, rule):
    cams, masks = np.load(scene + "/cameras_sphere.npz"), np.load(scene + ".masks.npy")
    V = V.astype(np.float64)
    out, inn = np.zeros(len(V), bool), np.zeros(len(V), bool)
    for i, m in enumerate(masks):
        P = cams[f"world_mat_{i}"].astype(np.float64)[:3]
        d = ndimage.binary_dilation(m, structure=ellipse(r)) if r else m
        p = V @ P[:, :3].T + P[:, 3]
        with np.errstate(all="ignore"):
            px, py = np.round(p[:, 0] / p[:, 2]), np.round(p[:, 1] / p[:, 2])
        seen = (p[:, 2] > 0) & (px >= 0) & (px < m.shape[1]) & (py >= 0) & (py < m.shape[0])
        hit = np.zeros(len(V), bool)
        hit[seen] = d[py[seen].astype(int), px[seen].astype(int)]
        out |= seen & ~hit
        inn |= hit
    return ~out if rule == "all" else inn

def clean(V, F, keep, largest):
    F = F[keep[F].all(1)]
    V, F = V[keep], (np.cumsum(keep) - 1)[F]
    if largest:
        e = np.concatenate([F[:, [0, 1]], F[:, [1, 2]]])
        g = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(len(V), len(V)))
        label = connected_components(g, directed=False)[1]
        F = F[label[F[:, 0]] == np.bincount(label[F[:, 0]]).argmax()]
        used = np.zeros(len(V), bool)
        used[F] = True
        V, F = V[used], (np.cumsum(used) - 1)[F]
    return V, F

def result(name):
    f = h5py.File(glob.glob(f"{root}/{name}/*/result.h5")[0])
    assert f.attrs["status"] == "complete", name
    return read_ply(glob.glob(f"{root}/{name}/*/cleaned.ply")[0]), dict(f["final"].attrs), dict(f["config"].attrs)

V, F = read_ply(root + "/mesh.ply")
sphere, blob, inner, end = np.load(root + "/parts.npy")
for name, r, rule, largest in (("all12", 12, "all", True), ("all12_parts", 12, "all", False),
                               ("any12_parts", 12, "any", False), ("all0_parts", 0, "all", False)):
    (v, f), final, config = result(name)
    rv, rf = clean(V, F, keep_vertices(V, root + "/scene", r, rule), largest)
    assert np.array_equal(v, rv) and np.array_equal(f, rf), f"{name}: phive {len(v)} vertices / {len(f)} faces, reference {len(rv)} / {len(rf)}"
    assert config["eval.clean_dilation"] == str(r) and config["eval.clean_rule"] == rule  # the settings are recorded
    assert final["clean_views"] == 7 and final["clean_vertices"] == len(v) and final["clean_faces"] == len(f)
    print(f"{name}: {len(v)} vertices, {len(f)} faces, identical to the reference; {final['clean_seconds']:.3f} s")
    if name == "all12":      # exactly the sphere
        assert np.array_equal(v, V[:blob]) and np.array_equal(f, F[:len(f)]) and len(f) == 96 * 46 * 2 + 2 * 96
        assert final["clean_vertices_rejected"] == inner - blob and final["clean_faces_removed_largest"] > 0
    if name == "all12_parts":  # the sphere and the inner piece
        assert np.array_equal(v, np.concatenate([V[:blob], V[inner:]]))
    if name == "any12_parts":  # everything
        assert np.array_equal(v, V) and np.array_equal(f, F)
    if name == "all0_parts":   # limb vertices fall off without dilation
        assert final["clean_vertices_rejected"] > inner - blob
pts = np.load(root + "/points.npy")
(v, f), _, _ = result("one_all")
assert np.array_equal(v, pts[[0, 2, 3]]), v   # no vote from behind the camera or outside the image
(v, f), _, _ = result("one_any")
assert np.array_equal(v, pts[[0]]), v          # ...so under "any" nothing saves them
print("vote rules (in front / behind the camera / outside the image): ok")
PY

check "errors name the problem"
expect_error 1 "no vertex survives.*scale_mat_0" -- "$PHIVE" eval clean eval.mesh="$TMP/outside.ply" eval.clean_scene="$TMP/one" --out "$TMP/x"
expect_error 1 "no vertex projects into any view.*scale_mat_0" -- "$PHIVE" eval clean eval.mesh="$TMP/far.ply" eval.clean_scene="$TMP/one" --out "$TMP/x"
cp -r "$TMP/scene" "$TMP/broken"
rm "$TMP/broken/mask/004.png"
expect_error 1 "view 4.*mask/004.png" -- "$PHIVE" eval clean eval.mesh="$TMP/mesh.ply" eval.clean_scene="$TMP/broken" --out "$TMP/x"
expect_error 1 "cameras_sphere.npz" -- "$PHIVE" eval clean eval.mesh="$TMP/mesh.ply" eval.clean_scene="$TMP" --out "$TMP/x"
expect_error 1 "eval.clean_scene" -- "$PHIVE" eval clean eval.mesh="$TMP/mesh.ply" --out "$TMP/x"

DTU=$PWD/../shared/data/dtu_scan65
if [ ! -f "$DTU/cameras_sphere.npz" ]; then
    echo "skipping the real-data check: $DTU is not present"
    exit 0
fi
check "DTU scan 65 (49 views, 1600x1200): a sphere at the scene centre survives, a far blob does not"
$PY - "$DTU" "$TMP/dtu.ply" <<'PY'
import sys
import numpy as np
scene, out = sys.argv[1], sys.argv[2]
S = np.load(scene + "/cameras_sphere.npz")["scale_mat_0"].astype(np.float64)
nu, nv = 400, 200   # ~80k vertices, radius 0.5 of the unit sphere (~82 mm)
t, p = np.meshgrid(np.linspace(0, np.pi, nv + 1)[1:-1], np.linspace(0, 2 * np.pi, nu, endpoint=False), indexing="ij")
v = 0.5 * np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
i, j = np.arange(nv - 2)[:, None] * nu, np.arange(nu)[None, :]
a, b, c, d = i + j, i + nu + j, i + nu + (j + 1) % nu, i + (j + 1) % nu
f = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
blob = np.array([0.9, 0, 0]) + 0.02 * np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]])  # one triangle
v, f = np.vstack([v, blob]), np.vstack([f, [[len(v), len(v) + 1, len(v) + 2]]])
w = v @ S[:3, :3].T + S[:3, 3]       # normalised -> DTU world (mm)
with open(out, "wb") as fh:
    fh.write(f"ply\nformat binary_little_endian 1.0\nelement vertex {len(w)}\nproperty float x\nproperty float y\n"
             f"property float z\nelement face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n".encode())
    fh.write(w.astype("<f4").tobytes())
    rec = np.zeros(len(f), dtype=[("n", "u1"), ("i", "<i4", 3)])
    rec["n"], rec["i"] = 3, f
    fh.write(rec.tobytes())
PY
"$PHIVE" eval clean eval.mesh="$TMP/dtu.ply" eval.clean_scene="$DTU" eval.clean_largest=false --out "$TMP/dtu" \
    >"$TMP/dtu.log" 2>&1 || { cat "$TMP/dtu.log"; fail "eval clean on dtu_scan65 failed"; }
$PY - "$TMP" <<'PY'
import glob, sys
import h5py
root = sys.argv[1]
a = dict(h5py.File(glob.glob(root + "/dtu/*/result.h5")[0])["final"].attrs)
n_sphere = 400 * 199   # the UV sphere's vertices (poles left out)
kept = a["clean_vertices"]
print(f"dtu_scan65: {a['clean_views']:.0f} views, {kept:.0f} of {n_sphere + 3} vertices kept, {a['clean_seconds']:.2f} s")
assert a["clean_views"] == 49
assert a["clean_vertices_rejected"] >= 3, a      # the blob at 0.9 (outside the masks) goes
assert kept >= 0.9 * n_sphere, a                  # most of a sphere of the object's size survives 50 px dilation
PY
