/* gemm_tiled.c — cache-blocked single-precision GEMM, one of the seed kernels' autotune
 * variants.
 *
 * Blocks of tile_m rows of C, tile_k of the shared dimension and tile_n columns keep the
 * working set in L1/L2 for the tile sizes Tezzeret tries. The inner loop always walks
 * contiguous memory: an axpy over a row of B when B is not transposed, a dot product over rows
 * of A and B when it is (then A must not be transposed for contiguity; the transposed-A case
 * gathers A's column, which is still correct, only slower).
 */
#include "ckernels_seeds.h"
#include "gemm_internal.h"

#include <limits.h>

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }
static size_t at_least_1(size_t n) { return n ? n : 1; }

int ck_sgemm_tiled(size_t tile_m, size_t tile_n, size_t tile_k, int transA, int transB, size_t M,
                   size_t N, size_t K, float alpha, const float *A, size_t lda, const float *B,
                   size_t ldb, float beta, float *C, size_t ldc)
{
    if (tile_m == 0 || tile_n == 0 || tile_k == 0)
        return CK_ERR_ARG;
    if (lda < at_least_1(transA ? M : K) || ldb < at_least_1(transB ? K : N) || ldc < at_least_1(N))
        return CK_ERR_SIZE;
    if (M && N && (!C || (K && (!A || !B))))
        return CK_ERR_NULL;
    ck_gemm_scale_c(M, N, beta, C, ldc);
    if (alpha == 0.0f || K == 0)
        return CK_OK;
    for (size_t i0 = 0; i0 < M; i0 += tile_m) {
        const size_t i1 = min_size(M, i0 + tile_m);
        for (size_t p0 = 0; p0 < K; p0 += tile_k) {
            const size_t p1 = min_size(K, p0 + tile_k);
            for (size_t j0 = 0; j0 < N; j0 += tile_n) {
                const size_t j1 = min_size(N, j0 + tile_n);
                for (size_t i = i0; i < i1; i++) {
                    float *restrict c = C + i * ldc;
                    if (!transB) {
                        for (size_t p = p0; p < p1; p++) {
                            const float a = alpha * (transA ? A[p * lda + i] : A[i * lda + p]);
                            const float *restrict b = B + p * ldb;
                            for (size_t j = j0; j < j1; j++)
                                c[j] += a * b[j];
                        }
                    } else {
                        for (size_t j = j0; j < j1; j++) {
                            const float *restrict b = B + j * ldb;
                            float s = 0.0f;
                            if (!transA) {
                                const float *restrict a = A + i * lda;
                                for (size_t p = p0; p < p1; p++)
                                    s += a[p] * b[p];
                            } else {
                                for (size_t p = p0; p < p1; p++)
                                    s += A[p * lda + i] * b[p];
                            }
                            c[j] += alpha * s;
                        }
                    }
                }
            }
        }
    }
    return CK_OK;
}
