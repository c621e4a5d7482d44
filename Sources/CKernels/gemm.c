/* gemm.c — single-precision GEMM (row-major) and the linear-layer helpers built on it.
 *
 * ck_sgemm forwards to OpenBLAS' cblas_sgemm unless compiled with CK_NO_BLAS, in which case it uses
 * ck_sgemm_reference: plain loops ordered so the innermost loop walks contiguous memory, always
 * compiled so tests can compare against it. The linear layer stores W as [n_out, n_in]; its forward
 * broadcasts the bias into the output and then runs GEMM with beta = 1, so the bias add costs no
 * extra pass over the output.
 */
#include "ckernels.h"

#include <limits.h>
#include <string.h>

#ifdef CK_NO_BLAS
#define CK_MAX_DIM SIZE_MAX
#else
#include <cblas.h>
/* Not declared by every cblas.h; redeclaring a matching prototype is harmless. */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
#define CK_MAX_DIM ((size_t)INT_MAX) /* cblas takes int sizes */
#endif

static size_t at_least_1(size_t n) { return n ? n : 1; }

static int check_gemm(int transA, int transB, size_t M, size_t N, size_t K, const float *A,
                      size_t lda, const float *B, size_t ldb, const float *C, size_t ldc)
{
    if (lda < at_least_1(transA ? M : K) || ldb < at_least_1(transB ? K : N) || ldc < at_least_1(N) ||
        M > CK_MAX_DIM || N > CK_MAX_DIM || K > CK_MAX_DIM || lda > CK_MAX_DIM || ldb > CK_MAX_DIM ||
        ldc > CK_MAX_DIM)
        return CK_ERR_SIZE;
    if (M && N && (!C || (K && (!A || !B))))
        return CK_ERR_NULL;
    return CK_OK;
}

int ck_sgemm_reference(int transA, int transB, size_t M, size_t N, size_t K, float alpha,
                       const float *A, size_t lda, const float *B, size_t ldb, float beta,
                       float *C, size_t ldc)
{
    int st = check_gemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
    if (st != CK_OK)
        return st;
    for (size_t i = 0; i < M; i++) {
        float *restrict c = C + i * ldc;
        if (beta == 0.0f) {
            for (size_t j = 0; j < N; j++)
                c[j] = 0.0f;
        } else if (beta != 1.0f) {
            for (size_t j = 0; j < N; j++)
                c[j] *= beta;
        }
        if (alpha == 0.0f)
            continue;
        if (!transB) { /* c[:] += a_ip * B[p, :]  (axpy over contiguous rows of B) */
            for (size_t p = 0; p < K; p++) {
                const float a = alpha * (transA ? A[p * lda + i] : A[i * lda + p]);
                const float *restrict b = B + p * ldb;
                for (size_t j = 0; j < N; j++)
                    c[j] += a * b[j];
            }
        } else { /* c[j] += alpha * dot(A row i, B row j)  (rows of B are contiguous) */
            for (size_t j = 0; j < N; j++) {
                const float *restrict b = B + j * ldb;
                float s = 0.0f;
                for (size_t p = 0; p < K; p++)
                    s += (transA ? A[p * lda + i] : A[i * lda + p]) * b[p];
                c[j] += alpha * s;
            }
        }
    }
    return CK_OK;
}

#ifdef CK_NO_BLAS

int ck_sgemm(int transA, int transB, size_t M, size_t N, size_t K, float alpha, const float *A,
             size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    return ck_sgemm_reference(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void ck_blas_set_threads(int n) { (void)n; }
int ck_blas_get_threads(void) { return 1; }

#else

int ck_sgemm(int transA, int transB, size_t M, size_t N, size_t K, float alpha, const float *A,
             size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    int st = check_gemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
    if (st != CK_OK)
        return st;
    if (M == 0 || N == 0)
        return CK_OK;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return CK_OK;
}

void ck_blas_set_threads(int n) { openblas_set_num_threads(n); }
int ck_blas_get_threads(void) { return openblas_get_num_threads(); }

#endif

int ck_linear_forward(float *out, const float *in, const float *W, const float *bias, size_t B,
                      size_t n_in, size_t n_out)
{
    if (B && n_out && (!out || (n_in && (!in || !W))))
        return CK_ERR_NULL;
    if (B > CK_MAX_DIM || n_in > CK_MAX_DIM || n_out > CK_MAX_DIM)
        return CK_ERR_SIZE; /* checked before the bias broadcast so nothing is written on error */
    if (bias)
        for (size_t b = 0; b < B; b++)
            memcpy(out + b * n_out, bias, n_out * sizeof(float));
    const size_t ldi = at_least_1(n_in);
    return ck_sgemm(0, 1, B, n_out, n_in, 1.0f, in, ldi, W, ldi, bias ? 1.0f : 0.0f, out,
                    at_least_1(n_out));
}

int ck_linear_backward(float *dIn, float *dW, float *dBias, const float *dOut, const float *in,
                       const float *W, size_t B, size_t n_in, size_t n_out)
{
    if ((n_out && n_in && !dW) || (B && n_out && !dOut) || (B && n_in && !in) ||
        (dIn && B && n_in && n_out && !W))
        return CK_ERR_NULL;
    const size_t ldi = at_least_1(n_in), ldo = at_least_1(n_out);
    int st;
    if (dIn && (st = ck_sgemm(0, 0, B, n_in, n_out, 1.0f, dOut, ldo, W, ldi, 0.0f, dIn, ldi)) != CK_OK)
        return st;
    if ((st = ck_sgemm(1, 0, n_out, n_in, B, 1.0f, dOut, ldo, in, ldi, 1.0f, dW, ldi)) != CK_OK)
        return st;
    if (dBias) {
        float *restrict db = dBias;
        for (size_t b = 0; b < B; b++) {
            const float *restrict g = dOut + b * n_out;
            for (size_t o = 0; o < n_out; o++)
                db[o] += g[o];
        }
    }
    return CK_OK;
}
