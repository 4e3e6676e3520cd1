#!/usr/bin/env bash
# `phive render` on the ϕ-SfT S1 template (../shared/data/phisft_r1): the template is the cloth
# of frame 0 in the camera frame, so its hard silhouette must cover mask_000 closely (IoU 0.95
# measured at 1920x1080 and at --downscale 2).  Outputs exist with the right sizes and layouts;
# bad input fails with a non-zero exit and a message naming the file or option.
source validation/integration/lib.sh
DATA=$PWD/../shared/data/phisft_r1
if [ ! -f "$DATA/templates/template.obj" ]; then
    echo "skipping: $DATA is not present"
    exit 0
fi
MESH=$DATA/templates/template.obj
TEX=$DATA/templates/texture.png
CAM=$DATA/camera.json
RGB=$DATA/rgbs/rgb_000.png
MASK=$DATA/masks/mask_000.png

# iou_of LOG: the IoU the render printed
iou_of() { sed -n 's/^IoU(silhouette, .*) = \([0-9.]*\) .*/\1/p' "$1"; }

check "full resolution: outputs, sizes, IoU with mask_000"
"$PHIVE" render --mesh "$MESH" --texture "$TEX" --camera "$CAM" --image "$RGB" --mask "$MASK" --out "$TMP/full" \
    >"$TMP/full.log" 2>&1 || { cat "$TMP/full.log"; fail "render at 1920x1080 failed"; }
cat "$TMP/full.log"
iou_full=$(iou_of "$TMP/full.log")
[ -n "$iou_full" ] || fail "no IoU line in the output"

check "--downscale 2 with the full-resolution frame and mask"
"$PHIVE" render --mesh "$MESH" --texture "$TEX" --camera "$CAM" --image "$RGB" --mask "$MASK" --out "$TMP/half" \
    --downscale 2 >"$TMP/half.log" 2>&1 || { cat "$TMP/half.log"; fail "render at --downscale 2 failed"; }
cat "$TMP/half.log"
iou_half=$(iou_of "$TMP/half.log")
[ -n "$iou_half" ] || fail "no IoU line in the downscaled output"

$PY - "$TMP" "$iou_full" "$iou_half" "$MASK" <<'PY'
import sys
import numpy as np
from skimage import io
root, iou_full, iou_half, mask_path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
for sub, (w, h) in (("full", (1920, 1080)), ("half", (960, 540))):
    d = f"{root}/{sub}"
    shapes = {n: io.imread(f"{d}/{n}.png").shape for n in ("rgb", "alpha", "silhouette", "normal", "overlay", "depth")}
    for n in ("rgb", "normal", "overlay"):
        assert shapes[n] == (h, w, 3), (sub, n, shapes[n])
    for n in ("alpha", "silhouette"):
        assert shapes[n] == (h, w), (sub, n, shapes[n])
    # depth: the image plus a colour bar to its right
    assert shapes["depth"][1] > w and shapes["depth"][0] >= h and shapes["depth"][2] == 3, (sub, shapes["depth"])
    sil = io.imread(f"{d}/silhouette.png")
    assert set(np.unique(sil)) <= {0, 255}, np.unique(sil)
    alpha = io.imread(f"{d}/alpha.png").astype(float) / 255
    inside = sil > 0
    # the soft silhouette is ~1 inside the hard one and ~0 far from it
    assert alpha[inside].mean() > 0.95, alpha[inside].mean()
    assert alpha[:, : w // 8].max() < 0.02, "alpha far left of the cloth"
    # IoU recomputed from the written PNGs matches the printed one
    mask = io.imread(mask_path)
    if mask.ndim == 3:
        mask = mask[..., 0]
    if sub == "half":
        mask = mask.reshape(h, 2, w, 2).mean(axis=(1, 3))
    m = mask > 127
    iou = (m & inside).sum() / (m | inside).sum()
    printed = iou_full if sub == "full" else iou_half
    assert abs(iou - printed) < 1e-3, (sub, iou, printed)
    # the overlay differs from the photo on the render's outline, and the photo shows elsewhere
    ov = io.imread(f"{d}/overlay.png")
    assert (ov[inside].astype(int) != 0).any()
    print(f"{sub}: {w}x{h}, IoU {iou:.4f}, outputs ok")
assert iou_full > 0.93, f"IoU {iou_full} at 1920x1080: the template does not sit on the cloth"
assert iou_half > 0.93, f"IoU {iou_half} at 960x540"
assert abs(iou_full - iou_half) < 0.01, (iou_full, iou_half)
PY

check "bad input"
cd "$TMP"
expect_error 1 "nothere.obj" -- "$PHIVE" render --mesh nothere.obj --camera "$CAM" --out x
expect_error 1 "nothere.json" -- "$PHIVE" render --mesh "$MESH" --camera nothere.json --out x
$PY - "$MASK" small_mask.png <<'PY'
import sys
from skimage import io
io.imsave(sys.argv[2], io.imread(sys.argv[1])[:500, :700], check_contrast=False)
PY
expect_error 1 "small_mask.png.*700 x 500.*1920 x 1080" -- "$PHIVE" render --mesh "$MESH" --camera "$CAM" --mask small_mask.png --out x
expect_error 1 "small_mask.png.*700 x 500" -- "$PHIVE" render --mesh "$MESH" --camera "$CAM" --image small_mask.png --out x
printf 'v 0 0 1\nv 1 0 1\nv 0 1 1\nf 1 2 3\n' >nouv.obj
expect_error 1 "nouv.obj.*texture coordinates" -- "$PHIVE" render --mesh nouv.obj --texture "$TEX" --camera "$CAM" --out x
expect_error 2 "unknown option --bogus" -- "$PHIVE" render --mesh "$MESH" --camera "$CAM" --bogus
expect_error 2 "--faces-per-pixel" -- "$PHIVE" render --mesh "$MESH" --camera "$CAM" --faces-per-pixel 9
expect_error 2 "--mesh and --camera are required" -- "$PHIVE" render --camera "$CAM"
[ ! -e x ] || fail "a failed render created its output directory"
echo "render checks passed (IoU $iou_full at 1920x1080, $iou_half at 960x540)"
