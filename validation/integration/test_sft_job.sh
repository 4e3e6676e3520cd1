#!/usr/bin/env bash
# The `sft` job end to end on a tiny synthetic sequence from `phive synth cloth` (10 frames of a
# 10 × 10 cloth falling onto a sphere, 192 × 108 px): the fit lowers the loss and brings the surfaces
# closer to the ground truth than the initial state does; result.h5, meshes and previews are
# written; 2 ranks (frames split across them, gradients all-reduced) follow the 1-rank run; a run
# stopped by SIGUSR1 resumes to the same curve; the "Only F" model runs; bad input is a clear
# error that leaves existing results alone.
source validation/integration/lib.sh
SEQ=$TMP/seq
check "synthetic sequence"
"$PHIVE" synth cloth configs/sft/synth/s3_drop.ini synth.dir="$SEQ" synth.frames=10 cloth.grid=10 camera.width=192 \
    camera.height=108 synth.cloud_points=500 --out "$TMP/synth" 2>"$TMP/log_synth" || { cat "$TMP/log_synth"; fail "synth failed"; }
sft_config() { # file iterations [extra lines]
    cat >"$1" <<EOC
include = $PWD/configs/sft/synthetic.ini
[job]
name = t
[data]
root = $SEQ
crop_margin = 16
[window]
initial = 3
max_iterations = 3
[train]
iterations = $2
lr_correctives = 1e-2
converge_tol = 0
[output]
preview_every = 4
[run]
threads = 1
checkpoint_every = 10
log_every = 100
${3:-}
EOC
}
sft_config "$TMP/start.ini" 0
sft_config "$TMP/job.ini" 60
check "initial state (0 iterations) and a 60-iteration fit on 1 rank"
"$PHIVE" run "$TMP/start.ini" --out "$TMP/start" 2>"$TMP/log0" || { cat "$TMP/log0"; fail "0-iteration run failed"; }
"$PHIVE" run "$TMP/job.ini" --out "$TMP/one" 2>"$TMP/log1" || { cat "$TMP/log1"; fail "run failed"; }
grep "ground truth" "$TMP/log1"
for f in meshes/mesh_000.obj meshes/mesh_009.obj previews/compare_000.png previews/compare_004.png \
    previews/depth_009.png material.json; do
    ls "$TMP"/one/*/"$f" >/dev/null || fail "missing $f"
done
check "2-rank fit"
mpirun -np 2 "$PHIVE" run "$TMP/job.ini" --out "$TMP/two" 2>"$TMP/log2" || { cat "$TMP/log2"; fail "2-rank run failed"; }
$PY - "$TMP" <<'PY'
import glob, sys
import h5py, numpy as np
t = sys.argv[1]
start = h5py.File(glob.glob(t + "/start/*/result.h5")[0])
one = h5py.File(glob.glob(t + "/one/*/result.h5")[0])
two = h5py.File(glob.glob(t + "/two/*/result.h5")[0])
f0, f1 = dict(start["final"].attrs), dict(one["final"].attrs)
print(f"initial: loss {f0['loss']:.5f}, e_3D {f0['e3d_mean']:.4f}, Chamfer x1e4 {f0['chamfer_x1e4_mean']:.3f}")
print(f"fitted:  loss {f1['loss']:.5f}, e_3D {f1['e3d_mean']:.4f}, Chamfer x1e4 {f1['chamfer_x1e4_mean']:.3f}")
assert f1["loss"] < 0.8 * f0["loss"], "the fit did not lower the loss over the sequence"
assert f1["e3d_mean"] < 0.8 * f0["e3d_mean"], "the fitted surfaces are not closer to the ground truth"
assert f1["chamfer_x1e4_mean"] < f0["chamfer_x1e4_mean"]
m = one["metrics"]
for k in ("loss", "loss_rgb", "loss_silhouette", "window", "time_simulate", "time_render", "time_render_backward",
          "time_adjoint", "phi_density", "phi_wind_x", "phi_stretching_mean"):
    assert k in m and len(m[k]) == 60, k
