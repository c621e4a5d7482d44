#!/bin/sh
# run.sh — the conv training step of the MNIST-1D paper's CNN (batch 100, fp32, Adam), one thread
# pinned to CPU 0 (PIN=0: unpinned), interleaved in one run: the C kernels on the path the product
# takes (auto), on the direct kernels forced onto each instruction set this CPU has (direct-avx512,
# direct-avx2) and on the im2col + GEMM path, JAX (jit), PyTorch when importable, and Tolaria's
# Swift loop when .build/release/tolaria-bench exists. Prints each line with the load average
# before it; every line gives wall time and process CPU time (cpu_ms: what a step costs when other
# processes share the core — compare that one on a loaded machine).
# OPENBLAS_CORETYPE is left as the environment sets it.
#
# usage: bench/conv/run.sh [ROUNDS] [STEPS]      (defaults 6, 200)
#        PYTHON=... selects the interpreter for JAX / PyTorch (default python3)
#        PIN=0 runs every program unpinned (JAX and PyTorch may then use both cores)
set -eu
cd "$(dirname "$0")/../.."
ROUNDS=${1:-6}
STEPS=${2:-200}
PYTHON=${PYTHON:-python3}
PIN=${PIN:-1}
pin() { if [ "$PIN" = 1 ]; then taskset -c 0 "$@"; else "$@"; fi; }
mkdir -p bench/.build
cc -std=c11 -O3 -fno-math-errno -I Sources/CKernels/include bench/conv/step_c.c Sources/CKernels/*.c \
    -lopenblas -lm -pthread -o bench/.build/conv_step_c
has_torch=0
"$PYTHON" -c 'import torch' 2>/dev/null && has_torch=1
[ "$has_torch" = 1 ] || echo "PyTorch: not importable with $PYTHON, skipped"
direct=""
for isa in avx512 avx2; do
    if bench/.build/conv_step_c 1 1 "direct-$isa" >/dev/null 2>&1; then
        direct="$direct direct-$isa"
    else
        echo "direct-$isa: not on this CPU, skipped"
    fi
done
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>} $(grep -m1 'model name' /proc/cpuinfo) nproc=$(nproc)"
round=1
while [ "$round" -le "$ROUNDS" ]; do
    echo "round $round load $(cut -d' ' -f1-3 /proc/loadavg)"
    pin bench/.build/conv_step_c 1 "$STEPS" auto
    pin "$PYTHON" bench/conv/step_jax.py "$STEPS"
    for path in $direct; do pin bench/.build/conv_step_c 1 "$STEPS" "$path"; done
    pin bench/.build/conv_step_c 1 "$STEPS" gemm
    [ "$has_torch" = 0 ] || pin "$PYTHON" bench/conv/step_torch.py "$STEPS" 1
    [ ! -x .build/release/tolaria-bench ] || pin .build/release/tolaria-bench conv 25
    round=$((round + 1))
done
