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
# interleaved; the tables report the median over rounds of each program's median step time, and
# of its best (minimum) repetition — the least disturbed figure on a shared machine.
# Then the SGEMM candidates on the step's GEMM shapes (bench/gemm_c.c): OpenBLAS, BLIS, oneDNN
# (when installed) and our packed kernels, 1 thread pinned and 2 threads.
# The environment is left as it is: this machine sets OPENBLAS_CORETYPE=Haswell (older OpenBLAS
# builds misbehave on its CPU), and Tolaria runs under it exactly as `esper serve` does (its GEMM
# is our own AVX-512 or AVX2 kernel, chosen by CPUID, so the setting no longer matters to it); numpy runs
# with it unset so OpenBLAS picks its AVX-512 kernel. Tests and CI never change those variables.
# C is compiled with clang, the compiler SwiftPM uses for the product (CC overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
ROUNDS=${ROUNDS:-3}
FRAMEWORKS=${FRAMEWORKS:-numpy torch jax} # the Python lines to run (a loaded machine: FRAMEWORKS=jax)
CC=${CC:-clang}
mkdir -p bench/.build
$CC -std=c11 -Wall -O3 -fno-math-errno -I Sources/CKernels/include bench/step_c.c Sources/CKernels/*.c -lopenblas -lm -pthread -o bench/.build/step_c
# the same step with ck_sgemm forced onto OpenBLAS: what the product ran before its own kernels
$CC -std=c11 -Wall -O3 -fno-math-errno -DCK_GEMM_FORCE_KERNEL=CK_GEMM_BLAS -I Sources/CKernels/include bench/step_c.c Sources/CKernels/*.c -lopenblas -lm -pthread -o bench/.build/step_c_openblas
$CC -std=c11 -Wall -O3 -fno-math-errno -I Sources/CKernels/include bench/gemm_c.c Sources/CKernels/*.c -lopenblas -lm -pthread -ldl -o bench/.build/gemm_c
swift build -c release --product tolaria-bench >/dev/null 2>&1
SWIFT_BENCH=.build/release/tolaria-bench

pin() { if [ "$1" = 1 ]; then echo "taskset -c 0"; else echo ""; fi; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else print a[int((NR+1)/2)]}'; }

declare -A results best
run_line() { # name threads command...
    local name=$1 threads=$2; shift 2
    local out
    out=$("$@" 2>/dev/null | grep 'ms_per_step=' | tail -1) || true
    local ms bm
    ms=$(echo "$out" | sed -n 's/.* ms_per_step=\([0-9.]*\).*/\1/p')
    bm=$(echo "$out" | sed -n 's/.* best_ms=\([0-9.]*\).*/\1/p')
    results["$name/$threads"]+="${ms:+$ms }"
    best["$name/$threads"]+="${bm:+$bm }"
}

CORE="OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
NOBLAS_ENV="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE"
NAMES=("tolaria swift loop ($CORE)" "C kernels alone ($CORE)" "C kernels, GEMM via OpenBLAS (before; $CORE)" "numpy (OpenBLAS auto kernel)" "pytorch (cpu)" "jax (jit)")
for round in $(seq "$ROUNDS"); do
    for t in 1 2; do
        P=$(pin $t)
        run_line "${NAMES[0]}" $t $P $SWIFT_BENCH step $t 30
        run_line "${NAMES[1]}" $t $P bench/.build/step_c $t 400
        run_line "${NAMES[2]}" $t $P bench/.build/step_c_openblas $t 400
        want() { case " $FRAMEWORKS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
        want numpy && run_line "${NAMES[3]}" $t $NOBLAS_ENV OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t $P "$PYTHON" bench/step_python.py numpy $t
        want torch && run_line "${NAMES[4]}" $t env OMP_NUM_THREADS=$t $P "$PYTHON" bench/step_python.py torch $t
        want jax && run_line "${NAMES[5]}" $t env XLA_FLAGS="--xla_cpu_multi_thread_eigen=$([ $t = 1 ] && echo false || echo true) intra_op_parallelism_threads=$t" \
            $P "$PYTHON" bench/step_python.py jax $t
    done
done

table() { # title array-name
    local -n r=$2
    echo "$1"
    echo "| implementation | 1 thread (ms/step) | 2 threads (ms/step) |"
    echo "|---|---|---|"
    for name in "${NAMES[@]}"; do
        one=$(echo ${r["$name/1"]:-} | tr ' ' '\n' | grep . | median || true)
        two=$(echo ${r["$name/2"]:-} | tr ' ' '\n' | grep . | median || true)
        echo "| $name | ${one:-unavailable} | ${two:-unavailable} |"
    done
    echo
}
echo "gemm: $(bench/.build/step_c 1 3 | sed -n 's/.*(gemm=\([a-z0-9]*\).*/\1/p'); $CORE; $(date -u '+%Y-%m-%d %H:%M UTC'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
table "median step time (median over rounds)" results
table "best repetition (median over rounds)" best
echo "rounds: $ROUNDS; raw medians: $(for k in "${!results[@]}"; do printf '%s=[%s] ' "$k" "${results[$k]}"; done)"
echo
$SWIFT_BENCH digits 30
echo
echo "SGEMM candidates on the step's GEMMs (bench/gemm_c.c, $CORE):"
taskset -c 0 bench/.build/gemm_c 1
bench/.build/gemm_c 2
