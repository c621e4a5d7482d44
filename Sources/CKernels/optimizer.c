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

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

/* No fused multiply-adds in the sweeps: clang may fuse `a * b + c` wherever the target has FMA —
 * in the vector functions below, and in adam_scalar once it is inlined into one of them — and a
 * fused result is rounded once instead of twice. (GCC in ISO C mode does not fuse.) */
#ifdef __clang__
#define CK_NO_CONTRACT _Pragma("clang fp contract(off)")
#else
#define CK_NO_CONTRACT
#endif

/* The per-call constants of one Adam/AdamW sweep. */
typedef struct {
    float step_size, inv_sqrt_bc2, beta1, beta2, one_m_b1, one_m_b2, eps, l2, decay;
} adam_consts;

/* param = param * decay - lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), with g = grad + l2 * param:
 * elements [begin, n) one at a time. Every operation is a single correctly rounded mul, add,
 * sqrt or div, in the order written. */
static void adam_scalar(float *restrict param, float *restrict m, float *restrict v,
                        const float *restrict grad, size_t begin, size_t n, const adam_consts *c)
{
    CK_NO_CONTRACT
    for (size_t i = begin; i < n; i++) {
        const float g = grad[i] + c->l2 * param[i];
        const float mi = c->beta1 * m[i] + c->one_m_b1 * g;
        const float vi = c->beta2 * v[i] + c->one_m_b2 * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] = param[i] * c->decay - c->step_size * mi / (sqrtf(vi) * c->inv_sqrt_bc2 + c->eps);
    }
}

#if defined(__x86_64__)
/* The same sweep 16 (AVX-512) or 8 (AVX) elements at a time: the same operations in the same
 * order, never fused (a product rounded, then added), so every element is bit-identical to
 * adam_scalar's — the results do not depend on which CPU ran them. The compiler's baseline build
 * vectorises the scalar loop only 4 wide (SSE), and the sweep's square roots and divisions were
 * 15 % of a training step on Zen 5 (issue 20). The tail goes to adam_scalar. */
__attribute__((target("avx512f"))) static void adam_avx512(float *param, float *m, float *v,
                                                          const float *grad, size_t n,
                                                          const adam_consts *c)
{
    CK_NO_CONTRACT
    const __m512 l2 = _mm512_set1_ps(c->l2), b1 = _mm512_set1_ps(c->beta1);
    const __m512 b2 = _mm512_set1_ps(c->beta2), omb1 = _mm512_set1_ps(c->one_m_b1);
    const __m512 omb2 = _mm512_set1_ps(c->one_m_b2), decay = _mm512_set1_ps(c->decay);
    const __m512 step = _mm512_set1_ps(c->step_size), inv = _mm512_set1_ps(c->inv_sqrt_bc2);
    const __m512 eps = _mm512_set1_ps(c->eps);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 p = _mm512_loadu_ps(param + i);
        const __m512 g = _mm512_add_ps(_mm512_loadu_ps(grad + i), _mm512_mul_ps(l2, p));
        const __m512 mi =
            _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(omb1, g));
        const __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)),
                                        _mm512_mul_ps(_mm512_mul_ps(omb2, g), g));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        const __m512 denominator = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), inv), eps);
        const __m512 update = _mm512_div_ps(_mm512_mul_ps(step, mi), denominator);
        _mm512_storeu_ps(param + i, _mm512_sub_ps(_mm512_mul_ps(p, decay), update));
    }
    adam_scalar(param, m, v, grad, i, n, c);
}

__attribute__((target("avx"))) static void adam_avx(float *param, float *m, float *v,
                                                    const float *grad, size_t n,
                                                    const adam_consts *c)
{
    CK_NO_CONTRACT
    const __m256 l2 = _mm256_set1_ps(c->l2), b1 = _mm256_set1_ps(c->beta1);
    const __m256 b2 = _mm256_set1_ps(c->beta2), omb1 = _mm256_set1_ps(c->one_m_b1);
    const __m256 omb2 = _mm256_set1_ps(c->one_m_b2), decay = _mm256_set1_ps(c->decay);
    const __m256 step = _mm256_set1_ps(c->step_size), inv = _mm256_set1_ps(c->inv_sqrt_bc2);
    const __m256 eps = _mm256_set1_ps(c->eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 p = _mm256_loadu_ps(param + i);
        const __m256 g = _mm256_add_ps(_mm256_loadu_ps(grad + i), _mm256_mul_ps(l2, p));
        const __m256 mi =
            _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(omb1, g));
        const __m256 vi = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
                                        _mm256_mul_ps(_mm256_mul_ps(omb2, g), g));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        const __m256 denominator = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), inv), eps);
        const __m256 update = _mm256_div_ps(_mm256_mul_ps(step, mi), denominator);
        _mm256_storeu_ps(param + i, _mm256_sub_ps(_mm256_mul_ps(p, decay), update));
    }
    adam_scalar(param, m, v, grad, i, n, c);
}
#endif

static void adam_update(float *restrict param, float *restrict m, float *restrict v,
                        const float *restrict grad, size_t n, float lr, float beta1, float beta2,
                        float eps, float l2, float decay, int64_t step)
{
    const adam_consts c = {(float)(lr / (1.0 - pow(beta1, (double)step))),
                           (float)(1.0 / sqrt(1.0 - pow(beta2, (double)step))),
                           beta1,
                           beta2,
                           1.0f - beta1,
                           1.0f - beta2,
                           eps,
                           l2,
                           decay};
#if defined(__x86_64__)
    /* The vector width follows the GEMM kernel chosen by CPUID (AVX2 implies AVX). */
    switch (ck_gemm_selected_kernel()) {
    case CK_GEMM_AVX512:
        adam_avx512(param, m, v, grad, n, &c);
        return;
    case CK_GEMM_AVX2:
        adam_avx(param, m, v, grad, n, &c);
        return;
    default:
        break;
    }
#endif
    adam_scalar(param, m, v, grad, 0, n, &c);
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
