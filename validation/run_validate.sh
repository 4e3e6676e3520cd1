#!/usr/bin/env bash
# `make validate`: reference comparisons, then bounded fuzzing of the config
# and sweep parsers (libFuzzer + ASan/UBSan through clang as mpicc's compiler).
# FUZZ_SECONDS (default 60) per target.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
seconds=${FUZZ_SECONDS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== reference: sdf job vs an independent numpy forward pass and the analytic SDF"
bin/phive run configs/demo.ini --out "$work/demo" 2>/dev/null
/usr/bin/python3 validation/reference/sdf_reference.py "$work"/demo/*/result.h5 0.02

echo "== reference comparisons of the geometry toolkit, the evaluation protocols, the soft rasterizer, the cloth material, NeuS and the synthetic scenes"
# The tests compare with scipy, scikit-image, open3d and independent numpy protocols; show their figures.
VERBOSE=1 ONLY="test_(surface_metrics|kdtree|mcubes|align|mesh_io|array_io|eval_|neus_reference|cloth_material|synth_scene)|grad_(raster|neus)_reference" BUILD=$BUILD validation/run_tests.sh |
    grep -E "^(test|grad)_|reference|numpy|scipy|skimage|scikit|open3d|expected|phive:|FAIL|scene_check|overall" |
    grep -vE "\[ +(OK|RUN) +\]|^ *\[phive" || true
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "a reference comparison failed"; exit 1; }

echo "== fuzzing ($seconds s per target)"
fuzz_build="$work/fuzz"
mkdir -p "$fuzz_build"
# The whole library is rebuilt with the fuzzer's instrumentation (CPU path: no CUDA in fuzz builds).
objs=()
for src in $LIB_SRC; do
    obj="$fuzz_build/$(echo "$src" | tr / _).o"
    OMPI_CC=clang mpicc -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fopenmp \
        -Iinclude -Ikernels $PKG_CFLAGS -c "$src" -o "$obj"
    objs+=("$obj")
done
for target in $FUZZ_SRC; do
    name=$(basename "$target" .c)
    OMPI_CC=clang mpicc -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fopenmp -Iinclude -Ikernels \
        $PKG_CFLAGS "$target" "${objs[@]}" $PKG_LIBS -lm -o "$fuzz_build/$name"
    corpus="$work/corpus_${name#fuzz_}"
    mkdir -p "$corpus"
    cp validation/fuzz/"corpus_${name#fuzz_}"/* "$corpus"/ 2>/dev/null || true
    echo "-- $name"
    rc=0
    ASAN_OPTIONS=detect_leaks=1 "$fuzz_build/$name" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$work/" "$corpus" >"$work/$name.log" 2>&1 || rc=$?
    grep -E "stat::number_of_executed_units|ERROR|SUMMARY" "$work/$name.log" || true
    if [ "$rc" -ne 0 ]; then
        grep -A30 "ERROR" "$work/$name.log" | head -60
        echo "$name failed (exit $rc); reproducer:" "$work"/crash-* "$work"/leak-* 2>/dev/null
        exit 1
    fi
done
echo "validate: all reference comparisons and fuzzers passed"
