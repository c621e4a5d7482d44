/* gemm.c — single-precision GEMM (row-major) and the linear-layer helpers built on it.
 *
 * ck_sgemm runs on the fastest implementation this CPU supports, chosen once by CPUID: our packed
 * AVX-512 or AVX2 microkernels (gemm_packed.c, split over a small thread pool, gemm_pool.c), else
 * OpenBLAS' cblas_sgemm, else (CK_NO_BLAS on a CPU without AVX2) ck_sgemm_reference: plain loops
 * ordered so the innermost loop walks contiguous memory, always compiled so tests can compare
 * against it. The linear layer stores W as [n_out, n_in]; its forward
 * broadcasts the bias into the output and then runs GEMM with beta = 1, so the bias add costs no
 * extra pass over the output.
 */
#include "gemm_internal.h"

#include <limits.h>
#include <stdatomic.h>
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
    ck_gemm_scale_c(M, N, beta, C, ldc);
    if (alpha == 0.0f)
        return CK_OK;
    for (size_t i = 0; i < M; i++) {
        float *restrict c = C + i * ldc;
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

/* ---- dispatch --------------------------------------------------------------------------- */

static _Atomic int gemm_threads = 1;

static ck_gemm_kernel select_kernel(void)
{
#ifdef CK_GEMM_FORCE_KERNEL /* benches only: measure another path in the same program */
    if (ck_gemm_kernel_supported(CK_GEMM_FORCE_KERNEL))
        return CK_GEMM_FORCE_KERNEL;
#endif
    static const ck_gemm_kernel order[] = {CK_GEMM_AVX512, CK_GEMM_AVX2, CK_GEMM_BLAS};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (ck_gemm_kernel_supported(order[i]))
            return order[i];
    return CK_GEMM_REFERENCE;
}

ck_gemm_kernel ck_gemm_selected_kernel(void)
{
    static _Atomic int selected = -1; /* CPUID does not change: resolve once */
    int k = atomic_load_explicit(&selected, memory_order_relaxed);
    if (k < 0) {
        k = (int)select_kernel();
        atomic_store_explicit(&selected, k, memory_order_relaxed);
    }
    return (ck_gemm_kernel)k;
}

const char *ck_gemm_kernel_name(ck_gemm_kernel kernel)
{
    switch (kernel) {
    case CK_GEMM_AUTO: return "auto";
    case CK_GEMM_REFERENCE: return "reference";
    case CK_GEMM_BLAS: return "blas";
    case CK_GEMM_AVX2: return "avx2";
    case CK_GEMM_AVX512: return "avx512";
    }
    return "unknown";
}

void ck_blas_set_threads(int n)
{
    n = n < 1 ? 1 : n > 64 ? 64 : n;
    atomic_store(&gemm_threads, n);
#ifndef CK_NO_BLAS
    openblas_set_num_threads(n);
#endif
}

int ck_blas_get_threads(void) { return atomic_load(&gemm_threads); }

/* One part of a GEMM split across the pool: a band of columns (or rows) of C. */
typedef struct {
    ck_gemm_kernel kernel;
    int transA, transB, parts, split_columns;
    size_t M, N, K, lda, ldb, ldc;
    size_t tiles, unit; /* the split dimension: tiles of `unit` rows or columns */
    float alpha, beta;
    const float *A, *B;
    float *C;
    int status[CK_GEMM_MAX_PARTS];
} gemm_split;

static void run_part(void *ctx, int index)
{
    gemm_split *g = ctx;
    const size_t total = g->split_columns ? g->N : g->M, parts = (size_t)g->parts;
    /* part i: tiles [i T / P, (i + 1) T / P), so part sizes differ by at most one tile */
    const size_t begin = (size_t)index * g->tiles / parts * g->unit;
    const size_t end_tile = ((size_t)index + 1) * g->tiles / parts * g->unit;
    const size_t end = end_tile < total ? end_tile : total;
    g->status[index] = CK_OK;
    if (begin == end)
        return;
    g->status[index] =
        g->split_columns
            ? ck_sgemm_packed_range(g->kernel, g->transA, g->transB, 0, g->M, begin, end, g->K,
                                    g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc)
            : ck_sgemm_packed_range(g->kernel, g->transA, g->transB, begin, end, 0, g->N, g->K,
                                    g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc);
}

/* Splits a large GEMM into bands of whole microkernel tiles, two per thread, whose sizes differ by
 * at most one tile (N = 784 is 25 column tiles: 6, 6, 6, 7, not 7, 7, 7, 4 — with two threads the
 * latter leaves one thread 14 tiles against the other's 10.5); small ones (where handing work to
 * another core costs more than it saves) and shapes too narrow to split run on the caller. */
static int packed_gemm(ck_gemm_kernel kernel, int threads, int transA, int transB, size_t M,
                       size_t N, size_t K, float alpha, const float *A, size_t lda, const float *B,
                       size_t ldb, float beta, float *C, size_t ldc)
{
    threads = threads < CK_GEMM_MAX_THREADS ? threads : CK_GEMM_MAX_THREADS;
    const double work = (double)M * (double)N * (double)K;
    if (threads > 1 && work >= CK_GEMM_PARALLEL_MIN_WORK) {
        const int want = threads * CK_GEMM_PARTS_PER_THREAD;
        gemm_split g = {kernel, transA, transB, 0, 0, M, N, K, lda, ldb, ldc, 0, 0, alpha, beta,
                        A, B, C, {0}};
        if ((g.tiles = (N + CK_GEMM_NR - 1) / CK_GEMM_NR) >= (size_t)threads * 2) {
            g.split_columns = 1;
            g.unit = CK_GEMM_NR;
        } else if ((g.tiles = (M + CK_GEMM_MR - 1) / CK_GEMM_MR) >= (size_t)threads * 2) {
            g.unit = CK_GEMM_MR;
        } else {
            g.tiles = 0;
        }
        g.parts = g.tiles < (size_t)want ? (int)g.tiles : want;
        if (g.parts > 1 && ck_gemm_pool_run(threads, g.parts, run_part, &g)) {
            for (int i = 0; i < g.parts; i++)
                if (g.status[i] != CK_OK)
                    return g.status[i];
            return CK_OK;
        }
    }
    return ck_sgemm_packed_range(kernel, transA, transB, 0, M, 0, N, K, alpha, A, lda, B, ldb,
                                 beta, C, ldc);
}

void ck_gemm_scale_c(size_t M, size_t N, float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        float *restrict c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, N * sizeof(float));
        else if (beta != 1.0f)
            for (size_t j = 0; j < N; j++)
                c[j] *= beta;
    }
}

