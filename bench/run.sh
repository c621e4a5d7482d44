#!/usr/bin/env bash
# bench/run.sh — every figure of docs/performance.md in one run on this machine.
#
#   bench/run.sh [PYTHON]    PYTHON: an interpreter with numpy, threadpoolctl, torch and jax
#                            (default python3); a framework that does not import is reported
#                            as unavailable instead of failing the run.
#
# One training step (forward, backward, Adam) of an MLP 784-256-256-10, batch 128, fp32:
# Tolaria's Swift loop (release build), the C kernels alone, numpy, PyTorch and JAX (jit), with
# 1 and 2 threads. One-thread runs are pinned to CPU 0 with taskset (JAX's XLA ignores its
# thread flags on CPU otherwise); two-thread runs get both CPUs. Every line is run ROUNDS times,
# interleaved, and the median is reported: the machine is shared, so single runs are noisy.
# OpenBLAS: this machine sets OPENBLAS_CORETYPE=Haswell (older OpenBLAS builds misbehave on its
# CPU); numpy runs with it unset (it then picks SkylakeX, AVX-512), so ours is measured both
# ways. Tests and CI never change those variables.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
ROUNDS=${ROUNDS:-3}
mkdir -p bench/.build
cc -std=c11 -Wall -O3 -fno-math-errno -I Sources/CKernels/include bench/step_c.c Sources/CKernels/*.c -lopenblas -lm -o bench/.build/step_c
swift build -c release --product tolaria-bench >/dev/null 2>&1
SWIFT_BENCH=.build/release/tolaria-bench

pin() { if [ "$1" = 1 ]; then echo "taskset -c 0"; else echo ""; fi; }
value() { sed -n 's/.*ms_per_step=\([0-9.]*\).*/\1/p'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else print a[int((NR+1)/2)]}'; }

declare -A results
run_line() { # name threads command...
    local name=$1 threads=$2; shift 2
    local out
    if out=$("$@" 2>/dev/null | value) && [ -n "$out" ]; then
        results["$name/$threads"]+="$out "
    else
        results["$name/$threads"]+=""
    fi
}

NOBLAS_ENV="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"
for round in $(seq "$ROUNDS"); do
    for t in 1 2; do
        P=$(pin $t)
        run_line "tolaria swift loop (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})" $t $P $SWIFT_BENCH step $t 30
        run_line "C kernels alone (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})" $t $P bench/.build/step_c $t 400
        run_line "tolaria swift loop (auto kernel)" $t $NOBLAS_ENV $P $SWIFT_BENCH step $t 30
        run_line "C kernels alone (auto kernel)" $t $NOBLAS_ENV $P bench/.build/step_c $t 400
        run_line "numpy" $t $NOBLAS_ENV OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t $P "$PYTHON" bench/step_python.py numpy $t
        run_line "pytorch (cpu)" $t env OMP_NUM_THREADS=$t $P "$PYTHON" bench/step_python.py torch $t
        run_line "jax (jit)" $t env XLA_FLAGS="--xla_cpu_multi_thread_eigen=$([ $t = 1 ] && echo false || echo true) intra_op_parallelism_threads=$t" \
            $P "$PYTHON" bench/step_python.py jax $t
    done
done

echo "| implementation | 1 thread (ms/step) | 2 threads (ms/step) |"
echo "|---|---|---|"
for name in "tolaria swift loop (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})" "C kernels alone (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})" \
            "tolaria swift loop (auto kernel)" "C kernels alone (auto kernel)" "numpy" "pytorch (cpu)" "jax (jit)"; do
    one=$(echo ${results["$name/1"]:-} | tr ' ' '\n' | grep . | median || true)
    two=$(echo ${results["$name/2"]:-} | tr ' ' '\n' | grep . | median || true)
    echo "| $name | ${one:-unavailable} | ${two:-unavailable} |"
done
echo
echo "rounds: $ROUNDS; raw: $(for k in "${!results[@]}"; do printf '%s=[%s] ' "$k" "${results[$k]}"; done)"
echo
$SWIFT_BENCH digits 30
