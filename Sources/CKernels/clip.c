/* clip.c — global L2 norm over a list of gradient buffers and clip-by-global-norm.
 *
 * Sums of squares are accumulated in double (exact products of floats) over independent lanes,
 * so the reduction stays accurate over millions of parameters: four lanes on the x86-64
 * baseline, 32 (AVX-512) or 16 (AVX) where the CPU has them — the lane count sets the order of
 * the additions, so the last bits of the double sum depend on the CPU, as a GEMM's do; the float
 * norm agrees with the exact sum within a rounding. The baseline loop was 7 % of a training
 * step on Zen 5 (issue 20): four dependent adds per four elements.
 */
#include "ckernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static double sum_squares_baseline(const float *restrict x, size_t n)
{
    double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += (double)x[i] * x[i];
        a1 += (double)x[i + 1] * x[i + 1];
        a2 += (double)x[i + 2] * x[i + 2];
        a3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++)
        a0 += (double)x[i] * x[i];
    return (a0 + a1) + (a2 + a3);
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static double sum_squares_avx512(const float *x, size_t n)
{
    __m512d a[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(),
                    _mm512_setzero_pd()};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            const __m512d d = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8 * k));
            a[k] = _mm512_add_pd(a[k], _mm512_mul_pd(d, d));
        }
    const double vector =
        _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(a[0], a[1]), _mm512_add_pd(a[2], a[3])));
    return vector + sum_squares_baseline(x + i, n - i);
}

__attribute__((target("avx"))) static double sum_squares_avx(const float *x, size_t n)
{
    __m256d a[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                    _mm256_setzero_pd()};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) {
            const __m256d d = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4 * k));
            a[k] = _mm256_add_pd(a[k], _mm256_mul_pd(d, d));
        }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(_mm256_add_pd(a[0], a[1]), _mm256_add_pd(a[2], a[3])));
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + sum_squares_baseline(x + i, n - i);
}
#endif

static double sum_squares(const float *x, size_t n)
{
#if defined(__x86_64__)
    /* The width follows the GEMM kernel chosen by CPUID (AVX2 implies AVX). */
    switch (ck_gemm_selected_kernel()) {
    case CK_GEMM_AVX512: return sum_squares_avx512(x, n);
    case CK_GEMM_AVX2: return sum_squares_avx(x, n);
    default: break;
    }
#endif
    return sum_squares_baseline(x, n);
}

float ck_global_l2_norm(const float *const *bufs, const size_t *lens, size_t count)
{
    double s = 0.0;
    for (size_t k = 0; k < count; k++)
        if (lens[k])
            s += sum_squares(bufs[k], lens[k]);
    return (float)sqrt(s);
}

float ck_clip_scale(float norm, float max_norm)
{
    return isfinite(norm) && norm > max_norm ? max_norm / norm : 1.0f;
}

float ck_clip_by_global_norm(float *const *bufs, const size_t *lens, size_t count, float max_norm)
{
    const float norm = ck_global_l2_norm((const float *const *)bufs, lens, count);
    const float scale = ck_clip_scale(norm, max_norm);
    if (scale != 1.0f)
        for (size_t k = 0; k < count; k++) {
            float *restrict x = bufs[k];
            for (size_t i = 0; i < lens[k]; i++)
                x[i] *= scale;
        }
    return norm;
}
