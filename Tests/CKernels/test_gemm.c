/* test_gemm.c — ck_sgemm / ck_sgemm_reference against a naive triple loop, and the linear layer
 * helpers against naive loops and central differences. */
#include "test_util.h"

typedef int (*gemm_fn)(int, int, size_t, size_t, size_t, float, const float *, size_t,
                       const float *, size_t, float, float *, size_t);

/* C = alpha * op(A) op(B) + beta * C, the obvious way, in double. */
static void naive_gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                       size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0.0;
            for (size_t p = 0; p < K; p++)
                s += (double)(ta ? A[p * lda + i] : A[i * lda + p]) *
                     (tb ? B[j * ldb + p] : B[p * ldb + j]);
            const double c = beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)(alpha * s + c);
        }
}

/* All four transpose combinations with padded leading dimensions: padding holds NaN in A and B
 * (must never be read) and a sentinel in C (must never be written). */
static void check_gemm(gemm_fn gemm, const char *name, size_t M, size_t N, size_t K)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
            const size_t lda = ac + 3, ldb = bc + 2, ldc = N + 1;
            float *A = talloc(ar * lda), *B = talloc(br * ldb);
            float *C = talloc(M * ldc), *want = talloc(M * ldc);
            for (size_t i = 0; i < ar * lda; i++)
                A[i] = NAN;
            for (size_t i = 0; i < br * ldb; i++)
                B[i] = NAN;
            for (size_t r = 0; r < ar; r++)
                fill_uniform(A + r * lda, ac, -1.0f, 1.0f, 100 + r);
            for (size_t r = 0; r < br; r++)
                fill_uniform(B + r * ldb, bc, -1.0f, 1.0f, 200 + r);
            fill_uniform(C, M * ldc, -1.0f, 1.0f, 3);
            for (size_t i = 0; i < M; i++)
                C[i * ldc + N] = 12345.0f;
            memcpy(want, C, M * ldc * sizeof(float));
            naive_gemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, -0.3f, want, ldc);
            EXPECT(gemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, -0.3f, C, ldc) == CK_OK,
                   "%s status", name);
            char what[96];
            snprintf(what, sizeof what, "%s ta=%d tb=%d %zux%zux%zu", name, ta, tb, M, N, K);
            EXPECT_CLOSE(what, C, want, M * ldc, 1e-5, 1e-5);
        }
}

static void test_gemm_reference_vs_naive(void)
{
    check_gemm(ck_sgemm_reference, "reference", 7, 13, 5);
    check_gemm(ck_sgemm_reference, "reference", 1, 1, 1);
    check_gemm(ck_sgemm_reference, "reference", 1, 9, 4);
    check_gemm(ck_sgemm_reference, "reference", 16, 3, 33);
}

static void test_gemm_vs_naive(void)
{
    check_gemm(ck_sgemm, "sgemm", 7, 13, 5);
    check_gemm(ck_sgemm, "sgemm", 1, 1, 1);
    check_gemm(ck_sgemm, "sgemm", 1, 9, 4);
    check_gemm(ck_sgemm, "sgemm", 64, 48, 37);
}

/* beta == 0 must not read C (NaN stays out); K == 0 and alpha == 0 reduce to C = beta * C. */
static void check_degenerate(gemm_fn gemm, const char *name)
{
    float A[6], B[6], C[4], want[4];
    fill_uniform(A, 6, -1.0f, 1.0f, 1);
    fill_uniform(B, 6, -1.0f, 1.0f, 2);
    for (int i = 0; i < 4; i++)
        C[i] = NAN;
    EXPECT(gemm(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2) == CK_OK, "%s status", name);
    for (int i = 0; i < 4; i++)
        want[i] = NAN;
    naive_gemm(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, want, 2);
    EXPECT_CLOSE(name, C, want, 4, 1e-6, 1e-6);

    const float c0[4] = {1.0f, -2.0f, 3.0f, 4.0f};
    const float scaled[4] = {0.5f, -1.0f, 1.5f, 2.0f};
    memcpy(C, c0, sizeof C);
    EXPECT(gemm(0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, C, 2) == CK_OK, "%s K=0", name);
    EXPECT_CLOSE("K=0 gives beta*C", C, scaled, 4, 0.0, 0.0);
    memcpy(C, c0, sizeof C);
    EXPECT(gemm(0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 0.5f, C, 2) == CK_OK, "%s alpha=0", name);
    EXPECT_CLOSE("alpha=0 gives beta*C", C, scaled, 4, 0.0, 0.0);
    EXPECT(gemm(0, 0, 0, 5, 3, 1.0f, NULL, 3, NULL, 5, 0.0f, NULL, 5) == CK_OK, "%s M=0", name);
}

