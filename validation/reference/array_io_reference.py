#!/usr/bin/python3
"""Reference files for the array readers/writers (src/geom/npy.c, matfile.c),
made and checked by numpy, scipy.io and h5py (Debian's packages).

  array_io_reference.py make DIR    write the fixtures test_array_io.c reads
  array_io_reference.py check DIR   check the files test_array_io.c wrote

Values follow formulas the C test recomputes: element i (C order) of a float
array is 0.25 * i - 3, of a signed integer array i - 10, of uint8 (7 * i) % 256,
of a bool array (i % 3 == 0).  Exits 0 when everything passed, 1 otherwise
(one line per failure).
"""
import os
import sys
import zipfile

import h5py
import numpy as np
import scipy.io

failures = []


def check(cond, what):
    # Explicit checks rather than assert, which python -O would strip.
    if not cond:
        failures.append(what)


def flt(shape, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    return (0.25 * np.arange(n) - 3).astype(dtype).reshape(shape)


def sint(shape, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    return (np.arange(n) - 10).astype(dtype).reshape(shape)


def uint8(shape):
    n = int(np.prod(shape, dtype=np.int64))
    return ((7 * np.arange(n)) % 256).astype(np.uint8).reshape(shape)


def logical(shape):
    n = int(np.prod(shape, dtype=np.int64))
    return (np.arange(n) % 3 == 0).reshape(shape)


def make_npy(d):
    j = lambda name: os.path.join(d, name)
    np.save(j("c_f4.npy"), flt((2, 3, 4), "<f4"))
    np.save(j("c_f8.npy"), flt((3, 5), "<f8"))
    np.save(j("vec_f8.npy"), flt((7,), "<f8"))
    np.save(j("scalar_f8.npy"), np.float64(2.5))
    np.save(j("empty_f8.npy"), np.zeros((0, 3)))
    np.save(j("fortran_f8.npy"), np.asfortranarray(flt((3, 4), "<f8")))
    np.save(j("fortran_4d_f4.npy"), np.asfortranarray(flt((2, 3, 4, 5), "<f4")))
    np.save(j("be_f8.npy"), flt((2, 3), ">f8"))
    np.save(j("i2.npy"), sint((4, 3), "<i2"))
    np.save(j("i4.npy"), sint((4, 3), "<i4"))
    np.save(j("i8.npy"), sint((4, 3), "<i8"))
    np.save(j("u1.npy"), uint8((5, 9)))
    np.save(j("b1.npy"), logical((2, 7)))
    with open(j("v2_f8.npy"), "wb") as f:
        np.lib.format.write_array(f, flt((3, 2), "<f8"), version=(2, 0))
    np.save(j("c8.npy"), np.zeros((2, 2), np.complex64))
    np.save(j("f2.npy"), np.zeros((2, 2), np.float16))
    np.save(j("struct.npy"), np.zeros(3, dtype=[("a", "<f4"), ("b", "<i4")]))
    np.save(j("str.npy"), np.array(["ab", "cd"]))
    np.save(j("5d.npy"), np.zeros((1, 2, 1, 2, 1)))


def make_npz(d):
    members = {"world_mat_0": flt((4, 4), "<f4"), "scale_mat_0": np.asfortranarray(flt((4, 4), "<f4")),
               "v": flt((6,), "<f8")}
    np.savez(os.path.join(d, "stored.npz"), **members)
    np.savez_compressed(os.path.join(d, "deflated.npz"), **members)


# Variables of the .mat fixtures: the DTU ObsMask/Plane ones plus other classes.
def mat_vars():
    return {"ObsMask": logical((4, 5, 6)), "BB": flt((2, 3), "<f8"), "Res": np.array([[1.5]]),
            "P": flt((4, 1), "<f8"), "single": flt((3, 2), "<f4"), "u8": uint8((2, 5)),
            "i16": sint((3, 3), "<i2")}


def make_mat_v5(d):
    v = mat_vars()
    v["cplx"] = np.array([[1 + 2j]])
    v["text"] = "hello"
    v["cell"] = np.array([np.zeros(2), np.ones(3)], dtype=object)
    scipy.io.savemat(os.path.join(d, "v5c.mat"), v, do_compression=True)
    scipy.io.savemat(os.path.join(d, "v5u.mat"), v, do_compression=False)


def set_matlab_class(ds, cls):
    """MATLAB writes MATLAB_class as a NULLTERM string of exactly len(cls) bytes.
    libmatio 1.5.23 reads it through a NULLTERM type of that size, so h5py's
    default NULLPAD strings would lose their last letter ("doubl") there."""
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(len(cls))
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    aid = h5py.h5a.create(ds.id, b"MATLAB_class", tid, h5py.h5s.create(h5py.h5s.SCALAR))
    aid.write(np.array(cls.encode(), dtype=f"S{len(cls)}"), mtype=tid)


def make_mat_v73(path):
    """A MATLAB v7.3 file: HDF5 with a 512-byte user block holding the MAT header,
    MATLAB's dims reversed in the dataset shape, and a MATLAB_class attribute."""
    classes = {np.dtype(np.float64): "double", np.dtype(np.float32): "single",
               np.dtype(np.uint8): "uint8", np.dtype(np.int16): "int16", np.dtype(bool): "logical"}
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, a in mat_vars().items():
            cls = classes[a.dtype]
            data = a.astype(np.uint8) if a.dtype == bool else a
            ds = f.create_dataset(name, data=np.ascontiguousarray(data.T))  # column-major
            set_matlab_class(ds, cls)
            if cls == "logical":
                ds.attrs["MATLAB_int_decode"] = np.int32(1)
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + b" " * 8 + (0x0200).to_bytes(2, "little") + b"IM"
    with open(path, "r+b") as f:
        f.write(header)


def make(d):
    make_npy(d)
    make_npz(d)
    make_mat_v5(d)
    make_mat_v73(os.path.join(d, "v73.mat"))
    # The v7.3 fixture must be what scipy calls a MATLAB 7.3 file.
    check(scipy.io.matlab.matfile_version(os.path.join(d, "v73.mat")) == (2, 0), "v73.mat: not v7.3")


def check_array(a, name, shape, dtype, want):
    check(a.shape == shape, f"{name}: shape {a.shape}, want {shape}")
    check(a.dtype == np.dtype(dtype), f"{name}: dtype {a.dtype}, want {dtype}")
    check(a.shape == shape and np.array_equal(a, want), f"{name}: values differ")


# What test_array_io.c writes: see test_writers_load_in_numpy().
def check_written(d):
    a = np.load(os.path.join(d, "out_f4.npy"))
    check_array(a, "out_f4.npy", (2, 3, 4), "<f4", flt((2, 3, 4), "<f4"))
    a = np.load(os.path.join(d, "out_f8.npy"))
    check_array(a, "out_f8.npy", (5,), "<f8", flt((5,), "<f8"))
    a = np.load(os.path.join(d, "out_scalar.npy"))
    check_array(a, "out_scalar.npy", (), "<f8", np.float64(-3))
    for name, method in (("out_stored.npz", zipfile.ZIP_STORED), ("out_deflated.npz", zipfile.ZIP_DEFLATED)):
        path = os.path.join(d, name)
        with zipfile.ZipFile(path) as z:
            check(z.testzip() is None, f"{name}: CRC error")
            check(all(i.compress_type == method for i in z.infolist()), f"{name}: compression is not {method}")
        with np.load(path) as z:
            check(sorted(z.files) == ["a", "b"], f"{name}: members {z.files}")
            check_array(z["a"], f"{name}:a", (3, 4), "<f8", flt((3, 4), "<f8"))
            check_array(z["b"], f"{name}:b", (2, 2, 2, 2), "<f4", flt((2, 2, 2, 2), "<f4"))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "check"):
        print(__doc__)
        return 2
    (make if sys.argv[1] == "make" else check_written)(sys.argv[2])
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
