/* test_gemm_kernels.c — every ck_sgemm implementation this CPU supports (reference, OpenBLAS,
 * packed AVX2, packed AVX-512), with 1 to 3 threads, against a double-precision triple loop: all
 * transpose combinations, odd sizes around the 8 x 32 and 6 x 16 tiles and the K / N blocks,
 * padded leading dimensions (padding is NaN in A and B and must never be read, a sentinel in C
 * that must never be written), several alpha / beta, beta == 0 over a NaN C; and concurrent
 * callers sharing the pool. */
#define _POSIX_C_SOURCE 200809L
#include "test_util.h"

#include <pthread.h>

static void naive(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
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

static const ck_gemm_kernel all_kernels[] = {CK_GEMM_REFERENCE, CK_GEMM_BLAS, CK_GEMM_AVX2,
                                             CK_GEMM_AVX512, CK_GEMM_AUTO};

/* One GEMM on one kernel with `threads`, all four transpose combinations. */
static void check_one(ck_gemm_kernel kernel, int threads, size_t M, size_t N, size_t K, float alpha,
                      float beta)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
            const size_t lda = ac + 3, ldb = bc + 5, ldc = N + 1;
            float *A = talloc(ar * lda + 1), *B = talloc(br * ldb + 1);
            float *C = talloc(M * ldc + 1), *want = talloc(M * ldc + 1);
            for (size_t i = 0; i < ar * lda; i++)
                A[i] = NAN;
            for (size_t i = 0; i < br * ldb; i++)
                B[i] = NAN;
            for (size_t r = 0; r < ar; r++)
                fill_uniform(A + r * lda, ac, -1.0f, 1.0f, 100 + r);
            for (size_t r = 0; r < br; r++)
                fill_uniform(B + r * ldb, bc, -1.0f, 1.0f, 200 + r);
            if (beta == 0.0f)
                for (size_t i = 0; i < M * ldc; i++)
                    C[i] = NAN;
            else
                fill_uniform(C, M * ldc, -1.0f, 1.0f, 3);
            for (size_t i = 0; i < M; i++)
                C[i * ldc + N] = 12345.0f;
            memcpy(want, C, M * ldc * sizeof(float));
            naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, want, ldc);
            char what[128];
            snprintf(what, sizeof what, "%s threads=%d ta=%d tb=%d %zux%zux%zu alpha=%g beta=%g",
                     ck_gemm_kernel_name(kernel), threads, ta, tb, M, N, K, alpha, beta);
            EXPECT(ck_sgemm_with(kernel, threads, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C,
                                 ldc) == CK_OK,
                   "%s status", what);
            /* float accumulation over K terms of size <= 1 */
            EXPECT_CLOSE(what, C, want, M * ldc, 2e-6 * (double)(K + 1), 1e-5);
        }
}

static void check_kernel_sizes(ck_gemm_kernel kernel, int threads)
{
    static const size_t sizes[][3] = {
        {1, 1, 1},    {7, 13, 5},    {8, 32, 8},    {9, 33, 17},  {16, 31, 9},  {3, 70, 2},
        {40, 10, 300}, {17, 530, 33}, {70, 140, 130}, {130, 20, 80},
    };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        check_one(kernel, threads, sizes[s][0], sizes[s][1], sizes[s][2], 0.7f, -0.3f);
    check_one(kernel, threads, 21, 45, 19, 1.0f, 0.0f);
    check_one(kernel, threads, 21, 45, 19, 1.0f, 1.0f);
    check_one(kernel, threads, 9, 17, 11, -2.0f, 0.5f);
    /* several K and N blocks of the AVX2 kernel, cut unevenly (K = 520: 3 x 174 minus 2; N = 1100:
     * 3 blocks of 23 panels of 16 minus 4 columns), and a last 1-row slice */
    check_one(kernel, threads, 13, 1100, 520, 0.7f, -0.3f);
}

static void test_every_kernel_matches_naive(void)
{
    int ran = 0;
    for (size_t k = 0; k < sizeof all_kernels / sizeof all_kernels[0]; k++) {
        if (!ck_gemm_kernel_supported(all_kernels[k]))
            continue;
        check_kernel_sizes(all_kernels[k], 1);
        ran++;
    }
    EXPECT(ran >= 2, "reference and auto always run, ran %d", ran);
}

/* Shapes large enough (M * N * K >= 2^20) to be split across threads: by columns (N >= 128) and
 * by rows (narrow N), with the bands not a multiple of the tile, and tile counts that the parts do
 * not divide (N = 784: 25 column tiles, the last half full; M = 300: 38 row tiles). */
static void test_threaded_split_matches_naive(void)
{
    for (size_t k = 0; k < sizeof all_kernels / sizeof all_kernels[0]; k++) {
        if (!ck_gemm_kernel_supported(all_kernels[k]))
            continue;
        for (int threads = 2; threads <= 3; threads++) {
            check_one(all_kernels[k], threads, 70, 530, 40, 0.7f, -0.3f);
            check_one(all_kernels[k], threads, 300, 40, 100, 1.0f, 0.0f);
            check_one(all_kernels[k], threads, 130, 260, 40, 1.0f, 1.0f);
            check_one(all_kernels[k], threads, 33, 784, 48, 0.7f, -0.3f);
        }
    }
}