static void test_gemm_degenerate(void)
{
    check_degenerate(ck_sgemm_reference, "reference");
    check_degenerate(ck_sgemm, "sgemm");
}

static void test_gemm_invalid_args(void)
{
    float A[6] = {0}, B[6] = {0}, C[4] = {0};
    gemm_fn fns[2] = {ck_sgemm_reference, ck_sgemm};
    for (int f = 0; f < 2; f++) {
        EXPECT(fns[f](0, 0, 2, 2, 3, 1.0f, A, 2, B, 2, 0.0f, C, 2) == CK_ERR_SIZE, "lda < K");
        EXPECT(fns[f](1, 0, 2, 2, 3, 1.0f, A, 1, B, 2, 0.0f, C, 2) == CK_ERR_SIZE, "lda < M (transA)");
        EXPECT(fns[f](0, 1, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2) == CK_ERR_SIZE, "ldb < K (transB)");
        EXPECT(fns[f](0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 1) == CK_ERR_SIZE, "ldc < N");
        EXPECT(fns[f](0, 0, 2, 2, 3, 1.0f, NULL, 3, B, 2, 0.0f, C, 2) == CK_ERR_NULL, "A NULL");
        EXPECT(fns[f](0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, NULL, 2) == CK_ERR_NULL, "C NULL");
    }
    for (int i = 0; i < 4; i++)
        EXPECT(C[i] == 0.0f, "C written on error");
}

static void test_blas_threads(void)
{
    const int before = ck_blas_get_threads();
    EXPECT(before >= 1, "threads %d", before);
    ck_blas_set_threads(1);
    EXPECT(ck_blas_get_threads() == 1, "set 1 -> %d", ck_blas_get_threads());
    ck_blas_set_threads(before);
    EXPECT(ck_blas_get_threads() == before, "restore");
}

/* out = in W^T + bias, W stored [n_out, n_in]. */
static void naive_linear(float *out, const float *in, const float *W, const float *bias, size_t B,
                         size_t n_in, size_t n_out)
{
    for (size_t b = 0; b < B; b++)
        for (size_t o = 0; o < n_out; o++) {
            double s = bias ? bias[o] : 0.0;
            for (size_t i = 0; i < n_in; i++)
                s += (double)in[b * n_in + i] * W[o * n_in + i];
            out[b * n_out + o] = (float)s;
        }
}

static void check_linear_forward(size_t B, size_t n_in, size_t n_out)
{
    float *in = talloc(B * n_in), *W = talloc(n_out * n_in), *bias = talloc(n_out);
    float *out = talloc(B * n_out), *want = talloc(B * n_out);
    fill_uniform(in, B * n_in, -1.0f, 1.0f, 1);
    fill_uniform(W, n_out * n_in, -1.0f, 1.0f, 2);
    fill_uniform(bias, n_out, -1.0f, 1.0f, 3);
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        const float *bp = with_bias ? bias : NULL;
        fill_uniform(out, B * n_out, 5.0f, 6.0f, 4); /* garbage: must be overwritten */
        naive_linear(want, in, W, bp, B, n_in, n_out);
        EXPECT(ck_linear_forward(out, in, W, bp, B, n_in, n_out) == CK_OK, "status");
        EXPECT_CLOSE(with_bias ? "linear fwd + bias" : "linear fwd", out, want, B * n_out, 1e-5,
                     1e-5);
    }
}

static void test_linear_forward(void)
{
    check_linear_forward(7, 13, 5);
    check_linear_forward(1, 4, 3);
    check_linear_forward(1, 1, 1);
}

