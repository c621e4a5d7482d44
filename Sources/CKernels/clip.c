/* clip.c — global L2 norm over a list of gradient buffers and clip-by-global-norm.
 *
 * Sums of squares are accumulated in double (exact products of floats) over four independent
 * lanes, so the reduction can be vectorised without reassociation flags and stays accurate over
 * millions of parameters.
 */
#include "ckernels.h"

#include <math.h>

static double sum_squares(const float *restrict x, size_t n)
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