int ck_sgemm_with(ck_gemm_kernel kernel, int threads, int transA, int transB, size_t M, size_t N,
                  size_t K, float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                  float beta, float *C, size_t ldc)
{
    if (kernel == CK_GEMM_AUTO)
        kernel = ck_gemm_selected_kernel();
    if (threads < 1 || !ck_gemm_kernel_supported(kernel))
        return CK_ERR_ARG;
    if (kernel == CK_GEMM_REFERENCE)
        return ck_sgemm_reference(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    int st = check_gemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
    if (st != CK_OK)
        return st;
    if (M == 0 || N == 0)
        return CK_OK;
#ifndef CK_NO_BLAS
    if (kernel == CK_GEMM_BLAS) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, A, (int)lda,
                    B, (int)ldb, beta, C, (int)ldc);
        return CK_OK;
    }
#endif
    if (K == 0 || alpha == 0.0f) {
        ck_gemm_scale_c(M, N, beta, C, ldc);
        return CK_OK;
    }
    return packed_gemm(kernel, threads, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C,
                       ldc);
}

int ck_sgemm(int transA, int transB, size_t M, size_t N, size_t K, float alpha, const float *A,
             size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    return ck_sgemm_with(CK_GEMM_AUTO, ck_blas_get_threads(), transA, transB, M, N, K, alpha, A,
                         lda, B, ldb, beta, C, ldc);
}

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
