#!/usr/bin/env bash
# A 2-rank sweep with more jobs than ranks: jobs are handed to both groups
# dynamically, a failing job (its checkpoint is corrupt) is recorded and the
# sweep goes on, the corrupt checkpoint is left untouched, summaries are
# written, a rerun skips every complete job, `phive report` rebuilds the
# summary, and job-array slices partition the jobs.  A sweep with [variants]
# expands in order with each variant's overrides, and `phive report` writes
# its scenes x variants table per metric.
source validation/integration/lib.sh
small_config "$TMP/base.ini" 150
cat >"$TMP/grid.sweep" <<EOF
[sweep]
name = grid
base = base.ini
scene_key = sdf.shape
scenes = sphere torus box
[set]
eval.points = 2000
[grid]
model.width = 16 24
EOF
"$PHIVE" sweep "$TMP/grid.sweep" --list >"$TMP/ids"
[ "$(wc -l <"$TMP/ids")" -eq 6 ] || fail "expected 6 jobs, got $(wc -l <"$TMP/ids")"
grep -q '^grid-torus-width=24-[0-9a-f]\{8\}$' "$TMP/ids" || fail "unexpected job ids: $(cat "$TMP/ids")"
"$PHIVE" sweep "$TMP/grid.sweep" --list | cmp -s - "$TMP/ids" || fail "job ids are not stable"

victim=$(sed -n 3p "$TMP/ids")
mkdir -p "$TMP/out/$victim"
head -c 3000 /dev/urandom >"$TMP/out/$victim/ckpt.h5"
sum_before=$(md5sum <"$TMP/out/$victim/ckpt.h5")

rc=0
mpirun -np 2 "$PHIVE" sweep "$TMP/grid.sweep" --out "$TMP/out" 2>"$TMP/log" || rc=$?
[ "$rc" -eq 1 ] || { tail -30 "$TMP/log"; fail "a sweep with a failed job should exit 1, got $rc"; }
[ "$(md5sum <"$TMP/out/$victim/ckpt.h5")" = "$sum_before" ] || fail "the corrupt checkpoint was overwritten"
$PY - "$TMP/out" "$victim" <<'PY'
import csv, sys
import h5py
out, victim = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(out + "/summary.csv")))
assert len(rows) == 6, rows
status = {r["job"]: r["status"] for r in rows}
assert status.pop(victim) == "failed" and set(status.values()) == {"complete"}, status
bad = [r for r in rows if r["job"] == victim][0]
assert "ckpt.h5" in bad["error"] and "not a readable HDF5 file" in bad["error"], bad["error"]
groups = {int(h5py.File(f"{out}/{r['job']}/result.h5").attrs["group"]) for r in rows}
assert groups == {0, 1}, f"jobs ran on groups {groups}; both ranks should have taken jobs"
s = h5py.File(out + "/summary.h5")
assert s.attrs["jobs"] == 6 and s[f"jobs/{victim}"].attrs["status"] == "failed"
assert len(s["columns/eval_mae"]) == 6
md = open(out + "/summary.md").read()
assert md.count("| complete |") == 5 and "| failed |" in md, md
print("summary: 5 complete, 1 failed with:", bad["error"][:120])
PY

check "rerun skips the 5 complete jobs and retries the failed one"
rm "$TMP/out/$victim/ckpt.h5"
mpirun -np 2 "$PHIVE" sweep "$TMP/grid.sweep" --out "$TMP/out" 2>"$TMP/log2" || { tail "$TMP/log2"; fail "rerun failed"; }
[ "$(grep -c "complete, skipped" "$TMP/log2")" -eq 5 ] || fail "expected 5 skipped jobs"
grep -q "1 complete, 5 skipped, 0 failed" "$TMP/log2" || fail "the failed job was not rerun to completion"

check "phive report rebuilds the summary"
rm "$TMP/out/summary.csv"
"$PHIVE" report "$TMP/out" 2>/dev/null
[ "$(grep -c ',complete,' "$TMP/out/summary.csv")" -eq 6 ] || fail "report did not rebuild summary.csv"

