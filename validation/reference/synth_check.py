#!/usr/bin/env python3
"""synth_check.py — an independent check of a synthetic ϕ-SfT sequence (phive synth cloth).

Reads the sequence with numpy and the standard library only (its own PNG decoder and OBJ
parser), builds the look-at camera of camera.json itself (OpenCV axes, up = +y, pixel (i, j)
covering [i, i+1) × [j, j+1)) and checks, for every frame:
  - the files exist and agree in count; images are 8-bit RGB, masks 8-bit gray 0/255, all of
    camera.json's size;
  - every ground-truth vertex projects in front of the camera, inside the image and into the mask
    or within 1 px of it; the mask is neither empty nor full;
  - the mask matches the union of the projected ground-truth triangles (pixel centres inside
    a triangle), IoU ≥ 0.97;
  - pixels farther than 2 px from the mask are the white background, the cloth is not white;
  - every point of the point cloud lies on a ground-truth triangle (distance ≤ 1e-5 m);
and that templates/template.obj is surface 0 (vertices and faces) with one UV per vertex,
faces indexing UVs like vertices, UVs spanning [0, 1] on both axes.

usage: synth_check.py SEQ [--frames F] [--points N]    exit status 1 and a message on failure
"""
import argparse
import glob
import json
import os
import struct
import sys
import zlib

import numpy as np


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


# ---- files ---------------------------------------------------------------------------------

def read_png(path):
    """8-bit PNG (gray, RGB, gray+alpha, RGBA; no interlace) as an H × W × C uint8 array."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path}: not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        fail(f"{path}: expected an 8-bit non-interlaced gray/RGB(A) PNG (depth {depth}, colour type {colour})")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    out = np.zeros((height, stride), np.uint8)
    prior = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prior[i]
            c = prior[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out[y] = np.frombuffer(bytes(line), np.uint8)
        prior = line
    return out.reshape(height, width, channels)


def read_obj(path):
    """Vertices, triangles (0-based), UVs and triangles' UV indices (None when absent)."""
    v, vt, f, ft = [], [], [], []
    for line in open(path):
        t = line.split()
        if not t:
            continue
        if t[0] == "v":
            v.append([float(x) for x in t[1:4]])
        elif t[0] == "vt":
            vt.append([float(x) for x in t[1:3]])
        elif t[0] == "f":
            corners = [c.split("/") for c in t[1:]]
            if len(corners) != 3:
                fail(f"{path}: expected triangles")
            f.append([int(c[0]) - 1 for c in corners])
            if len(corners[0]) > 1 and corners[0][1]:
                ft.append([int(c[1]) - 1 for c in corners])
    return (np.array(v).reshape(-1, 3), np.array(f, int).reshape(-1, 3), np.array(vt).reshape(-1, 2),
            np.array(ft, int).reshape(-1, 3) if ft else None)


# ---- camera -----------------------------------------------------------------------------------

class Camera:
    def __init__(self, path):
        c = json.load(open(path))
        for key in ("camera_pos", "object_pos", "width", "height", "fov"):
            if key not in c:
                fail(f"{path}: no '{key}'")
        self.width, self.height = int(c["width"]), int(c["height"])
        self.eye = np.array(c["camera_pos"], float)
        target = np.array(c["object_pos"], float)
        self.f = 0.5 * self.height / np.tan(np.radians(c["fov"]) / 2)
        z = (target - self.eye) / np.linalg.norm(target - self.eye)
        x = np.cross(z, [0.0, 1.0, 0.0])
        x /= np.linalg.norm(x)
        self.R = np.stack([x, np.cross(z, x), z])

    def project(self, p):
        """Pixel coordinates (u, v) and camera depth of world points."""
        c = (p - self.eye) @ self.R.T
        return self.f * c[:, 0] / c[:, 2] + self.width / 2, self.f * c[:, 1] / c[:, 2] + self.height / 2, c[:, 2]


