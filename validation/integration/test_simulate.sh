#!/usr/bin/env bash
# `phive simulate`: the shipped scenes (pinned corners, flag in the wind, sphere drop) run at a
# small size and write one mesh per frame plus the trajectory in result.h5; the pinned corners
# stay on their handles, the cloth falls, the sphere drop keeps a non-negative clearance.  A
# second run finds the complete job and skips it; bad input fails with a message naming the key.
source validation/integration/lib.sh
OUT=$TMP/out

check "pinned corners: 10 frames of a 9×9 cloth"
"$PHIVE" simulate configs/cloth/pinned.ini cloth.grid=9 sim.frames=10 --out "$OUT" >"$TMP/pinned.log" 2>&1 ||
    { cat "$TMP/pinned.log"; fail "simulate pinned.ini failed"; }
cat "$TMP/pinned.log"
job=$(ls -d "$OUT"/cloth_pinned-*)
[ "$(ls "$job"/frames/frame_*.obj | wc -l)" -eq 11 ] || fail "expected 11 frame meshes"
$PY - "$job/result.h5" <<'PY' || fail "result.h5 check failed"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    x = f["outputs/positions"][()]
    faces = f["outputs/faces"][()]
assert x.shape == (11, 81, 3), x.shape
assert faces.shape == (128, 3), faces.shape
top = [72, 80]  # the two top corners of a 9x9 grid (largest v, extreme u)
assert np.abs(x[:, top] - x[0, top]).max() < 1e-6, "pinned corners moved"
assert x[-1, :, 2].mean() < x[0, :, 2].mean() - 0.01, "the cloth did not fall"
print("positions", x.shape, "mean z", x[0, :, 2].mean(), "->", x[-1, :, 2].mean())
PY

check "frame mesh is a valid OBJ with the cloth's faces"
grep -c '^f ' "$job/frames/frame_0010.obj" | grep -qx 128 || fail "frame_0010.obj lacks 128 faces"

check "flag in the wind and sphere drop"
"$PHIVE" simulate configs/cloth/flag.ini cloth.grid=9 sim.frames=6 output.format=ply --out "$OUT" >"$TMP/flag.log" 2>&1 ||
    { cat "$TMP/flag.log"; fail "simulate flag.ini failed"; }
ls "$OUT"/cloth_flag-*/frames/frame_0006.ply >/dev/null || fail "no PLY frames"
"$PHIVE" simulate configs/cloth/sphere_drop.ini cloth.grid=11 sim.frames=12 --out "$OUT" >"$TMP/sphere.log" 2>&1 ||
    { cat "$TMP/sphere.log"; fail "simulate sphere_drop.ini failed"; }
$PY - "$OUT"/cloth_sphere_drop-*/result.h5 <<'PY' || fail "sphere clearance check failed"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    c = f["final"].attrs["min_sphere_clearance"]
print("min sphere clearance", c)
assert c >= 0, c
PY

check "a complete job is skipped"
"$PHIVE" simulate configs/cloth/pinned.ini cloth.grid=9 sim.frames=10 --out "$OUT" >"$TMP/again.log" 2>&1 ||
    fail "rerun failed"
grep -qi "complete" "$TMP/again.log" || { cat "$TMP/again.log"; fail "rerun did not report the complete job"; }

check "bad input"
expect_error 1 "unknown key.*sim.frame" -- "$PHIVE" simulate configs/cloth/pinned.ini sim.framez=3 --out "$TMP/bad"
expect_error 1 "sim.gravity.*3 comma-separated" -- "$PHIVE" simulate configs/cloth/pinned.ini sim.gravity=1,2 --out "$TMP/bad"
expect_error 1 "job.type is 'sdf'" -- "$PHIVE" simulate configs/sdf/default.ini --out "$TMP/bad"
expect_error 1 "no-such.json" -- "$PHIVE" simulate configs/cloth/pinned.ini cloth.material=no-such.json --out "$TMP/bad"
expect_error 1 "collision.enabled" -- "$PHIVE" simulate configs/cloth/pinned.ini collision.sphere=0,0,0,0.1 --out "$TMP/bad"
echo "simulate ok"
