#!/usr/bin/env bash
# The `neus` job on a strongly downscaled DTU scan 65 with a tiny network: it
# trains, result.h5 has the series (loss, psnr_train, inv_s) and the held-out
# PSNR, mesh.ply is a mesh in DTU's world frame, 2 ranks give 1 rank's loss
# curve up to float rounding, a resumed run continues the same curve, and a
# bad data.root is a clear error.  The evaluations write full-image renders
# (renders/*.png, psnr_render); `phive mesh` rebuilds the job's mesh from its
# checkpoint, keeps an existing output without --force and names a missing or
# truncated checkpoint.  With the NeRF++ background (no masks), and with HIVE's feature volumes
# (6-tap FD gradient, normal smoothness, TV), the loss falls and 2 ranks give 1 rank's curve; HIVE's
# three stages (dense, + sparse 64³, + sparse 128³) activate bricks around the surface, agree on 1
# and 2 ranks, and a run stopped mid-stage resumes to the uninterrupted curve; with Instant-NGP's
# hash grid the loss falls.
# Skipped when the data set is absent.
source validation/integration/lib.sh
DATA=${NEUS_DATA:-$PWD/../shared/data/dtu_scan65}
if [ ! -f "$DATA/cameras_sphere.npz" ]; then
    echo "SKIP: no data set at $DATA"
    exit 0
fi
neus_config() { # file iterations [extra lines]
    cat >"$1" <<EOC
[job]
type = neus
name = t
seed = 3
[data]
root = $DATA
downscale = 16
[model]
sdf_layers = 2
sdf_width = 32
sdf_skip = 0
sdf_features = 16
pe_xyz = 2
color_layers = 2
color_width = 32
pe_dir = 2
[render]
n_samples = 16
n_importance = 16
up_sample_steps = 2
[train]
iterations = $2
batch = 64
warmup = 10
anneal_end = 40
[eval]
every = 50
rays = 128
[mesh]
resolution = 32
[run]
threads = 1
checkpoint_every = 10
log_every = 50
${3:-}
EOC
}
neus_config "$TMP/job.ini" 200
check "1-rank run"
"$PHIVE" run "$TMP/job.ini" --out "$TMP/one" 2>"$TMP/log1" || { cat "$TMP/log1"; fail "run failed"; }
grep "held-out PSNR" "$TMP/log1"
check "2-rank run"
mpirun -np 2 "$PHIVE" run "$TMP/job.ini" --out "$TMP/two" 2>"$TMP/log2" || { cat "$TMP/log2"; fail "2-rank run failed"; }
$PY - "$TMP" <<'PY'
import glob, sys
import h5py, numpy as np
t = sys.argv[1]
one = h5py.File(glob.glob(t + "/one/*/result.h5")[0])
two = h5py.File(glob.glob(t + "/two/*/result.h5")[0])
assert one.attrs["ranks"] == 1 and two.attrs["ranks"] == 2
for k in ("loss", "lr", "psnr_train", "inv_s", "psnr_test", "psnr_test_masked", "psnr_test_iteration",
          "psnr_render", "psnr_render_iteration"):
    assert k in one["metrics"], f"result.h5 lacks metrics/{k}"
a, b = one["metrics/loss"][:], two["metrics/loss"][:]
assert len(a) == len(b) == 200, (len(a), len(b))
assert np.all(np.isfinite(a)), a
rel = np.max(np.abs(a - b) / np.abs(a))
print(f"loss curves: {len(a)} iterations, 1 rank {a[0]:.5f} -> {a[-1]:.5f}, max relative difference 1 vs 2 ranks {rel:.3g}")
assert rel < 1e-4, rel
p = one["metrics/psnr_test"][:]
its = one["metrics/psnr_test_iteration"][:]
print("held-out PSNR:", ", ".join(f"it {int(i)}: {v:.2f} dB" for i, v in zip(its, p)))
assert list(its) == [50, 100, 150, 200] and np.all(np.isfinite(p)) and p.min() > 5, (its, p)
rp = np.max(np.abs(p - two["metrics/psnr_test"][:]))
print(f"held-out PSNR 1 vs 2 ranks: max difference {rp:.3g} dB")
assert rp < 1e-2, rp
pr, pri = one["metrics/psnr_render"][:], one["metrics/psnr_render_iteration"][:]
print("full-image render PSNR:", ", ".join(f"it {int(i)}: {v:.2f} dB" for i, v in zip(pri, pr)))
assert list(pri) == [50, 100, 150, 200] and np.all(np.isfinite(pr)) and pr.min() > 5, (pri, pr)
rr = np.max(np.abs(pr - two["metrics/psnr_render"][:]))
print(f"full-image render PSNR 1 vs 2 ranks: max difference {rr:.3g} dB")
assert rr < 1e-2, rr
fin = dict(one["final"].attrs)
print("final:", {k: round(float(v), 4) for k, v in fin.items()})
for k in ("psnr_test", "psnr_train", "inv_s", "loss"):
    assert k in fin, k
