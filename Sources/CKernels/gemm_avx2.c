/* gemm_avx2.c — the packed SGEMM for CPUs with AVX2 + FMA and no AVX-512 (e.g. AMD Zen 2 / Zen 3):
 * a 6 x 16 register tile, blocked for a 32 KB L1 and a 512 KB L2.
 *
 * Why its own tile: AVX2 has 16 ymm registers. The 8 x 32 tile of the AVX-512 kernel, computed as
 * four 4 x 16 sub-tiles, had 8 accumulators — exactly the 2 FMA pipes x 4 cycles of latency that
 * Zen 3 needs in flight, so any stall idled a pipe — and read A and B twice. 6 x 16 (the BLIS /
 * OpenBLAS Haswell shape) keeps 12 accumulators, 2 B vectors and 1 broadcast in registers: per
 * value of the shared dimension 2 loads of B and 6 broadcasts of A feed 12 FMAs (issue 20, item 1:
 * on Zen 3 it beat OpenBLAS's sgemm on the training step's GEMMs, see docs/performance.md).
 *
 * Layout: op(B) is packed per KC x NC block into panels of 16 columns ([kc][16], zero-padded;
 * the packing of gemm_packed.c); op(A) is read in place (one broadcast per row and p), so the
 * batch-sized operand is never copied. Loop order per block: 6-row slices of A outside (a slice,
 * 6 x kc floats, stays in L1), 16-column panels of B inside (the block stays in L2). K and N are
 * cut into equal blocks (K = 784: 4 x 196, not 3 x 256 + 16), so no block pays a whole pass over
 * C for a few values of K. Edge tiles: a kernel per row count 1..6 (no wasted rows), masked loads
 * and stores past the last column. Padding outside the M x N x K window is never read or written,
 * and beta == 0 never reads C (it may hold NaN).
 */
#include "gemm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

enum {
    MR = 6,
    NR = 16,
    KC = 256,           /* a 16-column panel of B (16 KB) + a slice of A (6 KB) in L1 */
    B_BLOCK = 64 * 1024 /* floats of packed B per block: 256 KB, half of L2 */
};

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }
static size_t div_up(size_t n, size_t d) { return (n + d - 1) / d; }

typedef struct {
    const float *a; /* op(A)(i, p) = a[i * a_rs + p * a_ps] */
    size_t a_rs, a_ps;
    const float *b; /* packed panel [kc][NR] */
    float *c;
    size_t ldc, nr;
    float alpha, beta_c; /* C = alpha acc + beta_c C */
    int read_c;          /* 0: beta == 0 on the first K block, C is not read */
} tile;

/* C[rows, nr] = alpha * op(A) op(B) + beta_c * C. `rows` and `row_major` (op(A) = A: a_ps == 1,
 * else a_rs == 1) are constants after inlining; the row loops are unrolled explicitly because GCC
 * otherwise keeps the accumulator array in memory (clang unrolls them either way). */
__attribute__((target("avx2,fma"), always_inline)) static inline void
tile_body(size_t kc, const tile *t, const int rows, const int row_major)
{
    const float *ar[MR];
    #pragma GCC unroll 6
    for (int r = 0; r < rows; r++)
        ar[r] = t->a + (size_t)r * (row_major ? t->a_rs : 1);
    const size_t a_ps = row_major ? 1 : t->a_ps;
    const float *b = t->b;
    __m256 acc[MR][2];
    #pragma GCC unroll 6
    for (int r = 0; r < rows; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    #pragma GCC unroll 6
    for (int r = 0; r < rows; r++) /* C is written last; start fetching it now */
        _mm_prefetch((const char *)(t->c + (size_t)r * t->ldc), _MM_HINT_T0);
    /* unrolled: the pointer updates and the loop test once per 48 FMAs (measured 5-7 % faster
     * than no unrolling or 2; 8 was no better than 4) */
    #pragma GCC unroll 4
    for (size_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_load_ps(b + p * NR), b1 = _mm256_load_ps(b + p * NR + 8);
        #pragma GCC unroll 6
        for (int r = 0; r < rows; r++) {
            const __m256 av = _mm256_broadcast_ss(ar[r] + p * a_ps);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    const __m256 va = _mm256_set1_ps(t->alpha), vb = _mm256_set1_ps(t->beta_c);
    if (t->nr == NR) {
        #pragma GCC unroll 6
        for (int r = 0; r < rows; r++) {
            float *cr = t->c + (size_t)r * t->ldc;
            __m256 v0 = _mm256_mul_ps(va, acc[r][0]), v1 = _mm256_mul_ps(va, acc[r][1]);
            if (t->read_c) {
                v0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), v0);
                v1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), v1);
            }
            _mm256_storeu_ps(cr, v0);
            _mm256_storeu_ps(cr + 8, v1);
        }
    } else { /* lanes past nr are neither read nor written */
        const __m256i n = _mm256_set1_epi32((int)t->nr);
        const __m256i m0 = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256i m1 = _mm256_cmpgt_epi32(n, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
        #pragma GCC unroll 6
        for (int r = 0; r < rows; r++) {
            float *cr = t->c + (size_t)r * t->ldc;
            __m256 v0 = _mm256_mul_ps(va, acc[r][0]), v1 = _mm256_mul_ps(va, acc[r][1]);
            if (t->read_c) {
                v0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr, m0), v0);
                v1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + 8, m1), v1);
            }
            _mm256_maskstore_ps(cr, m0, v0);
            _mm256_maskstore_ps(cr + 8, m1, v1);
        }
    }
}

