#!/usr/bin/env bash
# Bad input gets a clear message naming the file and the problem, a non-zero
# exit, and leaves existing results and checkpoints alone.
source validation/integration/lib.sh
small_config "$TMP/ok.ini" 100
cd "$TMP"
expect_error 1 "cannot open 'missing.ini': no such file" -- "$PHIVE" run missing.ini
printf '[model]\nwidht = 3\n' >typo.ini; echo "include = ok.ini" >>typo.ini
expect_error 1 "unknown key 'model.widht' \(from typo.ini:2\).*did you mean 'model.width'" -- "$PHIVE" run typo.ini
expect_error 1 "command line.*train.iterations.*'ten' is not an integer" -- "$PHIVE" run ok.ini train.iterations=ten
expect_error 1 "train.lr.*nan" -- "$PHIVE" run ok.ini train.lr=nan
expect_error 1 "model.width.*out of range" -- "$PHIVE" run ok.ini model.width=100000
expect_error 1 "sdf.shape.*(sphere\|torus\|box\|capsule|sphere, torus)" -- "$PHIVE" run ok.ini sdf.shape=cube
expect_error 1 "unknown job.type 'sddf'.*did you mean 'sdf'" -- "$PHIVE" run ok.ini job.type=sddf
printf '[train\nbatch = 3\n' >broken.ini
expect_error 1 "broken.ini:1" -- "$PHIVE" run broken.ini
expect_error 1 "(no '='|section.key=value|override)" -- "$PHIVE" run ok.ini train.batch
printf 'include = loop.ini\n' >loop.ini
expect_error 1 "loop.ini.*(cycle|includes itself|recurs)" -- "$PHIVE" run loop.ini

printf '[sweep]\nbase = ok.ini\nscene_key = sdf.shape\nscenes =\n' >empty.sweep
expect_error 1 "empty.sweep.*zero jobs" -- "$PHIVE" sweep empty.sweep
printf '[sweep]\nbase = ok.ini\n[grid]\nmodel.widht = 8 16\n' >typo.sweep
expect_error 1 "typo.sweep.*model.widht.*did you mean 'model.width'" -- "$PHIVE" sweep typo.sweep
printf '[sweep]\nbsae = ok.ini\n' >key.sweep
expect_error 1 "key.sweep.*unknown key 'sweep.bsae'.*did you mean 'sweep.base'" -- "$PHIVE" sweep key.sweep
expect_error 1 "nothere.sweep.*cannot open" -- "$PHIVE" sweep nothere.sweep
expect_error 2 "array-index" -- "$PHIVE" sweep typo.sweep --array-index 3 --array-count 2
touch plainfile
expect_error 1 "plainfile.*(cannot create|not a directory|Not a directory)" -- "$PHIVE" run ok.ini --out plainfile/sub

check "a truncated checkpoint fails the job and is kept as it was"
"$PHIVE" run ok.ini train.iterations=60 --out res 2>/dev/null
job=$(ls res)
cp "res/$job/ckpt.h5" full.h5
mkdir -p "trunc/$job"
head -c $(($(stat -c %s full.h5) / 2)) full.h5 >"trunc/$job/ckpt.h5"
before=$(md5sum <"trunc/$job/ckpt.h5")
expect_error 1 "ckpt.h5.*not a readable HDF5 file" -- "$PHIVE" run ok.ini train.iterations=60 --out trunc
[ "$(md5sum <"trunc/$job/ckpt.h5")" = "$before" ] || fail "the truncated checkpoint was modified"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1]); assert f.attrs['status']=='failed', f.attrs['status']; print('failed result:', f.attrs['error'])" "trunc/$job/result.h5"

check "a checkpoint of another config is refused, not overwritten"
mkdir -p "mism/$job"
"$PHIVE" run ok.ini train.iterations=61 --out tmp61 2>/dev/null
cp tmp61/*/ckpt.h5 "mism/$job/ckpt.h5"
before=$(md5sum <"mism/$job/ckpt.h5")
expect_error 1 "belongs to another config" -- "$PHIVE" run ok.ini train.iterations=60 --out mism
[ "$(md5sum <"mism/$job/ckpt.h5")" = "$before" ] || fail "the foreign checkpoint was modified"

check "a complete result is never overwritten by a failing rerun"
sum=$(md5sum <"res/$job/result.h5")
expect_error 1 "out of range" -- "$PHIVE" run ok.ini train.iterations=60 model.width=0 --out res
[ "$(md5sum <"res/$job/result.h5")" = "$sum" ] || fail "result.h5 changed"
echo "bad-input checks passed"
