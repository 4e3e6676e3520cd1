#!/usr/bin/env bash
# The CUDA build compiles kernels/*.cu with nvcc and links cudart, cuBLAS and
# NCCL; without a visible GPU it says so in one line and runs on the CPU.
source validation/integration/lib.sh
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
[ -x "$NVCC" ] || { echo "SKIP: no CUDA toolkit on this machine"; exit 0; }
make -s CUDA=1 BIN=build/cuda/phive build/cuda/phive >"$TMP/build.log" 2>&1 || { tail -30 "$TMP/build.log"; fail "CUDA build failed"; }
ldd build/cuda/phive >"$TMP/ldd"
for lib in libcudart libcublas libnccl; do
    grep -q "$lib" "$TMP/ldd" || fail "build/cuda/phive does not link $lib"
done
nm -C build/cuda/libphive.a >"$TMP/nm"
for kernel in adam_update_kernel pixel_forward_kernel pixel_backward_kernel; do
    grep -q "$kernel" "$TMP/nm" || fail "the CUDA kernel $kernel is not in libphive.a"
done
build/cuda/phive info >"$TMP/info" 2>&1 || { cat "$TMP/info"; fail "phive info failed in the CUDA build"; }
cat "$TMP/info"
grep -q "build: CUDA" "$TMP/info" || fail "info does not report the CUDA build"
if ! nvidia-smi >/dev/null 2>&1; then
    [ "$(grep -c "no GPU is visible" "$TMP/info")" -eq 1 ] || fail "expected exactly one 'no GPU' line"
    small_config "$TMP/job.ini" 50
    build/cuda/phive run "$TMP/job.ini" --out "$TMP/out" 2>"$TMP/log" || { cat "$TMP/log"; fail "CPU fallback run failed"; }
    echo "CUDA build ran the job on the CPU"
fi
