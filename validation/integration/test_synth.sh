#!/usr/bin/env bash
# `phive synth cloth`: each shipped scene (wind, handle, drop, folds) at a tiny size (6 frames, 10×10
# grid, 96×54 px) writes a complete ϕ-SfT sequence that validation/reference/synth_check.py
# accepts (its own camera, PNG and OBJ readers: vertices inside the masks, masks = the projected
# surface, clouds on the surface, template = surface 0 with UVs over [0, 1]).  Two ranks give the
# same sequence as one.  Bad input fails with a message naming the problem and writes nothing; an
# existing non-empty synth.dir is left untouched unless synth.overwrite=true, which also removes
# the frames of the longer sequence it replaces.
source validation/integration/lib.sh
OUT=$TMP/out
TINY=(synth.frames=6 cloth.grid=10 camera.width=96 camera.height=54 synth.cloud_points=500)

for scene in s1_wind s2_handle s3_drop s4_folds; do
    check "$scene: a tiny sequence"
    "$PHIVE" synth cloth configs/sft/synth/$scene.ini synth.dir="$TMP/$scene" "${TINY[@]}" --out "$OUT" \
        >"$TMP/$scene.log" 2>&1 || { cat "$TMP/$scene.log"; fail "synth cloth $scene failed"; }
    grep "wrote 6 frames" "$TMP/$scene.log"
    for f in camera.json templates/template.obj templates/texture.png rgbs/rgb_005.png masks/mask_005.png \
        surfaces/0005_00.obj point_clouds/point_cloud_005.obj; do
        [ -s "$TMP/$scene/$f" ] || fail "$scene: no $f"
    done
    [ ! -e "$TMP/$scene/rgbs/rgb_006.png" ] || fail "$scene: a 7th frame"
    $PY validation/reference/synth_check.py "$TMP/$scene" --frames 6 --points 500 || fail "$scene: synth_check"
done

check "result.h5 holds the trajectory"
$PY - "$OUT"/synth_s3_drop-*/result.h5 <<'PY' || fail "result.h5 check failed"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["status"] == "complete"
    x = f["outputs/positions"][()]
    assert x.shape == (6, 100, 3), x.shape
    assert f["final"].attrs["mask_coverage_min"] > 0.02, f["final"].attrs["mask_coverage_min"]
print("positions", x.shape, "lowest y", x[:, :, 1].min())
PY

check "two ranks write the same sequence"
mpirun -np 2 "$PHIVE" synth cloth configs/sft/synth/s1_wind.ini synth.dir="$TMP/mpi" "${TINY[@]}" --out "$TMP/out_mpi" \
    >"$TMP/mpi.log" 2>&1 || { cat "$TMP/mpi.log"; fail "mpirun -np 2 synth cloth failed"; }
for f in camera.json surfaces/0005_00.obj point_clouds/point_cloud_005.obj rgbs/rgb_005.png masks/mask_005.png; do
    cmp -s "$TMP/s1_wind/$f" "$TMP/mpi/$f" || fail "two ranks changed $f"
done

check "bad input"
expect_error 1 "unknown key.*synth.frames" -- "$PHIVE" synth cloth configs/sft/synth/s1_wind.ini synth.framez=3 \
    synth.dir="$TMP/bad" --out "$TMP/bad_out"
expect_error 1 "no-such.json" -- "$PHIVE" synth cloth configs/sft/synth/s1_wind.ini cloth.material=no-such.json \
    synth.dir="$TMP/bad" --out "$TMP/bad_out"
expect_error 1 "synth.wind.*3 comma-separated" -- "$PHIVE" synth cloth configs/sft/synth/s1_wind.ini synth.wind=1,2 \
    synth.dir="$TMP/bad" --out "$TMP/bad_out"
expect_error 1 "job.type is 'simulate'" -- "$PHIVE" synth cloth configs/cloth/pinned.ini --out "$TMP/bad_out"
expect_error 2 "usage: phive synth cloth" -- "$PHIVE" synth mesh configs/sft/synth/s1_wind.ini
[ ! -e "$TMP/bad" ] || fail "a failed run created synth.dir"

check "an existing non-empty synth.dir is not overwritten"
before=$(cd "$TMP/s1_wind" && find . -type f -exec md5sum {} + | sort)
expect_error 1 "not an empty directory.*synth.overwrite" -- "$PHIVE" synth cloth configs/sft/synth/s1_wind.ini synth.dir="$TMP/s1_wind" \
    "${TINY[@]}" synth.frames=4 --out "$TMP/again"
[ "$(cd "$TMP/s1_wind" && find . -type f -exec md5sum {} + | sort)" = "$before" ] || fail "synth.dir was modified"

check "synth.overwrite=true replaces the sequence and drops its extra frames"
cp "$TMP/s1_wind/surfaces/0003_00.obj" "$TMP/wind_0003.obj"
"$PHIVE" synth cloth configs/sft/synth/s1_wind.ini synth.dir="$TMP/s1_wind" "${TINY[@]}" synth.frames=4 \
    synth.overwrite=true --out "$TMP/again" >"$TMP/overwrite.log" 2>&1 || { cat "$TMP/overwrite.log"; fail "overwrite failed"; }
$PY validation/reference/synth_check.py "$TMP/s1_wind" --frames 4 --points 500 || fail "overwritten sequence"
cmp -s "$TMP/wind_0003.obj" "$TMP/s1_wind/surfaces/0003_00.obj" || fail "the same seed gave another frame 3"
echo "synth ok"
