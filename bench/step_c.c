/* step_c.c — one training step of an MLP 784-256-256-10 (ReLU, softmax cross-entropy, Adam),
 * batch 128, fp32, calling the C kernels directly: the "C alone" line of docs/performance.md.
 * It makes exactly the kernel calls Tolaria's Swift loop makes per batch (gather the batch rows,
 * linear + fused bias/ReLU per hidden layer, linear with bias, softmax-CE forward/backward,
 * count correct, the backward chain, global gradient norm, Adam per parameter group, zero the
 * gradients), so Swift time / this time is the framework overhead.
 *
 * usage: step_c THREADS [STEPS]   prints "c_kernels threads=N ms_per_step=X best_ms=Y (...)": the
 *                                 median and the minimum of 21 repetitions of STEPS / 3 steps
 */
#define _POSIX_C_SOURCE 200809L
#include "ckernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { IN = 784, H = 256, OUT = 10, BATCH = 128, ROWS = 128 * 64 };

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static float *zeros(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int steps = argc > 2 ? atoi(argv[2]) : 300;
    ck_blas_set_threads(threads);

    const size_t widths[4] = {IN, H, H, OUT};
    size_t wofs[3], bofs[3], gsize[3], total = 0;
    for (int l = 0; l < 3; l++) {
        wofs[l] = total;
        bofs[l] = total + widths[l] * widths[l + 1];
        gsize[l] = widths[l] * widths[l + 1] + widths[l + 1];
        total += gsize[l];
    }
    float *p = zeros(total), *g = zeros(total), *m = zeros(total), *v = zeros(total);
    ck_rng rng;
    ck_rng_seed(&rng, 1, 3);
    for (int l = 0; l < 3; l++)
        ck_init_kaiming_uniform(&rng, p + wofs[l], widths[l] * widths[l + 1], widths[l]);

    float *data = zeros((size_t)ROWS * IN);
    int32_t *labels = malloc(ROWS * sizeof(int32_t));
    ck_init_normal(&rng, data, (size_t)ROWS * IN, 0, 1);
    for (int i = 0; i < ROWS; i++)
        labels[i] = (int32_t)(ck_rng_next_u32(&rng) % OUT);
    int32_t *order = malloc(ROWS * sizeof(int32_t));
    for (int i = 0; i < ROWS; i++)
        order[i] = (ROWS - 1 - i * 7 % ROWS + ROWS) % ROWS;

    float *x = zeros(BATCH * IN), *z[2], *y[2], *dz[2], *dy[2];
    int32_t *lab = malloc(BATCH * sizeof(int32_t));
    for (int l = 0; l < 2; l++) {
        z[l] = zeros(BATCH * H); y[l] = zeros(BATCH * H); dz[l] = zeros(BATCH * H); dy[l] = zeros(BATCH * H);
    }
    float *logits = zeros(BATCH * OUT), *probs = zeros(BATCH * OUT), *dlogits = zeros(BATCH * OUT);
    int64_t t = 0;
    size_t correct = 0;

    enum { REPS = 21 };
    steps = steps / 3 > 0 ? steps / 3 : 1;
    double reps[REPS];
    for (int rep = -1; rep < REPS; rep++) { /* rep -1 warms up */
        double start = now_ms();
        for (int s = 0; s < steps; s++) {
            int first = (s * BATCH) % ROWS;
            for (int r = 0; r < BATCH; r++) {
                int src = order[(first + r) % ROWS];
                memcpy(x + (size_t)r * IN, data + (size_t)src * IN, IN * sizeof(float));
                lab[r] = labels[src];
            }
            const float *in = x;
            for (int l = 0; l < 2; l++) {
                ck_linear_forward(z[l], in, p + wofs[l], NULL, BATCH, widths[l], H);
                ck_bias_act_forward(CK_ACT_RELU, y[l], z[l], p + bofs[l], BATCH, H);
                in = y[l];
            }
            ck_linear_forward(logits, in, p + wofs[2], p + bofs[2], BATCH, H, OUT);
            float loss;
            ck_softmax_ce_forward(&loss, probs, logits, lab, BATCH, OUT);
            correct += ck_count_correct(logits, lab, BATCH, OUT);
            ck_softmax_ce_backward(dlogits, probs, lab, BATCH, OUT);
            ck_linear_backward(dy[1], g + wofs[2], g + bofs[2], dlogits, y[1], p + wofs[2], BATCH, H, OUT);
            for (int l = 1; l >= 0; l--) {
                ck_bias_act_backward(CK_ACT_RELU, dz[l], g + bofs[l], dy[l], z[l], y[l], BATCH, H);
                ck_linear_backward(l ? dy[l - 1] : NULL, g + wofs[l], NULL, dz[l], l ? y[l - 1] : x, p + wofs[l],
                                   BATCH, widths[l], H);
            }
            const float *bufs[3] = {g + wofs[0], g + wofs[1], g + wofs[2]};
            volatile float norm = ck_global_l2_norm(bufs, gsize, 3);
            (void)norm;
            t++;
            for (int l = 0; l < 3; l++)
                ck_adam_step(p + wofs[l], m + wofs[l], v + wofs[l], g + wofs[l], gsize[l], 1e-3f, 0.9f, 0.999f, 1e-8f, 0, t);
            memset(g, 0, total * sizeof(float));
        }
        if (rep >= 0)
            reps[rep] = (now_ms() - start) / steps;
    }
    qsort(reps, REPS, sizeof(double), cmp);
    printf("c_kernels threads=%d ms_per_step=%.4f best_ms=%.4f (gemm=%s, correct=%zu)\n", threads,
           reps[REPS / 2], reps[0], ck_gemm_kernel_name(ck_gemm_selected_kernel()), correct % 7);
    return 0;
}
