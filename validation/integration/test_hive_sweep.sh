#!/usr/bin/env bash
# HIVE's synthetic ablation pipeline end to end, tiny: `phive synth scene` writes a relief scene
# with DTU-format ground truth, a sweep over NeuS, NeuS+Hash and NeuS+HIVE (the base config of
# jobs/hive_synth_ablation.sweep with small sizes) runs on 2 ranks, every job scores its mesh by
# the DTU protocol (eval.dtu_gt relative to the data set, data.collection), and `phive report
# --print` prints the scenes x variants table of overall_mm and plots PSNR and Chamfer (scored at
# every evaluation, eval.dtu_series) against iterations, a line per job; hive_sparse adds the sparse
# stages.  A missing eval.dtu_gt is an error before training, and so is a scan number that the data
# set's name does not give.
source validation/integration/lib.sh
check "a tiny relief scene"
"$PHIVE" synth scene configs/synth/relief.ini synth.dir="$TMP/synth/relief" cameras.count=10 cameras.width=48 \
    cameras.height=36 synth.gt_points=20000 synth.gt_resolution=48 2>"$TMP/log_synth" ||
    { cat "$TMP/log_synth"; fail "phive synth scene failed"; }
cat >"$TMP/abl.sweep" <<EOF2
[sweep]
name = tiny
base = $PWD/configs/hive/synth_relief_hive.ini
scene_key = data.root
scenes = relief
[set]
data.collection = $TMP/synth
eval.dtu_gt = gt
eval.dtu_scan = 1
eval.dtu_series = true
train.iterations = 30
train.batch = 64
train.warmup = 5
train.anneal_end = 20
eval.every = 15
eval.rays = 128
eval.render_views = 0
run.checkpoint_every = 15
mesh.resolution = 40
model.sdf_width = 16
model.sdf_features = 8
model.color_width = 16
render.n_samples = 8
render.n_importance = 8
render.up_sample_steps = 2
volumes.count = 3
volumes.res_min = 4
volumes.res_max = 16
volumes.channels = 2
[variants]
neus = model.encoding=positional render.gradient=analytic train.tv_weight=0 train.normal_weight=0
hash = model.encoding=hash render.gradient=fd train.tv_weight=0 train.normal_weight=0 hash.levels=3 hash.res_min=4 hash.res_max=32 hash.log2_table=10
hive =
hive_sparse = sparse.resolutions=32 sparse.index_resolution=8 sparse.build_resolution=24 sparse.band=0.05 train.stages=15,15
EOF2
check "the sweep on 2 ranks"
mpirun -np 2 "$PHIVE" sweep "$TMP/abl.sweep" --out "$TMP/out" 2>"$TMP/log" || { tail -30 "$TMP/log"; fail "sweep failed"; }
grep -q "DTU protocol against $TMP/synth/relief/gt" "$TMP/log" || fail "no job scored its mesh"
check "phive report prints the overall_mm table"
"$PHIVE" report "$TMP/out" --print overall_mm >"$TMP/table" 2>"$TMP/log_report" || { cat "$TMP/log_report"; fail "report failed"; }
cat "$TMP/table"
$PY - "$TMP/table" <<'PY'
import sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.startswith("|")]
header = [c.strip() for c in lines[0].strip("|").split("|")]
assert header[1:] == ["neus", "hash", "hive", "hive_sparse"], header
row = [c.strip() for c in lines[2].strip("|").split("|")]
assert row[0] == "relief", row
values = [float(v) for v in row[1:]]
# a tiny run: a surface somewhere near the object, scored in mm (the scene's radius is 100 mm)
assert all(0 < v < 100 for v in values), values
print("overall_mm:", dict(zip(header[1:], values)))
PY
check "plots of held-out PSNR (masked: at psnr_test_iteration) and DTU overall against iterations: a line per job, its points at 15 and 30"
$PY - "$TMP/out" <<'PY'
import re, sys
for series in ("psnr_test", "psnr_test_masked", "overall_mm"):
    svg = open(f"{sys.argv[1]}/plot_{series}.svg").read()
    lines = re.findall(r'<polyline[^>]*points="([^"]*)"', svg)
    labels = re.findall(r'<text x="[0-9.]+" y="[0-9.]+">(relief [a-z_]+)</text>', svg)
    assert len(lines) == 4 and sorted(labels) == ["relief hash", "relief hive", "relief hive_sparse", "relief neus"], labels
    assert all(len(l.split()) == 2 for l in lines), lines
    print(f"plot_{series}.svg: {len(lines)} lines of 2 points ({', '.join(sorted(labels))})")
PY
check "bad eval.dtu_gt: an error before training"
expect_error 1 "eval.dtu_gt.*nowhere/Points/stl/stl001_total.ply" -- "$PHIVE" run configs/hive/synth_relief_neus.ini \
    data.root="$TMP/synth/relief" eval.dtu_gt=nowhere eval.dtu_scan=1 --out "$TMP/bad"
expect_error 1 "eval.dtu_scan = 0.*relief.*does not end with a scan number" -- "$PHIVE" run \
    configs/hive/synth_relief_neus.ini data.root="$TMP/synth/relief" eval.dtu_gt=gt --out "$TMP/bad"
expect_error 1 "data.format = strecha needs data.region" -- "$PHIVE" run configs/hive/synth_relief_neus.ini \
    data.root="$TMP/synth/relief/image" data.format=strecha --out "$TMP/bad"
expect_error 1 "synth/relief/image/000.png.camera" -- "$PHIVE" run configs/hive/synth_relief_neus.ini \
    data.root="$TMP/synth/relief/image" data.format=strecha data.region=-1,-1,-1,1,1,1 --out "$TMP/bad"
# the box from a file inside the data set (one per scene of an EPFL sweep): read, then the camera is missing
printf -- '-1 -1 -1\n1 1 1\n' >"$TMP/synth/relief/image/region.txt"
expect_error 1 "synth/relief/image/000.png.camera" -- "$PHIVE" run configs/hive/synth_relief_neus.ini \
    data.root="$TMP/synth/relief/image" data.format=strecha data.region=region.txt --out "$TMP/bad"
printf -- '-1 -1 -1 1 1\n' >"$TMP/synth/relief/image/short.txt"
expect_error 1 "short.txt \(data.region\): expected six numbers" -- "$PHIVE" run configs/hive/synth_relief_neus.ini \
    data.root="$TMP/synth/relief/image" data.format=strecha data.region=short.txt --out "$TMP/bad"
expect_error 1 "data.region.*nofile.txt" -- "$PHIVE" run configs/hive/synth_relief_neus.ini \
    data.root="$TMP/synth/relief/image" data.format=strecha data.region=nofile.txt --out "$TMP/bad"
expect_error 2 "usage: phive report DIR \[--print METRIC" -- "$PHIVE" report "$TMP/out" --print
expect_error 1 "table_nosuch.md" -- "$PHIVE" report "$TMP/out" --print nosuch
echo "PASS"