typedef void (*kernel_fn)(size_t kc, const tile *t);

/* kernels[transA][rows - 1]: row-major A (p contiguous) or transposed A (rows contiguous). */
#define KERNELS(rows)                                                                              \
    __attribute__((target("avx2,fma"))) static void k_rows##rows(size_t kc, const tile *t)       \
    {                                                                                              \
        tile_body(kc, t, rows, 1);                                                                 \
    }                                                                                              \
    __attribute__((target("avx2,fma"))) static void k_cols##rows(size_t kc, const tile *t)       \
    {                                                                                              \
        tile_body(kc, t, rows, 0);                                                                 \
    }
KERNELS(1)
KERNELS(2)
KERNELS(3)
KERNELS(4)
KERNELS(5)
KERNELS(6)
#undef KERNELS

static const kernel_fn kernels[2][MR] = {
    {k_rows1, k_rows2, k_rows3, k_rows4, k_rows5, k_rows6},
    {k_cols1, k_cols2, k_cols3, k_cols4, k_cols5, k_cols6},
};

int ck_sgemm_avx2_range(int transA, int transB, size_t i_begin, size_t i_end, size_t j_begin,
                        size_t j_end, size_t K, float alpha, const float *A, size_t lda,
                        const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    const size_t M = i_end - i_begin, N = j_end - j_begin;
    /* equal K blocks of at most KC; then equal N blocks of whole panels within B_BLOCK */
    const size_t kc_step = div_up(K, div_up(K, KC));
    const size_t nc_max = (B_BLOCK / kc_step) / NR * NR;
    const size_t nc_step = div_up(div_up(N, div_up(N, nc_max)), NR) * NR;
    float *bp = ck_gemm_scratch(kc_step * nc_step);
    if (!bp)
        return CK_ERR_SIZE;
    const kernel_fn *run = kernels[transA ? 1 : 0];
    tile t = {.a_rs = transA ? 1 : lda, .a_ps = transA ? lda : 1, .ldc = ldc, .alpha = alpha};
    for (size_t jc = j_begin; jc < j_end; jc += nc_step) {
        const size_t nc = min_size(nc_step, j_end - jc);
        for (size_t pc = 0; pc < K; pc += kc_step) {
            const size_t kc = min_size(kc_step, K - pc);
            ck_gemm_pack_b(bp, NR, transB, B, ldb, pc, kc, jc, nc);
            t.read_c = pc != 0 || beta != 0.0f;
            t.beta_c = pc != 0 ? 1.0f : beta; /* later K blocks add to what the first wrote */
            for (size_t ir = 0; ir < M; ir += MR) {
                const size_t i = i_begin + ir, rows = min_size(MR, M - ir);
                t.a = transA ? A + pc * lda + i : A + i * lda + pc;
                for (size_t jr = 0; jr < nc; jr += NR) {
                    t.b = bp + jr * kc;
                    t.c = C + i * ldc + jc + jr;
                    t.nr = min_size(NR, nc - jr);
                    run[rows - 1](kc, &t);
                }
            }
        }
    }
    return CK_OK;
}

#else

int ck_sgemm_avx2_range(int transA, int transB, size_t i_begin, size_t i_end, size_t j_begin,
                        size_t j_end, size_t K, float alpha, const float *A, size_t lda,
                        const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    (void)transA; (void)transB; (void)i_begin; (void)i_end; (void)j_begin; (void)j_end; (void)K;
    (void)alpha; (void)A; (void)lda; (void)B; (void)ldb; (void)beta; (void)C; (void)ldc;
    return CK_ERR_ARG;
}

#endif