def dilate(mask, r):
    """Chebyshev dilation by r pixels."""
    out = mask.copy()
    h, w = mask.shape
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] |= \
                mask[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def rasterize(u, v, faces, width, height):
    """Pixel centres inside any projected triangle (edges count as inside)."""
    covered = np.zeros((height, width), bool)
    for a, b, c in faces:
        x0, x1 = int(max(np.floor(min(u[a], u[b], u[c])), 0)), int(min(np.ceil(max(u[a], u[b], u[c])), width))
        y0, y1 = int(max(np.floor(min(v[a], v[b], v[c])), 0)), int(min(np.ceil(max(v[a], v[b], v[c])), height))
        if x0 >= x1 or y0 >= y1:
            continue
        px, py = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        area = (u[b] - u[a]) * (v[c] - v[a]) - (u[c] - u[a]) * (v[b] - v[a])
        if abs(area) < 1e-12:
            continue
        w0 = ((u[b] - px) * (v[c] - py) - (u[c] - px) * (v[b] - py)) / area
        w1 = ((u[c] - px) * (v[a] - py) - (u[a] - px) * (v[c] - py)) / area
        inside = (w0 >= 0) & (w1 >= 0) & (1 - w0 - w1 >= 0)
        covered[y0:y1, x0:x1] |= inside
    return covered


def distance_to_surface(points, x, faces, chunk=512):
    """Per point: the smallest distance to a triangle it projects into (inf when none)."""
    a, b, c = x[faces[:, 0]], x[faces[:, 1]], x[faces[:, 2]]
    e1, e2 = b - a, c - a
    n = np.cross(e1, e2)
    n2 = (n * n).sum(1)
    best = np.full(len(points), np.inf)
    for s in range(0, len(points), chunk):
        d = points[s:s + chunk, None, :] - a[None]
        w1 = (np.cross(d, e2) * n).sum(2) / n2
        w2 = (np.cross(e1, d) * n).sum(2) / n2
        dist = np.abs((d * n).sum(2)) / np.sqrt(n2)
        inside = (w1 >= -1e-5) & (w2 >= -1e-5) & (w1 + w2 <= 1 + 1e-5)
        best[s:s + chunk] = np.where(inside, dist, np.inf).min(1)
    return best


# ---- checks ------------------------------------------------------------------------------------

def check_template(seq, surface0):
    x, faces, uv, fuv = read_obj(f"{seq}/templates/template.obj")
    gx, gfaces, _, _ = surface0
    if x.shape != gx.shape or np.abs(x - gx).max() > 1e-7 or not np.array_equal(faces, gfaces):
        fail("templates/template.obj is not surfaces/0000_00.obj")
    if len(uv) != len(x) or fuv is None or not np.array_equal(fuv, faces):
        fail("templates/template.obj: expected one UV per vertex, faces v/vt with vt = v")
    if np.abs(uv.min(0)).max() > 1e-6 or np.abs(uv.max(0) - 1).max() > 1e-6:
        fail(f"template UVs span {uv.min(0)} … {uv.max(0)}, expected [0, 1] on both axes")
    tex = read_png(f"{seq}/templates/texture.png")
    if tex.shape[2] != 3:
        fail("templates/texture.png is not RGB")
    print(f"template: {len(x)} vertices = surface 0, UVs span [0, 1]², texture {tex.shape[1]}×{tex.shape[0]}")


def check_frame(seq, cam, f, points_expected):
    x, faces, _, _ = read_obj(f"{seq}/surfaces/{f:04d}_00.obj")
    mask_img = read_png(f"{seq}/masks/mask_{f:03d}.png")
    rgb = read_png(f"{seq}/rgbs/rgb_{f:03d}.png")
    size = (cam.height, cam.width)
    if mask_img.shape != size + (1,) or rgb.shape != size + (3,):
        fail(f"frame {f}: mask {mask_img.shape} / image {rgb.shape}, camera {size}")
    if not np.isin(mask_img, (0, 255)).all():
        fail(f"frame {f}: mask values other than 0 and 255")
    mask = mask_img[:, :, 0] == 255
    if not mask.any() or mask.all():
        fail(f"frame {f}: mask is {'empty' if not mask.any() else 'full'}")
    u, v, z = cam.project(x)
    if (z <= 0).any():
        fail(f"frame {f}: vertices behind the camera")
    if (u < 0).any() or (u >= cam.width).any() or (v < 0).any() or (v >= cam.height).any():
        fail(f"frame {f}: vertices project outside the image")
    near = dilate(mask, 1)
    missed = ~near[v.astype(int), u.astype(int)]
    if missed.any():
        i = int(np.argmax(missed))
        fail(f"frame {f}: {missed.sum()} vertices project outside the mask, e.g. vertex {i} at ({u[i]:.2f}, {v[i]:.2f})")
    drawn = rasterize(u, v, faces, cam.width, cam.height)
    iou = (drawn & mask).sum() / (drawn | mask).sum()
    if iou < 0.97:
        fail(f"frame {f}: mask and projected surface disagree (IoU {iou:.4f})")
    far = ~dilate(mask, 2)
    if far.any() and rgb[far].min() < 255:
        fail(f"frame {f}: background pixels are not white")
    if rgb[mask].mean() > 240:
        fail(f"frame {f}: the cloth renders white")
    cloud, _, _, _ = read_obj(f"{seq}/point_clouds/point_cloud_{f:03d}.obj")
    if points_expected and len(cloud) != points_expected:
        fail(f"frame {f}: {len(cloud)} cloud points, expected {points_expected}")
    dist = distance_to_surface(cloud, x, faces)
    if dist.max() > 1e-5:
        fail(f"frame {f}: point cloud off the surface by up to {dist.max():.3g} m")
    return mask.mean(), iou, dist.max()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("seq")
    ap.add_argument("--frames", type=int, default=0, help="expected frame count (0: any)")
    ap.add_argument("--points", type=int, default=0, help="expected points per cloud (0: any)")
    args = ap.parse_args()
    seq = args.seq
    counts = {d: len(glob.glob(f"{seq}/{d}/*.{e}")) for d, e in
              (("rgbs", "png"), ("masks", "png"), ("surfaces", "obj"), ("point_clouds", "obj"))}
    frames = counts["rgbs"]
    if len(set(counts.values())) != 1 or frames == 0 or (args.frames and frames != args.frames):
        fail(f"frame files disagree: {counts}, expected {args.frames or 'equal counts'}")
    if not os.path.exists(f"{seq}/camera.json"):
        fail("no camera.json")
    cam = Camera(f"{seq}/camera.json")
    check_template(seq, read_obj(f"{seq}/surfaces/0000_00.obj"))
    stats = np.array([check_frame(seq, cam, f, args.points) for f in range(frames)])
    print(f"{frames} frames: masks cover {100 * stats[:, 0].min():.1f}–{100 * stats[:, 0].max():.1f} % of the image, "
          f"mask vs projected surface IoU ≥ {stats[:, 1].min():.4f}, cloud off the surface ≤ {stats[:, 2].max():.2g} m")
    print("synth_check ok")


if __name__ == "__main__":
    main()