PY
check "mesh.ply"
for m in "$TMP"/one/*/mesh.ply "$TMP"/two/*/mesh.ply; do
    [ -s "$m" ] || fail "no mesh.ply"
done
$PY - "$(ls "$TMP"/one/*/mesh.ply)" "$DATA/cameras_sphere.npz" <<'PY'
import sys
import numpy as np
with open(sys.argv[1], "rb") as f:
    data = f.read()
head, body = data.split(b"end_header\n", 1)
nv = int([l for l in head.split(b"\n") if l.startswith(b"element vertex")][0].split()[-1])
nf = int([l for l in head.split(b"\n") if l.startswith(b"element face")][0].split()[-1])
v = np.frombuffer(body[: 12 * nv], dtype="<f4").reshape(nv, 3)
S = np.load(sys.argv[2])["scale_mat_0"]
x = (v - S[:3, 3]) / S[0, 0]  # back to the unit-sphere frame
print(f"mesh: {nv} vertices, {nf} faces, normalised extent {x.min(0).round(3)} .. {x.max(0).round(3)}")
assert nv > 100 and nf > 100 and np.all(np.abs(x) <= 1.0101), "mesh outside [-1.01, 1.01]^3 after scale_mat_0"
PY
check "renders: ground truth | colour | normals at 1/4 of the data set's resolution"
$PY - "$TMP" "$(ls "$DATA"/image/*.png | head -1)" <<'PY'
import glob, sys
def png_size(path):  # IHDR: width, height
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
W, H = png_size(sys.argv[2])
w, h = W // 16 // 4, H // 16 // 4  # data.downscale 16, eval.render_downscale 4 (default)
for run in ("one", "two"):
    pngs = sorted(glob.glob(f"{sys.argv[1]}/{run}/*/renders/view_*_it_*.png"))
    names = [p.rsplit("/", 1)[1] for p in pngs]
    assert names == [f"view_000_it_{i:07d}.png" for i in (50, 100, 150, 200)], names
    assert png_size(pngs[-1]) == (3 * w, h), (png_size(pngs[-1]), 3 * w, h)
