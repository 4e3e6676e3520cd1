#!/usr/bin/env bash
# The `neus` job on a strongly downscaled DTU scan 65 with a tiny network: it
# trains, result.h5 has the series (loss, psnr_train, inv_s) and the held-out
# PSNR, mesh.ply is a mesh in DTU's world frame, 2 ranks give 1 rank's loss
# curve up to float rounding, a resumed run continues the same curve, and a
# bad data.root is a clear error.  Skipped when the data set is absent.
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
for k in ("loss", "lr", "psnr_train", "inv_s", "psnr_test", "psnr_test_masked", "psnr_test_iteration"):
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
check "resume: a run stopped by SIGUSR1 after a checkpoint, then rerun, gives the uninterrupted curve"
resume_after_interrupt "$TMP/job.ini" "$TMP/res"
$PY - "$TMP" <<'PY'
import glob, sys
import h5py, numpy as np
t = sys.argv[1]
a = h5py.File(glob.glob(t + "/one/*/result.h5")[0])
b = h5py.File(glob.glob(t + "/res/*/result.h5")[0])
for k in ("loss", "psnr_test", "inv_s"):
    assert np.array_equal(a["metrics/" + k][:], b["metrics/" + k][:]), k
print(f"resumed run: loss curve ({len(b['metrics/loss'])}) and held-out PSNR bit-identical to the uninterrupted run")
PY
check "bad data.root"
expect_error 1 "data.root.*nonexistent_dir.*(no such|cannot)" -- "$PHIVE" run "$TMP/job.ini" --out "$TMP/bad" data.root="$TMP/nonexistent_dir"
echo "PASS"