w = m["window"][:]
assert w[0] == 3 and w[-1] == 10 and np.all(np.diff(w) >= 0), w
o = one["outputs"]
assert o["positions"].shape == (10, 100, 3) and o["phi_correctives"].shape == (9, 100, 3), o["positions"].shape
assert o["phi_stretching"].shape == (6, 4) and o["phi_bending"].shape == (3, 5) and o["frame_loss_rgb"].shape == (10,)
assert o["frame_e3d"][0] < 1e-6  # frame 0 is the template, which is the ground truth there
# the same iterations up to float rounding in the gradient sums, which Adam's normalisation lets
# grow over the iterations: close at first, and as good a fit at the end
a, b = m["loss"][:], two["metrics/loss"][:]
rel = np.max(np.abs(a[:10] - b[:10]) / np.abs(a[:10]))
f2 = dict(two["final"].attrs)
print(f"1 vs 2 ranks: first 10 losses max relative difference {rel:.3g}; final e_3D {f1['e3d_mean']:.4f} / {f2['e3d_mean']:.4f}")
assert two.attrs["ranks"] == 2 and rel < 1e-4, rel
assert f2["e3d_mean"] < 0.8 * f0["e3d_mean"] and f2["loss"] < 0.8 * f0["loss"]
PY
check "resume: SIGUSR1 after a checkpoint, rerun, same curve"
resume_after_interrupt "$TMP/job.ini" "$TMP/res"
same_datasets "resumed run" "$TMP/one" "$TMP/res" metrics/loss metrics/window metrics/phi_density outputs/positions
check "Only F (per-vertex offsets)"
"$PHIVE" run "$TMP/job.ini" model.deformation=offsets train.iterations=10 --out "$TMP/onlyf" 2>"$TMP/logf" ||
    { cat "$TMP/logf"; fail "Only F failed"; }
$PY - "$TMP" <<'PY'
import glob, sys
import h5py
f = h5py.File(glob.glob(sys.argv[1] + "/onlyf/*/result.h5")[0])
assert f["outputs/phi_offsets"].shape == (10, 100, 3) and "phi_correctives" not in f["outputs"]
print("Only F: offsets", f["outputs/phi_offsets"].shape, "e_3D", round(float(f["final"].attrs["e3d_mean"]), 4))
PY
check "bad input"
expect_error 1 "nonexistent.*camera.json.*(no such|cannot)" -- "$PHIVE" run "$TMP/job.ini" data.root="$TMP/nonexistent" --out "$TMP/bad"
cp -r "$SEQ" "$TMP/holes" && rm "$TMP/holes/masks/mask_005.png"
expect_error 1 "mask_005.png: missing" -- "$PHIVE" run "$TMP/job.ini" data.root="$TMP/holes" --out "$TMP/bad"
cp "$TMP/holes/templates/template.obj" "$TMP/holes/templates/other.obj"
cp "$SEQ/masks/mask_005.png" "$TMP/holes/masks/"
expect_error 1 "templates holds 2 .obj files" -- "$PHIVE" run "$TMP/job.ini" data.root="$TMP/holes" --out "$TMP/bad"
head -c 200 "$SEQ/rgbs/rgb_003.png" >"$TMP/holes/rgbs/rgb_003.png" && rm "$TMP/holes/templates/other.obj"
expect_error 1 "rgb_003.png" -- "$PHIVE" run "$TMP/job.ini" data.root="$TMP/holes" --out "$TMP/bad"
expect_error 1 "unknown key 'window.inital'.*window.initial" -- "$PHIVE" run "$TMP/job.ini" window.inital=4 --out "$TMP/bad"
expect_error 1 "iteration 0: cloth step .*diverged.*after 0 restart" -- "$PHIVE" run "$TMP/job.ini" \
    "sim.petsc=-ksp_max_it 1" --out "$TMP/bad"
check "a failed rerun (--force) leaves the earlier results alone"
cp -r "$SEQ" "$TMP/copy"
"$PHIVE" run "$TMP/start.ini" data.root="$TMP/copy" --out "$TMP/keep" 2>/dev/null || fail "run on the copy failed"
before=$(md5sum "$TMP"/keep/*/result.h5 "$TMP"/keep/*/meshes/mesh_005.obj)
rm "$TMP/copy/masks/mask_005.png"
expect_error 1 "mask_005.png: missing" -- "$PHIVE" run "$TMP/start.ini" data.root="$TMP/copy" --out "$TMP/keep" --force
[ "$(md5sum "$TMP"/keep/*/result.h5 "$TMP"/keep/*/meshes/mesh_005.obj)" = "$before" ] || fail "a failed run touched earlier results"
echo "PASS"