print(f"renders: {len(names)} a run, {3 * w} x {h} (3 x {w} wide)")
PY
check "phive mesh: the job's mesh from its checkpoint"
JOB=$(ls -d "$TMP"/one/*/)
JOB=${JOB%/}
"$PHIVE" mesh "$JOB" --resolution 32 || fail "phive mesh failed"
mesh_counts() { head -c 400 "$1" | grep -a "^element" | tr '\n' ' '; }
[ "$(mesh_counts "$JOB/mesh_32.ply")" = "$(mesh_counts "$JOB/mesh.ply")" ] ||
    fail "mesh_32.ply ($(mesh_counts "$JOB/mesh_32.ply")) is not the job's mesh.ply ($(mesh_counts "$JOB/mesh.ply"))"
echo "ok: mesh_32.ply has the job's counts: $(mesh_counts "$JOB/mesh.ply")"
cp "$JOB/mesh_32.ply" "$TMP/mesh_32.copy"
expect_error 1 "mesh_32.ply exists.*--force" -- "$PHIVE" mesh "$JOB" --resolution 32
cmp -s "$JOB/mesh_32.ply" "$TMP/mesh_32.copy" || fail "a refused phive mesh changed mesh_32.ply"
mkdir "$TMP/interrupted" "$TMP/no_ckpt" "$TMP/truncated"
cp "$JOB/ckpt.h5" "$TMP/interrupted/" # an interrupted job: a checkpoint and no result.h5
mpirun -np 2 "$PHIVE" mesh "$TMP/interrupted" --out "$TMP/interrupted.ply" || fail "phive mesh on 2 ranks failed"
# the same mesh up to float rounding: BLAS may sum the SDF's dot products in another order with
# another thread count, so vertices may move by an ulp-level fraction of the scene
$PY - "$TMP/interrupted.ply" "$JOB/mesh_32.ply" <<'PY' || fail "the 2-rank mesh of the bare checkpoint differs"
import sys
import numpy as np
def ply(path):
    data = open(path, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    n = int([l for l in data[:end].decode().splitlines() if l.startswith("element vertex")][0].split()[2])
    return data[:end], np.frombuffer(data[end:end + 12 * n], dtype="<f4").reshape(n, 3), data[end + 12 * n:]
(ha, va, fa), (hb, vb, fb) = ply(sys.argv[1]), ply(sys.argv[2])
assert ha == hb and fa == fb, "header or faces differ"
extent = float(np.ptp(vb, axis=0).max())
err = float(np.abs(va - vb).max()) / extent
assert err < 1e-5, f"vertices differ by {err:.3g} of the extent"
print(f"ok: 2 ranks, checkpoint only: the same mesh (faces identical, vertices within {err:.2g} of the extent)")
PY
cp "$JOB/result.h5" "$TMP/no_ckpt/"
expect_error 1 "no_ckpt/ckpt.h5.*no checkpoint" -- "$PHIVE" mesh "$TMP/no_ckpt"
head -c 20000 "$JOB/ckpt.h5" >"$TMP/truncated/ckpt.h5"
expect_error 1 "truncated/ckpt.h5.*(truncated|corrupt)" -- "$PHIVE" mesh "$TMP/truncated"
[ -z "$(ls "$TMP/no_ckpt" "$TMP/truncated" | grep mesh)" ] || fail "a failed phive mesh left a mesh behind"
check "resume: a run stopped by SIGUSR1 after a checkpoint, then rerun, gives the uninterrupted curve"
resume_after_interrupt "$TMP/job.ini" "$TMP/res"
same_datasets "resumed run" "$TMP/one" "$TMP/res" metrics/loss metrics/psnr_test metrics/inv_s
# ranks_match LABEL NAME OVERRIDES...: the job ($INI, default job.ini) on 1 and on 2 ranks ($TMP/NAME1, $TMP/NAME2): 60 finite
# losses that fall and agree to 1e-4; then phive mesh of the 1-rank job.
ranks_match() {
    local label=$1 name=$2
    shift 2
    "$PHIVE" run "${INI:-$TMP/job.ini}" "$@" --out "$TMP/${name}1" 2>"$TMP/log${name}1" ||
        { cat "$TMP/log${name}1"; fail "$label run failed"; }
    mpirun -np 2 "$PHIVE" run "${INI:-$TMP/job.ini}" "$@" --out "$TMP/${name}2" 2>"$TMP/log${name}2" ||
        { cat "$TMP/log${name}2"; fail "2-rank $label run failed"; }
    $PY - "$TMP" "$name" "$label" <<'PY'
import glob, sys
import h5py, numpy as np
t, name, label = sys.argv[1:4]
one = h5py.File(glob.glob(f"{t}/{name}1/*/result.h5")[0])
two = h5py.File(glob.glob(f"{t}/{name}2/*/result.h5")[0])
a, b = one["metrics/loss"][:], two["metrics/loss"][:]
rel = np.max(np.abs(a - b) / np.abs(a))
first, last = a[:10].mean(), a[-10:].mean()
print(f"{label}: loss {first:.4f} -> {last:.4f} (means of 10), 1 vs 2 ranks {rel:.3g}")
assert len(a) == 60 and np.all(np.isfinite(a)) and rel < 1e-4 and last < first, (rel, first, last)
PY
    local job
    job=$(ls -d "$TMP/${name}1"/*/)
    "$PHIVE" mesh "${job%/}" --resolution 24 || fail "phive mesh of the $label model failed"
    [ -s "${job%/}/mesh_24.ply" ] || fail "no mesh_24.ply for $label"
}
check "NeRF++ background without masks: 1 and 2 ranks, the loss falls, phive mesh reads the model"
ranks_match background bg model.background=true model.bg_layers=2 model.bg_width=32 model.bg_skip=0 model.pe_bg=2 \
    model.pe_bg_dir=1 render.n_outside=8 train.mask_weight=0 train.iterations=60 eval.every=30 run.checkpoint_every=30
check "HIVE feature volumes (6-tap FD, normal smoothness, TV): 1 and 2 ranks, the loss falls, phive mesh"
ranks_match volumes hv model.encoding=volumes volumes.count=3 volumes.res_min=4 volumes.res_max=16 volumes.channels=2 \
    volumes.pe=2 render.gradient=fd6 train.normal_weight=0.001 train.tv_weight=0.01 train.iterations=60 eval.every=30 \
    run.checkpoint_every=30
check "HIVE's three stages (sparse 64^3 and 128^3 from the stage's surface): 1 and 2 ranks, phive mesh"
STAGES=$'[volumes]\ncount = 3\nres_min = 4\nres_max = 16\nchannels = 2\npe = 2\n[sparse]\nresolutions = 64,128
index_resolution = 32\nbuild_resolution = 32\nband = 0.05\n[train]\nstages = 20,20,20\ntv_weight = 0.01
normal_weight = 0.001\n[model]\nencoding = volumes\n[render]\ngradient = fd6\n[eval]\nevery = 30'
neus_config "$TMP/stages.ini" 60 "$STAGES"
INI="$TMP/stages.ini" ranks_match "three stages" st
$PY - "$TMP" <<'PY'
import glob, sys
import h5py, numpy as np
t = sys.argv[1]
job = glob.glob(t + "/st1/*/")[0]
r, c = h5py.File(job + "result.h5"), h5py.File(job + "ckpt.h5")
for k, (res, side) in enumerate([(64, 2), (128, 4)]):
    bricks = c[f"structure/sparse{k}_bricks"][:]
    n = (res // side) ** 3
    rows = c[f"params/sparse{k}"].shape[0]
    mib = r["final"].attrs[f"sparse{k}_mib"]
    print(f"sparse {res}^3: {len(bricks)} of {n} bricks active, {rows} rows, {mib:.2f} MiB")
    assert 0 < len(bricks) < n and np.all(np.diff(bricks.astype(np.int64)) > 0), "bricks: none, all or not ascending"
    assert rows == len(bricks) * side ** 3 + 1, "table rows != bricks x brick size + the shared row"
    assert r["final"].attrs[f"sparse{k}_bricks"] == len(bricks)
    assert abs(mib * 2**20 - (16 * rows * 2 + 4 * n)) < 1, "memory figure != 4 buffers x rows x C x 4 B + index"
PY
check "three stages: a run stopped mid-stage by SIGUSR1 resumes to the uninterrupted curve"
sed -i 's/^checkpoint_every = 10$/checkpoint_every = 25/' "$TMP/stages.ini"
"$PHIVE" run "$TMP/stages.ini" --out "$TMP/st_whole" 2>"$TMP/log_st_whole" || { cat "$TMP/log_st_whole"; fail "run failed"; }
resume_after_interrupt "$TMP/stages.ini" "$TMP/st_res"
grep "sparse volume 64^3 restored" "$TMP/log_resumed" || fail "the resumed run did not restore the sparse volume"
same_datasets "three stages resumed" "$TMP/st_whole" "$TMP/st_res" metrics/loss metrics/psnr_test metrics/inv_s
expect_error 1 "train.stages = '20,40' lists 2 stages; sparse.resolutions = '64,128' needs 3" -- "$PHIVE" run \
    "$TMP/stages.ini" train.stages=20,40 --out "$TMP/bad"
expect_error 1 "train.stages = '20,20,30' sums to 70 iterations, train.iterations is 60" -- "$PHIVE" run \
    "$TMP/stages.ini" train.stages=20,20,30 --out "$TMP/bad"
expect_error 1 "sparse volume 0: resolution 64 over an index table of 24 bricks" -- "$PHIVE" run \
    "$TMP/stages.ini" sparse.index_resolution=24 --out "$TMP/bad"
expect_error 1 "model.encoding = volumes needs render.gradient = fd or fd6" -- "$PHIVE" run "$TMP/job.ini" \
    model.encoding=volumes --out "$TMP/bad"
check "NeuS+Hash (a hash grid with hashed levels, tetrahedral FD): the loss falls, phive mesh"
HASH=(model.encoding=hash hash.levels=4 hash.res_min=4 hash.res_max=32 hash.log2_table=10 hash.features=2
      render.gradient=fd train.iterations=60 eval.every=30 run.checkpoint_every=30)
"$PHIVE" run "$TMP/job.ini" "${HASH[@]}" --out "$TMP/hash" 2>"$TMP/loghash" || { cat "$TMP/loghash"; fail "hash run failed"; }
$PY - "$TMP" <<'PY'
import glob, sys
import h5py, numpy as np
f = h5py.File(glob.glob(sys.argv[1] + "/hash/*/result.h5")[0])
a = f["metrics/loss"][:]
first, last = a[:10].mean(), a[-10:].mean()
print(f"hash grid: loss {first:.4f} -> {last:.4f} (means of 10)")
assert len(a) == 60 and np.all(np.isfinite(a)) and last < first, (first, last)
PY
HASHJOB=$(ls -d "$TMP"/hash/*/)
"$PHIVE" mesh "${HASHJOB%/}" --resolution 24 || fail "phive mesh of the hash model failed"
expect_error 1 "model.encoding = hash needs render.gradient = fd or fd6" -- "$PHIVE" run "$TMP/job.ini" \
    model.encoding=hash --out "$TMP/bad"
expect_error 1 "train.normal_weight.*needs render.gradient = fd6" -- "$PHIVE" run "$TMP/job.ini" train.normal_weight=0.1 \
    --out "$TMP/bad"
check "bad data.root"
expect_error 1 "data.root.*nonexistent_dir.*(no such|cannot)" -- "$PHIVE" run "$TMP/job.ini" --out "$TMP/bad" data.root="$TMP/nonexistent_dir"
echo "PASS"