check "array slices partition the jobs"
for i in 0 1 2; do "$PHIVE" sweep "$TMP/grid.sweep" --array-index $i --array-count 3 --list; done | sort >"$TMP/slices"
sort "$TMP/ids" | cmp -s - "$TMP/slices" || fail "array slices do not partition the jobs"
"$PHIVE" sweep "$TMP/grid.sweep" --out "$TMP/arr" --array-index 1 --array-count 3 2>/dev/null
[ "$(ls "$TMP"/arr/*/result.h5 | wc -l)" -eq 2 ] || fail "array task 1 of 3 should run 2 jobs"
check "variants: scene-major, then variants in file order, then the grid"
small_config "$TMP/vbase.ini" 60
cat >"$TMP/abl.sweep" <<EOF
[sweep]
name = abl
base = vbase.ini
scene_key = sdf.shape
scenes = sphere torus
[set]
eval.points = 2000
[variants]
full =
narrow = model.width=16
shallow = model.hidden_layers=1 train.lr=0.002
[grid]
train.batch = 256 512
EOF
"$PHIVE" sweep "$TMP/abl.sweep" --list | sed 's/-[0-9a-f]\{8\}$//' >"$TMP/vlabels"
for scene in sphere torus; do for v in full narrow shallow; do for b in 256 512; do
    echo "abl-$scene-$v-batch=$b"
done; done; done | cmp -s - "$TMP/vlabels" || fail "unexpected variant jobs: $(cat "$TMP/vlabels")"
printf '[sweep]\nbase = vbase.ini\n[variants]\nnarrow = model.width=16 train.lr\n' >"$TMP/noeq.sweep"
expect_error 1 "noeq.sweep: variant 'narrow': 'train.lr' is not of the form section.key=value" -- "$PHIVE" sweep "$TMP/noeq.sweep" --list

check "variant jobs run with their overrides; phive report writes a scenes x variants table per metric"
sed -i '/^\[grid\]/,$d' "$TMP/abl.sweep"
mpirun -np 2 "$PHIVE" sweep "$TMP/abl.sweep" --out "$TMP/vout" 2>"$TMP/vlog" || { tail -30 "$TMP/vlog"; fail "variant sweep failed"; }
rm "$TMP"/vout/table_*
"$PHIVE" report "$TMP/vout" 2>/dev/null
$PY - "$TMP/vout" <<'PY'
import csv, glob, math, sys
import h5py
out = sys.argv[1]
expect = {"full": (32, 2, 1e-3), "narrow": (16, 2, 1e-3), "shallow": (32, 1, 2e-3)}
mae = {}
for path in glob.glob(out + "/*/result.h5"):
    f = h5py.File(path)
    scene, variant, c = f.attrs["sweep_scene"], f.attrs["sweep_variant"], f["config"].attrs
    got = (int(c["model.width"]), int(c["model.hidden_layers"]), float(c["train.lr"]))
    assert scene == c["sdf.shape"] and got == expect[variant], (path, got)
    mae[scene, variant] = float(f["final"].attrs["eval_mae"])
assert len(mae) == 6, mae
rows = list(csv.reader(open(out + "/table_eval_mae.csv")))
assert rows[0] == ["scene", "full", "narrow", "shallow"], rows[0]
assert [r[0] for r in rows[1:]] == ["sphere", "torus", "mean"], rows
for r in rows[1:3]:
    for v, cell in zip(rows[0][1:], r[1:]):
        assert math.isclose(float(cell), mae[r[0], v], rel_tol=1e-5), (r, v, mae)
for v, cell in zip(rows[0][1:], rows[3][1:]):
    assert math.isclose(float(cell), (mae["sphere", v] + mae["torus", v]) / 2, rel_tol=1e-5), (v, cell)
md = open(out + "/table_eval_mae.md").read().splitlines()
assert md[0] == "| scene | full | narrow | shallow |" and md[-1].startswith("| mean | "), md
print("table_eval_mae.csv:", rows)
PY
grep -qx '| scene | width=16 | width=24 |' "$TMP/out/table_eval_mae.md" && [ "$(wc -l <"$TMP/out/table_eval_mae.md")" -eq 6 ] ||
    fail "the grid sweep's table: $(cat "$TMP/out/table_eval_mae.md")"
echo "sweep checks passed"