static void test_linear_backward_vs_naive(void)
{
    const size_t B = 7, n_in = 13, n_out = 5;
    float *in = talloc(B * n_in), *W = talloc(n_out * n_in), *dOut = talloc(B * n_out);
    float *dIn = talloc(B * n_in), *dW = talloc(n_out * n_in), *dBias = talloc(n_out);
    float *dW0 = talloc(n_out * n_in), *dBias0 = talloc(n_out);
    float *wIn = talloc(B * n_in), *gW = talloc(n_out * n_in), *gBias = talloc(n_out);
    float *want = talloc(n_out * n_in);
    fill_uniform(in, B * n_in, -1.0f, 1.0f, 1);
    fill_uniform(W, n_out * n_in, -1.0f, 1.0f, 2);
    fill_uniform(dOut, B * n_out, -1.0f, 1.0f, 3);
    fill_uniform(dIn, B * n_in, 7.0f, 8.0f, 4);       /* overwritten */
    fill_uniform(dW0, n_out * n_in, -1.0f, 1.0f, 5); /* accumulated into */
    fill_uniform(dBias0, n_out, -1.0f, 1.0f, 6);
    memcpy(dW, dW0, n_out * n_in * sizeof(float));
    memcpy(dBias, dBias0, n_out * sizeof(float));
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < n_in; i++) {
            double s = 0.0;
            for (size_t o = 0; o < n_out; o++)
                s += (double)dOut[b * n_out + o] * W[o * n_in + i];
            wIn[b * n_in + i] = (float)s;
        }
    for (size_t o = 0; o < n_out; o++) {
        for (size_t i = 0; i < n_in; i++) {
            double s = 0.0;
            for (size_t b = 0; b < B; b++)
                s += (double)dOut[b * n_out + o] * in[b * n_in + i];
            gW[o * n_in + i] = (float)s;
        }
        double s = 0.0;
        for (size_t b = 0; b < B; b++)
            s += dOut[b * n_out + o];
        gBias[o] = (float)s;
    }
    EXPECT(ck_linear_backward(dIn, dW, dBias, dOut, in, W, B, n_in, n_out) == CK_OK, "status");
    EXPECT_CLOSE("dIn", dIn, wIn, B * n_in, 1e-5, 1e-5);
    for (size_t k = 0; k < n_out * n_in; k++)
        want[k] = dW0[k] + gW[k];
    EXPECT_CLOSE("dW accumulated", dW, want, n_out * n_in, 1e-5, 1e-5);
    for (size_t o = 0; o < n_out; o++)
        want[o] = dBias0[o] + gBias[o];
    EXPECT_CLOSE("dBias accumulated", dBias, want, n_out, 1e-5, 1e-5);

    /* dIn and dBias are optional; dW accumulates again */
    EXPECT(ck_linear_backward(NULL, dW, NULL, dOut, in, W, B, n_in, n_out) == CK_OK, "nullable");
    for (size_t k = 0; k < n_out * n_in; k++)
        want[k] = dW0[k] + 2.0f * gW[k];
    EXPECT_CLOSE("dW accumulated twice", dW, want, n_out * n_in, 1e-5, 1e-5);
    EXPECT(ck_linear_backward(NULL, NULL, NULL, dOut, in, W, B, n_in, n_out) == CK_ERR_NULL,
           "dW required");
}

typedef struct {
    float *out, *in, *W, *bias, *r;
    size_t B, n_in, n_out;
} linear_ctx;

static double linear_loss(void *p)
{
    linear_ctx *c = p;
    ck_linear_forward(c->out, c->in, c->W, c->bias, c->B, c->n_in, c->n_out);
    return dot_d(c->r, c->out, c->B * c->n_out);
}

static void test_linear_backward_fd(void)
{
    const size_t B = 3, n_in = 7, n_out = 5;
    linear_ctx c = {talloc(B * n_out), talloc(B * n_in), talloc(n_out * n_in), talloc(n_out),
                    talloc(B * n_out), B, n_in, n_out};
    fill_uniform(c.in, B * n_in, -1.0f, 1.0f, 1);
    fill_uniform(c.W, n_out * n_in, -1.0f, 1.0f, 2);
    fill_uniform(c.bias, n_out, -1.0f, 1.0f, 3);
    fill_uniform(c.r, B * n_out, -1.0f, 1.0f, 4); /* dL/dout */
    float *dIn = talloc(B * n_in), *dW = talloc(n_out * n_in), *dBias = talloc(n_out);
    ck_init_zeros(dW, n_out * n_in);
    ck_init_zeros(dBias, n_out);
    EXPECT(ck_linear_backward(dIn, dW, dBias, c.r, c.in, c.W, B, n_in, n_out) == CK_OK, "status");
    FD_CHECK("dIn", c.in, dIn, B * n_in, linear_loss, &c, 1.0f / 64, 1e-4, 1e-3);
    FD_CHECK("dW", c.W, dW, n_out * n_in, linear_loss, &c, 1.0f / 64, 1e-4, 1e-3);
    FD_CHECK("dBias", c.bias, dBias, n_out, linear_loss, &c, 1.0f / 64, 1e-4, 1e-3);
}

void suite_gemm(void)
{
    RUN(test_gemm_reference_vs_naive);
    RUN(test_gemm_vs_naive);
    RUN(test_gemm_degenerate);
    RUN(test_gemm_invalid_args);
    RUN(test_blas_threads);
    RUN(test_linear_forward);
    RUN(test_linear_backward_vs_naive);
    RUN(test_linear_backward_fd);
}
