#!/usr/bin/env python3
"""Independent check of phive's mesh IO with open3d (called by test_mesh_io).

    mesh_io_reference.py DIR

1. open3d reads the files phive wrote in DIR (ours_ascii.ply, ours_binary.ply,
   ours.obj) and compares counts, coordinates, triangles, normals and colours
   with the raw arrays phive dumped next to them (ours.positions.f32,
   ours.faces.u32, ours.normals.f32, ours.colors.u8; little endian).
2. open3d writes theirs_ascii.ply, theirs_binary.ply and theirs.obj with the
   raw arrays of what it wrote (theirs.*), for phive to read back.

Exits 1 with a message on the first mismatch.
"""
import os
import sys

import numpy as np
import open3d as o3d


def fail(msg):
    print(f"mesh_io_reference: {msg}", file=sys.stderr)
    sys.exit(1)


def raw(directory, name, dtype):
    return np.fromfile(os.path.join(directory, name), dtype=dtype).reshape(-1, 3)


def compare(what, got, expected, atol):
    if got.shape != expected.shape:
        fail(f"{what}: shape {got.shape} != {expected.shape}")
    bad = np.abs(got.astype(np.float64) - expected.astype(np.float64)) > atol
    if bad.any():
        i = np.argwhere(bad)[0]
        fail(f"{what}: element {tuple(i)}: {got[tuple(i)]!r} != {expected[tuple(i)]!r}")


def check_ours(directory):
    pos = raw(directory, "ours.positions.f32", "<f4")
    faces = raw(directory, "ours.faces.u32", "<u4")
    normals = raw(directory, "ours.normals.f32", "<f4")
    colors = raw(directory, "ours.colors.u8", "u1")
    for name in ("ours_ascii.ply", "ours_binary.ply", "ours.obj"):
        m = o3d.io.read_triangle_mesh(os.path.join(directory, name))
        # PLY text holds 9 significant digits: the same float32 comes back.
        # tinyobjloader's own number parser may differ by a rounding step.
        atol = 1e-6 if name.endswith(".obj") else 0.0
        compare(f"{name} vertices", np.asarray(m.vertices).astype(np.float32), pos, atol * 1e5)
        compare(f"{name} triangles", np.asarray(m.triangles), faces.astype(np.int64), 0)
        if not m.has_vertex_normals() or not m.has_vertex_colors():
            fail(f"{name}: open3d found no vertex normals or colours")
        compare(f"{name} normals", np.asarray(m.vertex_normals).astype(np.float32), normals, atol)
        compare(f"{name} colours", np.rint(np.asarray(m.vertex_colors) * 255), colors, 0)
        print(f"open3d reads {name}: {len(m.vertices)} vertices, {len(m.triangles)} triangles match")


def write_theirs(directory):
    m = o3d.geometry.TriangleMesh.create_sphere(radius=1.5, resolution=6)
    m.compute_vertex_normals()
    rng = np.random.default_rng(7)
    # Colours on the uint8 grid, so every format holds them exactly.
    m.vertex_colors = o3d.utility.Vector3dVector(rng.integers(0, 256, (len(m.vertices), 3)) / 255.0)
    for name, ascii_ in (("theirs_ascii.ply", True), ("theirs_binary.ply", False), ("theirs.obj", True)):
        if not o3d.io.write_triangle_mesh(os.path.join(directory, name), m, write_ascii=ascii_):
            fail(f"open3d could not write {name}")
    # What the files mean: read back by open3d itself (its ASCII writers keep
    # 6 significant digits, so this, not the sphere, is what phive must read).
    back = o3d.io.read_triangle_mesh(os.path.join(directory, "theirs_binary.ply"))
    np.asarray(back.vertices).astype("<f4").tofile(os.path.join(directory, "theirs.positions.f32"))
    np.asarray(back.triangles).astype("<u4").tofile(os.path.join(directory, "theirs.faces.u32"))
    np.rint(np.asarray(back.vertex_colors) * 255).astype("u1").tofile(os.path.join(directory, "theirs.colors.u8"))
    print(f"open3d wrote theirs_*: {len(m.vertices)} vertices, {len(m.triangles)} triangles")


def main():
    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    if len(sys.argv) != 2:
        fail("usage: mesh_io_reference.py DIR")
    check_ours(sys.argv[1])
    write_theirs(sys.argv[1])


if __name__ == "__main__":
    main()
