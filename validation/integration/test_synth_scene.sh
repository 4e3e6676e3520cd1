#!/usr/bin/env bash
# `phive synth scene`: a tiny torus (8 views, 80×60) in the NeuS layout that
# validation/reference/scene_check.py accepts (its own camera decomposition and torus SDF:
# ground truth on the surface, inside every mask, masks = the projected surface, black background,
# DTU ObsMask/Plane read by scipy).  The DTU protocol scores the ground-truth mesh near zero and a
# scaled copy by about its displacement.  The NeuS loader reads the set.  Two ranks write the same
# files.  Bad input fails with a message and leaves an existing set untouched.
source validation/integration/lib.sh
OUT=$TMP/out
TINY=(cameras.count=8 cameras.width=80 cameras.height=60 synth.gt_points=300000 synth.gt_resolution=64)

check "a tiny torus"
"$PHIVE" synth scene configs/synth/torus.ini synth.dir="$TMP/torus" "${TINY[@]}" --out "$OUT" >"$TMP/torus.log" 2>&1 ||
    { cat "$TMP/torus.log"; fail "synth scene failed"; }
grep "8 views of torus" "$TMP/torus.log"
for f in image/007.png mask/007.png cameras_sphere.npz gt/Points/stl/stl001_total.ply gt/ObsMask/ObsMask1_10.mat \
    gt/ObsMask/Plane1.mat gt/mesh.ply; do
    [ -s "$TMP/torus/$f" ] || fail "no $f"
done
[ ! -e "$TMP/torus/image/008.png" ] || fail "a 9th view"
$PY validation/reference/scene_check.py "$TMP/torus" --shape torus --size 0.5 --tilt 30 || fail "scene_check"

check "the DTU protocol on the ground truth and on a scaled copy"
"$PHIVE" eval dtu eval.mesh="$TMP/torus/gt/mesh.ply" eval.gt="$TMP/torus/gt" eval.scan=1 eval.density=0.5 \
    --out "$TMP/eval" >"$TMP/eval.log" 2>&1 || { cat "$TMP/eval.log"; fail "eval dtu of the ground truth failed"; }
$PY - "$TMP/torus/gt/mesh.ply" "$TMP/scaled.ply" <<'PY' || fail "could not write the scaled mesh"
import sys, numpy as np
data = open(sys.argv[1], "rb").read()
end = data.index(b"end_header\n") + len(b"end_header\n")
n = int(next(l.split()[2] for l in data[:end].decode().splitlines() if l.startswith("element vertex")))
v = np.frombuffer(data, "<f4", 3 * n, end).reshape(n, 3).astype(np.float64)
c = np.array([10.0, -5.0, 50.0])   # scene.center of configs/synth/torus.ini
v = (c + 1.02 * (v - c)).astype("<f4")
open(sys.argv[2], "wb").write(data[:end] + v.tobytes() + data[end + 12 * n:])
PY
"$PHIVE" eval dtu eval.mesh="$TMP/scaled.ply" eval.gt="$TMP/torus/gt" eval.scan=1 eval.density=0.5 \
    --out "$TMP/eval_scaled" >"$TMP/eval_scaled.log" 2>&1 || { cat "$TMP/eval_scaled.log"; fail "eval dtu failed"; }
$PY - "$TMP"/eval/eval_dtu-*/result.h5 "$TMP"/eval_scaled/eval_dtu-*/result.h5 <<'PY' || fail "DTU figures"
import sys, h5py
exact, scaled = (h5py.File(p, "r")["final"].attrs["overall_mm"] for p in sys.argv[1:])
print(f"overall: ground truth {exact:.4f} mm, scaled by 1.02 {scaled:.4f} mm")
# ground truth: only the sampling (0.5 mm, 300k points ~0.36 mm apart, a 64³ mesh) shows;
# scaling by 1.02 about the centre moves the surface by 0.6-1.4 mm
assert exact < 0.35, exact
assert 0.4 < scaled - exact < 1.2, (exact, scaled)
PY

check "the NeuS loader reads the set"
"$PHIVE" run configs/neus/synth_torus.ini data.root="$TMP/torus" train.iterations=2 train.batch=32 eval.every=0 \
    eval.rays=64 mesh.resolution=0 --out "$TMP/neus" >"$TMP/neus.log" 2>&1 || { cat "$TMP/neus.log"; fail "neus on the set"; }
grep "8 views of 80 x 60 (downscale 1): 6 training, 2 held out" "$TMP/neus.log"

check "two ranks write the same set"
mpirun -np 2 "$PHIVE" synth scene configs/synth/torus.ini synth.dir="$TMP/mpi" "${TINY[@]}" --out "$TMP/out_mpi" \
    >"$TMP/mpi.log" 2>&1 || { cat "$TMP/mpi.log"; fail "mpirun -np 2 synth scene failed"; }
for f in image/003.png mask/003.png cameras_sphere.npz gt/Points/stl/stl001_total.ply gt/mesh.ply; do
    cmp -s "$TMP/torus/$f" "$TMP/mpi/$f" || fail "two ranks changed $f"
done

check "bad input"
expect_error 1 "scene.size = 0.8: the torus reaches the unit sphere" -- "$PHIVE" synth scene configs/synth/torus.ini \
    scene.size=0.8 synth.dir="$TMP/bad" --out "$TMP/bad_out"
expect_error 1 "elevation_min.*above" -- "$PHIVE" synth scene configs/synth/torus.ini cameras.elevation_min=50 \
    cameras.elevation_max=10 synth.dir="$TMP/bad" --out "$TMP/bad_out"
expect_error 1 "unknown key.*scene.shap" -- "$PHIVE" synth scene configs/synth/torus.ini scene.shap=torus \
    synth.dir="$TMP/bad" --out "$TMP/bad_out"
expect_error 1 "scene.center.*3 comma-separated" -- "$PHIVE" synth scene configs/synth/torus.ini scene.center=1,2 \
    synth.dir="$TMP/bad" --out "$TMP/bad_out"
[ ! -e "$TMP/bad" ] || fail "a failed run created synth.dir"
before=$(cd "$TMP/torus" && find . -type f -exec md5sum {} + | sort)
expect_error 1 "not an empty directory.*synth.overwrite" -- "$PHIVE" synth scene configs/synth/torus.ini \
    synth.dir="$TMP/torus" "${TINY[@]}" --out "$TMP/again"
[ "$(cd "$TMP/torus" && find . -type f -exec md5sum {} + | sort)" = "$before" ] || fail "synth.dir was modified"
echo "synth scene ok"
