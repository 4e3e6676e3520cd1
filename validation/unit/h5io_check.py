"""h5io_check.py — check how h5py sees a file written by test_h5io.c.

Usage: /usr/bin/python3 validation/unit/h5io_check.py FILE
Exits 0 when every check passes, 1 (with one line per failure) otherwise.
The expected contents mirror write_python_fixture() in test_h5io.c.
"""
import sys

import h5py
import numpy as np

failures = []


def check(cond, what):
    # Explicit checks rather than assert, which python -O would strip.
    if not cond:
        failures.append(what)


def check_scalar_attr(attrs, name, numpy_type, value):
    v = attrs.get(name)
    check(isinstance(v, numpy_type) and not isinstance(v, np.ndarray),
          f"attr {name}: want {numpy_type.__name__} scalar, got {type(v).__name__}")
    check(v == value, f"attr {name}: want {value!r}, got {v!r}")


def check_str_attr(attrs, name, value):
    v = attrs.get(name)
    check(isinstance(v, str), f"attr {name}: want str, got {type(v).__name__}")
    check(v == value, f"attr {name}: want {value!r}, got {v!r}")


def check_dataset(f, path, dtype, shape, values):
    if path not in f:
        failures.append(f"dataset {path}: missing")
        return
    d = f[path]
    check(isinstance(d, h5py.Dataset), f"{path}: not a dataset")
    check(d.dtype == np.dtype(dtype), f"{path}: want dtype {dtype}, got {d.dtype}")
    check(d.shape == shape, f"{path}: want shape {shape}, got {d.shape}")
    if d.shape == shape:
        check(np.array_equal(d[()], np.asarray(values, dtype=dtype).reshape(shape)), f"{path}: wrong values")


def main(path):
    with h5py.File(path, "r") as f:
        check_str_attr(f.attrs, "name", "phive \u2713 \u00b5m")
        check_str_attr(f.attrs, "empty", "")
        check_scalar_attr(f.attrs, "seed", np.int64, -42)
        check_scalar_attr(f.attrs, "score", np.float64, 0.125)
        check("params" in f and isinstance(f["params"], h5py.Group), "group params: missing")
        check_str_attr(f["params"].attrs, "label", "weights")

        check_dataset(f, "params/w", "<f4", (3, 4), np.arange(12) * 0.5)
        check_str_attr(f["params/w"].attrs, "units", "m")
        check_dataset(f, "a/b/c/d", "<f8", (2, 3, 4, 5), np.arange(120) / 8.0)
        check_dataset(f, "ids", "<u8", (3,), [0, 2**63 + 7, 2**64 - 1])

        n = 300
        check_dataset(f, "big", "<f4", (n, n), np.arange(n * n) % 1000)
        if "big" in f:
            check(f["big"].chunks is not None, "big: expected a chunked layout")
            check(f["big"].compression == "gzip", f"big: expected gzip, got {f['big'].compression}")
        if "params/w" in f:
            check(f["params/w"].chunks is None, "params/w: small dataset should be contiguous")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: h5io_check.py FILE")
    try:
        main(sys.argv[1])
    except Exception as e:  # a missing object etc.: report it like any other failure
        failures.append(f"{type(e).__name__}: {e}")
    for line in failures:
        print("h5io_check:", line, file=sys.stderr)
    sys.exit(1 if failures else 0)
