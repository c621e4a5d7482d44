/* layer_norm.c — layer normalisation over the last dimension of x[B,N], forward and backward.
 *
 * The forward saves per-row mean and rstd so the backward needs no recomputation. Row statistics
 * use two passes with double accumulation (exact for constant rows: var = 0, rstd = 1/sqrt(eps)).
 * The backward computes dx and accumulates dgamma/dbeta in the same sweep over each row.
 */
#include "ckernels.h"

#include <math.h>

int ck_layernorm_forward(float *restrict y, float *restrict mean, float *restrict rstd,
                         const float *restrict x, const float *restrict gamma,
                         const float *restrict beta, float eps, size_t B, size_t N)
{
    if (!(eps > 0.0f))
        return CK_ERR_ARG;
    if (N == 0)
        return CK_ERR_SIZE;
    if (B && (!y || !mean || !rstd || !x || !gamma || !beta))
        return CK_ERR_NULL;
    for (size_t b = 0; b < B; b++) {
        const float *restrict xr = x + b * N;
        float *restrict yr = y + b * N;
        double s = 0.0;
        for (size_t j = 0; j < N; j++)
            s += xr[j];
        const float mu = (float)(s / (double)N);
        double ss = 0.0;
        for (size_t j = 0; j < N; j++) {
            const double d = (double)xr[j] - mu;
            ss += d * d;
        }
        const float rs = 1.0f / sqrtf((float)(ss / (double)N) + eps);
        for (size_t j = 0; j < N; j++)
            yr[j] = (xr[j] - mu) * rs * gamma[j] + beta[j];
        mean[b] = mu;
        rstd[b] = rs;
    }
    return CK_OK;
}

int ck_layernorm_backward(float *restrict dx, float *restrict dgamma, float *restrict dbeta,
                          const float *restrict dy, const float *restrict x,
                          const float *restrict mean, const float *restrict rstd,
                          const float *restrict gamma, size_t B, size_t N)
{
    if (N == 0)
        return CK_ERR_SIZE;
    if (B && (!dx || !dgamma || !dbeta || !dy || !x || !mean || !rstd || !gamma))
        return CK_ERR_NULL;
    const float invN = 1.0f / (float)N;
    for (size_t b = 0; b < B; b++) {
        const float *restrict xr = x + b * N;
        const float *restrict dyr = dy + b * N;
        float *restrict dxr = dx + b * N;
        const float mu = mean[b], rs = rstd[b];
        /* dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), with g = dy * gamma */
        float sum_g = 0.0f, sum_gx = 0.0f;
        for (size_t j = 0; j < N; j++) {
            const float g = dyr[j] * gamma[j];
            sum_g += g;
            sum_gx += g * (xr[j] - mu) * rs;
        }
        const float mg = sum_g * invN, mgx = sum_gx * invN;
        for (size_t j = 0; j < N; j++) {
            const float xhat = (xr[j] - mu) * rs;
            dxr[j] = rs * (dyr[j] * gamma[j] - mg - xhat * mgx);
            dgamma[j] += dyr[j] * xhat;
            dbeta[j] += dyr[j];
        }
    }
    return CK_OK;
}