/* beta == 0 overwrites a NaN C; alpha == 0 and K == 0 give beta * C without reading A or B. */
static void test_kernels_degenerate(void)
{
    for (size_t k = 0; k < sizeof all_kernels / sizeof all_kernels[0]; k++) {
        const ck_gemm_kernel kernel = all_kernels[k];
        if (!ck_gemm_kernel_supported(kernel))
            continue;
        const char *name = ck_gemm_kernel_name(kernel);
        const float c0[4] = {1.0f, -2.0f, 3.0f, 4.0f}, scaled[4] = {0.5f, -1.0f, 1.5f, 2.0f};
        float A[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, B[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, C[4];
        memcpy(C, c0, sizeof C);
        EXPECT(ck_sgemm_with(kernel, 1, 0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, C, 2) == CK_OK,
               "%s K=0", name);
        EXPECT_CLOSE(name, C, scaled, 4, 0.0, 0.0);
        if (kernel != CK_GEMM_BLAS) { /* BLAS may multiply NaN A by alpha = 0 */
            memcpy(C, c0, sizeof C);
            EXPECT(ck_sgemm_with(kernel, 1, 0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 0.5f, C, 2) == CK_OK,
                   "%s alpha=0", name);
            EXPECT_CLOSE(name, C, scaled, 4, 0.0, 0.0);
        }
        EXPECT(ck_sgemm_with(kernel, 2, 1, 1, 0, 5, 3, 1.0f, NULL, 3, NULL, 5, 0.0f, NULL, 5) == CK_OK,
               "%s M=0", name);
        EXPECT(ck_sgemm_with(kernel, 1, 0, 0, 2, 2, 3, 1.0f, A, 2, B, 2, 0.0f, C, 2) == CK_ERR_SIZE,
               "%s lda < K", name);
    }
}

static void test_kernel_selection_and_bad_args(void)
{
    const ck_gemm_kernel selected = ck_gemm_selected_kernel();
    EXPECT(selected != CK_GEMM_AUTO && ck_gemm_kernel_supported(selected), "selected %d", selected);
    EXPECT(ck_gemm_kernel_supported(CK_GEMM_REFERENCE), "reference always there");
#ifdef CK_GEMM_FORCE_KERNEL /* the Makefile's forced-path builds: that kernel where it runs */
    if (ck_gemm_kernel_supported(CK_GEMM_FORCE_KERNEL))
        EXPECT(selected == CK_GEMM_FORCE_KERNEL, "forced kernel %d, got %s", CK_GEMM_FORCE_KERNEL,
               ck_gemm_kernel_name(selected));
#else
    if (ck_gemm_kernel_supported(CK_GEMM_AVX512))
        EXPECT(selected == CK_GEMM_AVX512, "AVX-512 CPU selects avx512, got %s",
               ck_gemm_kernel_name(selected));
#endif
    EXPECT(strcmp(ck_gemm_kernel_name((ck_gemm_kernel)42), "unknown") == 0, "unknown name");
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 0, 0, 1}, C[4] = {0};
    EXPECT(ck_sgemm_with((ck_gemm_kernel)42, 1, 0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2) == CK_ERR_ARG,
           "unknown kernel");
    EXPECT(ck_sgemm_with(CK_GEMM_AUTO, 0, 0, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2) == CK_ERR_ARG,
           "0 threads");
    for (int i = 0; i < 4; i++)
        EXPECT(C[i] == 0.0f, "C written on error");
    const int before = ck_blas_get_threads();
    ck_blas_set_threads(0);
    EXPECT(ck_blas_get_threads() == 1, "0 clamps to 1");
    ck_blas_set_threads(1000);
    EXPECT(ck_blas_get_threads() == 64, "1000 clamps to 64");
    ck_blas_set_threads(before);
}

/* Several threads each running split GEMMs at once: one gets the pool, the others compute alone;
 * every result must be right. */
typedef struct {
    int seed, failures;
} concurrent_job;

static void *concurrent_caller(void *arg)
{
    concurrent_job *job = arg;
    const size_t M = 96, N = 200, K = 120;
    float *A = malloc(M * K * sizeof(float)), *B = malloc(K * N * sizeof(float));
    float *C = malloc(M * N * sizeof(float)), *want = malloc(M * N * sizeof(float));
    fill_uniform(A, M * K, -1.0f, 1.0f, (uint64_t)job->seed);
    fill_uniform(B, K * N, -1.0f, 1.0f, (uint64_t)job->seed + 7);
    naive(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, want, N);
    for (int round = 0; round < 20; round++) {
        if (ck_sgemm_with(CK_GEMM_AUTO, 2, 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N) != CK_OK)
            job->failures++;
        for (size_t i = 0; i < M * N; i++)
            if (fabsf(C[i] - want[i]) > 1e-3f) {
                job->failures++;
                break;
            }
    }
    free(A);
    free(B);
    free(C);
    free(want);
    return NULL;
}

static void test_concurrent_callers_share_the_pool(void)
{
    enum { CALLERS = 3 };
    pthread_t threads[CALLERS];
    concurrent_job jobs[CALLERS];
    for (int t = 0; t < CALLERS; t++) {
        jobs[t] = (concurrent_job){t + 1, 0};
        EXPECT(pthread_create(&threads[t], NULL, concurrent_caller, &jobs[t]) == 0, "create");
    }
    for (int t = 0; t < CALLERS; t++) {
        pthread_join(threads[t], NULL);
        EXPECT(jobs[t].failures == 0, "caller %d: %d wrong results", t, jobs[t].failures);
    }
}

void suite_gemm_kernels(void)
{
    RUN(test_every_kernel_matches_naive);
    RUN(test_threaded_split_matches_naive);
    RUN(test_kernels_degenerate);
    RUN(test_kernel_selection_and_bad_args);
    RUN(test_concurrent_callers_share_the_pool);
}
