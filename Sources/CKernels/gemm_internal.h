/* gemm_internal.h — what gemm.c shares with the packed SGEMM and the GEMM thread pool. */
#ifndef CK_GEMM_INTERNAL_H
#define CK_GEMM_INTERNAL_H

#include "ckernels.h"

/* The AVX-512 kernel's tile: MR rows x NR columns of C; threads split C in bands of whole tiles
 * of it (the AVX2 kernel's 6 x 16 tile divides the 32-column bands; a band of rows, used only for
 * narrow N, may end in a shorter AVX2 tile). */
enum {
    CK_GEMM_MR = 8,
    CK_GEMM_NR = 32,
    CK_GEMM_MAX_THREADS = 8, /* the pool's workers + the caller */
    CK_GEMM_PARTS_PER_THREAD = 2, /* finer parts balance better when a core is busy elsewhere */
    CK_GEMM_MAX_PARTS = CK_GEMM_MAX_THREADS * CK_GEMM_PARTS_PER_THREAD
};
/* M * N * K below which one GEMM stays on one thread (handing work over costs a few us). */
#define CK_GEMM_PARALLEL_MIN_WORK (1024.0 * 1024.0)

/* Rows [i_begin, i_end) x columns [j_begin, j_end) of C = alpha op(A) op(B) + beta C with the
 * packed microkernel `kernel` (CK_GEMM_AVX2 or CK_GEMM_AVX512, supported on this CPU); arguments
 * already validated, alpha != 0, K > 0. CK_ERR_ARG for another kernel, CK_ERR_SIZE when packing
 * scratch cannot be allocated (nothing written then). */
int ck_sgemm_packed_range(ck_gemm_kernel kernel, int transA, int transB, size_t i_begin,
                          size_t i_end, size_t j_begin, size_t j_end, size_t K, float alpha,
                          const float *A, size_t lda, const float *B, size_t ldb, float beta,
                          float *C, size_t ldc);

/* The same range on the AVX2 + FMA kernel (gemm_avx2.c); same contract. */
int ck_sgemm_avx2_range(int transA, int transB, size_t i_begin, size_t i_end, size_t j_begin,
                        size_t j_end, size_t K, float alpha, const float *A, size_t lda,
                        const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* This thread's packing scratch, at least `floats` long and 64-byte aligned (grown as needed,
 * freed when the thread exits; holds no state between calls); NULL when it cannot be allocated. */
float *ck_gemm_scratch(size_t floats);

/* Packs op(B)[p0 : p0+kc, j0 : j0+nc] as ceil(nc / w) panels of [kc][w] (w a multiple of 8),
 * zero-padded past nc; x86 with AVX2 only. */
void ck_gemm_pack_b(float *dst, size_t w, int transB, const float *B, size_t ldb, size_t p0,
                    size_t kc, size_t j0, size_t nc);

/* C = beta * C over M rows of N (beta == 0 overwrites without reading, beta == 1 leaves C
 * alone): the whole GEMM when alpha or K is 0, and the first step of the plain and tiled ones. */
void ck_gemm_scale_c(size_t M, size_t N, float beta, float *C, size_t ldc);

/* Runs part(ctx, i) once for every i in [0, parts) (parts <= 255) on the caller and up to
 * threads - 1 pool workers, which claim parts as they come (a worker that is not scheduled leaves
 * its share to the caller), and returns when all are done. Returns 0 without running anything when
 * threads or parts < 2, the pool is in use by another thread (the caller then works alone, so
 * concurrent callers never oversubscribe the cores) or workers cannot be started; 1 when the parts
 * ran. */
int ck_gemm_pool_run(int threads, int parts, void (*part)(void *ctx, int index), void *ctx);

#endif
