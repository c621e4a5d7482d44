/* step_c.c — one training step of the MNIST-1D paper's CNN (conv1d 1→25 k5, 25→25 k3, 25→25 k3,
 * stride 2, padding 1, ReLU; flatten 125 → linear 10; softmax cross-entropy; Adam), batch 100,
 * fp32, calling the C kernels directly: the kernel calls Tolaria's host makes per batch
 * (conv forward with fused bias+ReLU, linear, softmax-CE, the backward chain, Adam, zero the
 * gradients).
 *
 * usage: step_c THREADS [STEPS] [auto|gemm|direct|direct-avx2|direct-avx512]   prints "c_kernels
 * threads=N path=P ms_per_step=X best_ms=Y cpu_ms=Z" (wall median, wall best and process-CPU
 * median of 7 reps); the path is ck_conv1d_path (auto: what the product runs), direct-ISA forces
 * the direct kernels onto that instruction set (the tests' internal selector; exits 1 when the
 * CPU lacks it).
 */
#define _POSIX_C_SOURCE 200809L
#include "ckernels.h"
#include "../../Sources/CKernels/conv1d_internal.h" /* ck_conv1d_direct_force */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { L = 40, C = 25, OUT = 10, B = 100 };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* CPU time of the process: what the step costs when other processes share the core. */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int steps = argc > 2 ? atoi(argv[2]) : 300;
    const char *path_name = argc > 3 ? argv[3] : "auto";
    const ck_conv1d_path path = !strcmp(path_name, "gemm")            ? CK_CONV1D_GEMM
                                : !strncmp(path_name, "direct", 6) ? CK_CONV1D_DIRECT
                                                                   : CK_CONV1D_AUTO;
    const ck_gemm_kernel isa = !strcmp(path_name, "direct-avx2")     ? CK_GEMM_AVX2
                               : !strcmp(path_name, "direct-avx512") ? CK_GEMM_AVX512
                                                                     : CK_GEMM_AUTO;
    if (ck_conv1d_direct_force(isa) != CK_OK) {
        fprintf(stderr, "step_c: no %s on this CPU\n", path_name);
        return 1;
    }
    ck_blas_set_threads(threads);
    ck_conv1d_dims d[3] = {{B, 1, 40, C, 5, 2, 1, 1}, {B, C, 19, C, 3, 2, 1, 1}, {B, C, 10, C, 3, 2, 1, 1}};
    size_t out[3], wofs[3], total = 0;
    for (int l = 0; l < 3; l++) {
        out[l] = ck_conv1d_out_length(d[l].length, d[l].kernel, d[l].stride, d[l].pad_left, d[l].pad_right);
        wofs[l] = total;
        total += d[l].out_channels * d[l].kernel * d[l].in_channels + d[l].out_channels;
    }
    const size_t flat = out[2] * C, lofs = total;
    total += flat * OUT + OUT;
    float *p = zeros(total), *g = zeros(total), *m = zeros(total), *v = zeros(total);
    ck_rng rng;
    ck_rng_seed(&rng, 1, 1);
    ck_init_uniform(&rng, p, total, -0.2f, 0.2f);
    float *x = zeros(B * L), *y[3], *z[3], *cols[3], *dcols[3], *dy[3], *dz[3];
    for (int l = 0; l < 3; l++) {
        const size_t n = B * out[l] * C, nc = ck_conv1d_cols_count(&d[l]);
        y[l] = zeros(n), z[l] = zeros(n), dy[l] = zeros(n), dz[l] = zeros(n), cols[l] = zeros(nc), dcols[l] = zeros(nc);
    }
    float *logits = zeros(B * OUT), *probs = zeros(B * OUT), *dlogits = zeros(B * OUT), loss;
    int32_t labels[B];
    ck_init_normal(&rng, x, B * L, 0, 1);
    for (int b = 0; b < B; b++)
        labels[b] = b % OUT;
    double times[7], cpu[7];
    int64_t t = 0;
    for (int rep = 0; rep < 7; rep++) {
        const double start = now_ms(), start_cpu = cpu_ms();
        for (int s = 0; s < steps; s++) {
            const float *in = x;
            for (int l = 0; l < 3; l++) {
                const float *W = p + wofs[l];
                ck_conv1d_forward_with(path, y[l], z[l], cols[l], in, W, W + C * d[l].kernel * d[l].in_channels, CK_ACT_RELU, &d[l]);
                in = y[l];
            }
            ck_linear_forward(logits, y[2], p + lofs, p + lofs + flat * OUT, B, flat, OUT);
            ck_softmax_ce_forward(&loss, probs, logits, labels, B, OUT);
            ck_count_correct(logits, labels, B, OUT);
            ck_softmax_ce_backward(dlogits, probs, labels, B, OUT);
            ck_linear_backward(dy[2], g + lofs, g + lofs + flat * OUT, dlogits, y[2], p + lofs, B, flat, OUT);
            for (int l = 2; l >= 0; l--) {
                const size_t nw = C * d[l].kernel * d[l].in_channels;
                if (ck_conv1d_backward_with(path, l ? dy[l - 1] : NULL, g + wofs[l], g + wofs[l] + nw, dz[l],
                                            l ? dcols[l] : NULL, dy[l], z[l], y[l], cols[l], p + wofs[l], CK_ACT_RELU,
                                            &d[l]) != CK_OK) {
                    fprintf(stderr, "step_c: conv1d path %s cannot run here\n", path_name);
                    return 1;
                }
            }
            ck_adam_step(p, m, v, g, total, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, ++t);
            memset(g, 0, total * sizeof(float));
        }
        times[rep] = (now_ms() - start) / steps;
        cpu[rep] = (cpu_ms() - start_cpu) / steps;
    }
    qsort(times, 7, sizeof times[0], cmp);
    qsort(cpu, 7, sizeof cpu[0], cmp);
    printf("c_kernels threads=%d path=%s ms_per_step=%.4f best_ms=%.4f cpu_ms=%.4f params=%zu loss=%.3f\n", threads,
           path_name, times[3], times[0], cpu[3], total, loss);
    return 0;
}
