/* seed_math.c — building blocks every seed kind uses: GEMM and linear layers through the
 * spec's variant, activations by id, row softmax and its backward, column sums. */
#include "seed_internal.h"

int seed_gemm(const ck_seed_spec *s, int transA, int transB, size_t M, size_t N, size_t K, float alpha,
              const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    switch (s->variant) {
    case CK_VARIANT_BLAS:
        return ck_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    case CK_VARIANT_TILED:
        return ck_sgemm_tiled(s->tile_m, s->tile_n, s->tile_k, transA, transB, M, N, K, alpha, A, lda,
                              B, ldb, beta, C, ldc);
    default: /* naive, and kinds whose only matmuls are small fixed helpers */
        return ck_sgemm_reference(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
}

int seed_linear_fwd(const ck_seed_spec *s, float *out, size_t ldo, const float *in, size_t ldi,
                    const float *W, const float *bias, size_t B, size_t n_in, size_t n_out, float alpha)
{
    if (bias) {
        for (size_t b = 0; b < B; b++) {
            float *restrict o = out + b * ldo;
            for (size_t j = 0; j < n_out; j++)
                o[j] = alpha * bias[j];
        }
    }
    return seed_gemm(s, 0, 1, B, n_out, n_in, alpha, in, ldi, W, n_in, bias ? 1.0f : 0.0f, out, ldo);
}

int seed_linear_bwd(const ck_seed_spec *s, float *dIn, size_t ldin, int accumulate, float *dW, float *dBias,
                    const float *dOut, size_t ldo, const float *in, size_t ldi, const float *W, size_t B,
                    size_t n_in, size_t n_out, float alpha)
{
    int st = seed_gemm(s, 1, 0, n_out, n_in, B, alpha, dOut, ldo, in, ldi, 1.0f, dW, n_in);
    if (st != CK_OK)
        return st;
    if (dBias)
        seed_colsum_add(dBias, dOut, B, n_out, ldo, alpha);
    if (dIn)
        st = seed_gemm(s, 0, 0, B, n_in, n_out, alpha, dOut, ldo, W, n_in, accumulate ? 1.0f : 0.0f, dIn,
                       ldin);
    return st;
}

void seed_colsum_add(float *out, const float *g, size_t B, size_t n, size_t ld, float alpha)
{
    for (size_t b = 0; b < B; b++) {
        const float *restrict r = g + b * ld;
        for (size_t j = 0; j < n; j++)
            out[j] += alpha * r[j];
    }
}

void seed_act_fwd(uint32_t act, float *y, const float *z, size_t n)
{
    switch (act) {
    case CK_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = z[i] > 0.0f ? z[i] : 0.0f;
        break;
    case CK_ACT_GELU:
        for (size_t i = 0; i < n; i++) {
            const float v = z[i];
            y[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
        }
        break;
    case CK_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            y[i] = tanhf(z[i]);
        break;
    default:
        if (y != z)
            memmove(y, z, n * sizeof(float));
    }
}

void seed_act_bwd(uint32_t act, float *dz, const float *dy, const float *z, size_t n)
{
    switch (act) {
    case CK_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            dz[i] = z[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case CK_ACT_GELU:
        for (size_t i = 0; i < n; i++) {
            /* clamp as ck_gelu_backward does: beyond |x| = 10 gelu' is exactly 0 or 1 */
            const float v = z[i] > 10.0f ? 10.0f : (z[i] < -10.0f ? -10.0f : z[i]);
            const float t = tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v));
            const float du = 0.7978845608028654f * (1.0f + 3.0f * 0.044715f * v * v);
            dz[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
        }
        break;
    case CK_ACT_TANH:
        for (size_t i = 0; i < n; i++) {
            const float t = tanhf(z[i]);
            dz[i] = dy[i] * (1.0f - t * t);
        }
        break;
    default:
        if (dz != dy)
            memmove(dz, dy, n * sizeof(float));
    }
}

void seed_softmax_rows(float *p, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++) {
        float *row = p + r * n;
        float m = row[0];
        for (size_t j = 1; j < n; j++)
            m = row[j] > m ? row[j] : m;
        double sum = 0.0;
        for (size_t j = 0; j < n; j++) {
            row[j] = expf(row[j] - m);
            sum += row[j];
        }
        const float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < n; j++)
            row[j] *= inv;
    }
}

void seed_softmax_bwd_rows(float *dP, const float *P, size_t rows, size_t n, float scale)
{
    for (size_t r = 0; r < rows; r++) {
        float *d = dP + r * n;
        const float *p = P + r * n;
        double dot = 0.0;
        for (size_t j = 0; j < n; j++)
            dot += (double)d[j] * p[j];
        for (size_t j = 0; j < n; j++)
            d[j] = scale * p[j] * (d[j] - (float)dot);
    }
}
