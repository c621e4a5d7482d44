/* optimizer.c — parameter updates: Adam, AdamW (both with bias correction) and SGD with momentum.
 *
 * Each update is one fused elementwise sweep over param/grad/state. Bias corrections depend only on
 * the caller-supplied step counter and are computed once per call in double; the per-element loop
 * uses sqrtf, which compiles to a vector square root under -fno-math-errno. Large Adam/AdamW sweeps
 * are split across the GEMM thread pool when ck_blas_set_threads allows more than one thread: the
 * sweep is memory-bound (param, m, v and grad of a 784x256 layer do not fit in L2) and each core
 * brings its own bandwidth; elements are independent, so the result is identical.
 */
#include "gemm_internal.h"

#include <math.h>

static int check_adam(const float *param, const float *m, const float *v, const float *grad,
                      size_t n, float beta1, float beta2, float eps, int64_t step)
{
    if (n && (!param || !m || !v || !grad))
        return CK_ERR_NULL;
    if (step < 1 || !(beta1 >= 0.0f && beta1 < 1.0f) || !(beta2 >= 0.0f && beta2 < 1.0f) ||
        !(eps >= 0.0f))
        return CK_ERR_ARG;
    return CK_OK;
}

/* param = param * decay - lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), with g = grad + l2 * param. */
static void adam_update(float *restrict param, float *restrict m, float *restrict v,
                        const float *restrict grad, size_t n, float lr, float beta1, float beta2,
                        float eps, float l2, float decay, int64_t step)
{
    const float step_size = (float)(lr / (1.0 - pow(beta1, (double)step)));
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow(beta2, (double)step)));
    const float one_m_b1 = 1.0f - beta1, one_m_b2 = 1.0f - beta2;
    for (size_t i = 0; i < n; i++) {
        const float g = grad[i] + l2 * param[i];
        const float mi = beta1 * m[i] + one_m_b1 * g;
        const float vi = beta2 * v[i] + one_m_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] = param[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

/* One Adam/AdamW sweep, split in cache-line-aligned bands across the pool. */
typedef struct {
    float *param, *m, *v;
    const float *grad;
    size_t n, chunk;
    float lr, beta1, beta2, eps, l2, decay;
    int64_t step;
} adam_split;

static void adam_part(void *ctx, int index)
{
    const adam_split *a = ctx;
    const size_t begin = (size_t)index * a->chunk < a->n ? (size_t)index * a->chunk : a->n;
    const size_t end = begin + a->chunk < a->n ? begin + a->chunk : a->n;
    adam_update(a->param + begin, a->m + begin, a->v + begin, a->grad + begin, end - begin, a->lr,
                a->beta1, a->beta2, a->eps, a->l2, a->decay, a->step);
}

enum { ADAM_PARALLEL_MIN = 32768 }; /* below this the hand-over costs more than it saves */

static void adam_sweep(float *param, float *m, float *v, const float *grad, size_t n, float lr,
                       float beta1, float beta2, float eps, float l2, float decay, int64_t step)
{
    int threads = ck_blas_get_threads();
    threads = threads < CK_GEMM_MAX_THREADS ? threads : CK_GEMM_MAX_THREADS;
    if (threads > 1 && n >= ADAM_PARALLEL_MIN) {
        const size_t parts = (size_t)threads * CK_GEMM_PARTS_PER_THREAD;
        adam_split a = {param, m, v, grad, n, (n + parts * 16 - 1) / (parts * 16) * 16, lr, beta1,
                        beta2, eps, l2, decay, step};
        if (ck_gemm_pool_run(threads, (int)((n + a.chunk - 1) / a.chunk), adam_part, &a))
            return;
    }
    adam_update(param, m, v, grad, n, lr, beta1, beta2, eps, l2, decay, step);
}

int ck_adam_step(float *param, float *m, float *v, const float *grad, size_t n, float lr,
                 float beta1, float beta2, float eps, float weight_decay, int64_t step)
{
    int st = check_adam(param, m, v, grad, n, beta1, beta2, eps, step);
    if (st == CK_OK)
        adam_sweep(param, m, v, grad, n, lr, beta1, beta2, eps, weight_decay, 1.0f, step);
    return st;
}

int ck_adamw_step(float *param, float *m, float *v, const float *grad, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t step)
{
    int st = check_adam(param, m, v, grad, n, beta1, beta2, eps, step);
    if (st == CK_OK)
        adam_sweep(param, m, v, grad, n, lr, beta1, beta2, eps, 0.0f, 1.0f - lr * weight_decay,
                   step);
    return st;
}

int ck_sgd_step(float *restrict param, float *restrict velocity, const float *restrict grad,
                size_t n, float lr, float momentum, float weight_decay)
{
    if (!(momentum >= 0.0f))
        return CK_ERR_ARG;
    if (n && (!param || !grad || (momentum != 0.0f && !velocity)))
        return CK_ERR_NULL;
    if (momentum == 0.0f) {
        for (size_t i = 0; i < n; i++)
            param[i] -= lr * (grad[i] + weight_decay * param[i]);
    } else {
        for (size_t i = 0; i < n; i++) {
            const float vi = momentum * velocity[i] + grad[i] + weight_decay * param[i];
            velocity[i] = vi;
            param[i] -= lr * vi;
        }
    }
    return CK_OK;
}
