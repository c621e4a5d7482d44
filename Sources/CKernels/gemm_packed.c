/* gemm_packed.c — our own packed, register-blocked SGEMM (BLIS / llm.c style): the AVX-512
 * microkernel, the packing and scratch it shares with the AVX2 one (gemm_avx2.c), and the entry
 * that runs either, chosen at run time by CPUID.
 *
 * Why our own: OpenBLAS is the other option, but on this project's machines the environment forces
 * OPENBLAS_CORETYPE=Haswell (older OpenBLAS builds misbehave on AMD Zen 4), which makes the
 * training step 1.7x slower than JAX; the shapes that matter (batch 128 x 784/256/10) are small
 * enough that packing plus one well-fed microkernel beats every library measured (see
 * docs/performance.md).
 *
 * Layout: C (row-major) is computed in MR x NR = 8 x 32 tiles. op(B) is packed into panels of 32
 * columns ([k][32], zero-padded), op(A) into panels of 8 rows ([k][8], zero-padded); the
 * microkernel broadcasts one A value per row and multiplies it into two 16-float B vectors, so one
 * tile holds 16 zmm accumulators. Blocking: KC values of the shared dimension (A micro-panel 8 KB,
 * stays in L1), NC columns of B per packed block (<= 512 KB, stays in L2). Packing handles all
 * four transpose combinations; the transposing packs use 8 x 8 in-register transposes.
 * Padding of A, B and C outside the M x N x K window is never read or written, and beta == 0 never
 * reads C (it may hold NaN).
 */
#include "gemm_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_X86 1
#endif

enum { MR = CK_GEMM_MR, NR = CK_GEMM_NR, KC = 256, NC = 512 };
_Static_assert(MR == 8, "the AVX-512 tile stores are spelled out for 8 rows");

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }
static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* ---- per-thread packing scratch ----------------------------------------------------------- */

/* One growing, 64-byte-aligned buffer per thread, freed when the thread exits; it never holds
 * state between calls, it only saves an allocation (and its page faults) per GEMM. */
typedef struct {
    float *data;
    size_t floats;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_free(void *p)
{
    scratch *s = p;
    if (s) {
        free(s->data);
        free(s);
    }
}

static void scratch_init(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

float *ck_gemm_scratch(size_t floats)
{
    pthread_once(&scratch_once, scratch_init);
    if (!scratch_key_ok)
        return NULL;
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->floats < floats) {
        float *data = aligned_alloc(64, round_up(floats * sizeof(float), 64));
        if (!data)
            return NULL;
        free(s->data);
        s->data = data;
        s->floats = floats;
    }
    return s->data;
}

#ifdef CK_X86

/* ---- packing ------------------------------------------------------------------------------ */

/* dst[c * 8 + r] = src[r * lds + c] for an 8 x 8 block. */
__attribute__((target("avx2"))) static void transpose_8x8(const float *src, size_t lds, float *dst)
{
    __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * 8, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * 8, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * 8, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * 8, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * 8, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * 8, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * 8, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * 8, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* Packs rows of a "strided" source into a panel: dst[p * w + c] = src[c * lds + p] for c < cols
 * (zero for cols <= c < w), p < k. w is a multiple of 8; used for op(A) = A (w = MR) and
 * op(B) = B^T (w = NR). Full 8 x 8 blocks are transposed in registers; edges go element-wise. */
__attribute__((target("avx2"))) static void pack_transposed(float *restrict dst, size_t w,
                                                            const float *restrict src, size_t lds,
                                                            size_t cols, size_t k)
{
    for (size_t c0 = 0; c0 < w; c0 += 8) {
        const size_t n = c0 < cols ? min_size(8, cols - c0) : 0;
        size_t p = 0;
        if (n == 8) {
            float block[64];
            for (; p + 8 <= k; p += 8) {
                transpose_8x8(src + c0 * lds + p, lds, block);
                for (size_t q = 0; q < 8; q++)
                    memcpy(dst + (p + q) * w + c0, block + q * 8, 8 * sizeof(float));
            }
        }
        for (; p < k; p++) {
            float *d = dst + p * w + c0;
            size_t c = 0;
            for (; c < n; c++)
                d[c] = src[(c0 + c) * lds + p];
            for (; c < 8; c++)
                d[c] = 0.0f;
        }
    }
}

/* dst[p * w + c] = src[p * lds + c] for c < cols (zero up to w), p < k: op(A) = A^T or op(B) = B. */
static void pack_direct(float *restrict dst, size_t w, const float *restrict src, size_t lds,
                        size_t cols, size_t k)
{
    for (size_t p = 0; p < k; p++) {
        float *d = dst + p * w;
        memcpy(d, src + p * lds, cols * sizeof(float));
        for (size_t c = cols; c < w; c++)
            d[c] = 0.0f;
    }
}

void ck_gemm_pack_b(float *dst, size_t w, int transB, const float *B, size_t ldb, size_t p0,
                    size_t kc, size_t j0, size_t nc)
{
    for (size_t jr = 0; jr < nc; jr += w) {
        const size_t cols = min_size(w, nc - jr);
        float *d = dst + jr * kc;
        if (transB)
            pack_transposed(d, w, B + (j0 + jr) * ldb + p0, ldb, cols, kc);
        else
            pack_direct(d, w, B + p0 * ldb + j0 + jr, ldb, cols, kc);
    }
}

/* ---- microkernels ------------------------------------------------------------------------- */

/* The A operand is read in place: op(A)(i, p) = a[i * a_rs + p * a_ps] (row-major A: a_rs = lda,
 * a_ps = 1; transposed A: a_rs = 1, a_ps = lda), one broadcast per row and p. Rows past mr (an edge
 * tile) re-read row mr - 1 so nothing outside A is touched; their results are never stored.
 * B is a [kc][NR]-shaped panel with row stride b_ps: packed (b_ps = NR) or op(B) = B itself
 * (b_ps = ldb), read with masks past nr so nothing outside B is touched either. */
typedef struct {
    const float *a;
    size_t a_rs, a_ps;
    const float *b;
    size_t b_ps;
    float *c;
    size_t ldc;
    float alpha, beta;
    int accumulate; /* C += ... (a later K block): beta is already applied */
    size_t mr, nr;
} tile_args;

/* C[mr, nr] = alpha * op(A) op(B) + (accumulate ? C : beta * C); beta == 0 does not read C. */
typedef void (*microkernel)(size_t kc, const tile_args *t);

/* Row r of the tile's A, clamped to the last valid row. */
static inline const float *a_row(const tile_args *t, size_t r)
{
    return t->a + (r < t->mr ? r : t->mr - 1) * t->a_rs;
}

/* One pointer per row, spelled out: an array of them (filled by a loop) makes GCC keep the
 * accumulators in memory. */
#define ROW_PTRS(t)                                                                                \
    const float *ar[MR] = {a_row(t, 0), a_row(t, 1), a_row(t, 2), a_row(t, 3),                     \
                           a_row(t, 4), a_row(t, 5), a_row(t, 6), a_row(t, 7)};

/* Where and how a tile is written: C = alpha acc + (accumulate ? C : beta C), masked to nr columns. */
typedef struct {
    float *c;
    size_t ldc, mr;
    __m512 va, vb;
    int read_c;
    __mmask16 m0, m1;
} tile_out;

__attribute__((target("avx512f"), always_inline)) static inline tile_out
tile_out_avx512(const tile_args *t, __mmask16 m0, __mmask16 m1)
{
    return (tile_out){t->c, t->ldc, t->mr, _mm512_set1_ps(t->alpha),
                      _mm512_set1_ps(t->accumulate ? 1.0f : t->beta),
                      t->accumulate || t->beta != 0.0f, m0, m1};
}

/* Writes 32 (or 16 when !wide) columns of row r. */
__attribute__((target("avx512f"), always_inline)) static inline void
store_row_avx512(tile_out o, size_t r, __m512 v0, __m512 v1, int wide)
{
    float *cr = o.c + r * o.ldc;
    v0 = _mm512_mul_ps(o.va, v0);
    v1 = _mm512_mul_ps(o.va, v1);
    if (o.read_c) {
        v0 = _mm512_fmadd_ps(o.vb, _mm512_maskz_loadu_ps(o.m0, cr), v0);
        if (wide)
            v1 = _mm512_fmadd_ps(o.vb, _mm512_maskz_loadu_ps(o.m1, cr + 16), v1);
    }
    _mm512_mask_storeu_ps(cr, o.m0, v0);
    if (wide)
        _mm512_mask_storeu_ps(cr + 16, o.m1, v1);
}

/* 8 x 32: 16 zmm accumulators, two B vectors per p. */
__attribute__((target("avx512f"), always_inline)) static inline void
kernel_avx512_wide(size_t kc, const tile_args *t, size_t a_ps, __mmask16 m0, __mmask16 m1)
{
    ROW_PTRS(t)
    const float *b = t->b;
    const size_t b_ps = t->b_ps;
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (size_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + p * b_ps);
        const __m512 b1 = _mm512_maskz_loadu_ps(m1, b + p * b_ps + 16);
        for (int r = 0; r < MR; r++) {
            const __m512 av = _mm512_set1_ps(ar[r][p * a_ps]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    const tile_out o = tile_out_avx512(t, m0, m1);
#define STORE_WIDE(r) if (r < o.mr) store_row_avx512(o, r, acc[r][0], acc[r][1], 1)
    /* spelled out: a loop over a runtime mr makes compilers keep acc in memory */
    STORE_WIDE(0); STORE_WIDE(1); STORE_WIDE(2); STORE_WIDE(3);
    STORE_WIDE(4); STORE_WIDE(5); STORE_WIDE(6); STORE_WIDE(7);
#undef STORE_WIDE
}

/* 8 x 16: a narrow last panel (N = 10; N = 784 = 24 * 32 + 16) does half the work. */
__attribute__((target("avx512f"), always_inline)) static inline void
kernel_avx512_narrow(size_t kc, const tile_args *t, size_t a_ps, __mmask16 m0)
{
    ROW_PTRS(t)
    const float *b = t->b;
    const size_t b_ps = t->b_ps;
    __m512 acc[MR];
    for (int r = 0; r < MR; r++)
        acc[r] = _mm512_setzero_ps();
    for (size_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + p * b_ps);
        for (int r = 0; r < MR; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(ar[r][p * a_ps]), b0, acc[r]);
    }
    const tile_out o = tile_out_avx512(t, m0, 0);
#define STORE_NARROW(r) if (r < o.mr) store_row_avx512(o, r, acc[r], acc[r], 0)
    STORE_NARROW(0); STORE_NARROW(1); STORE_NARROW(2); STORE_NARROW(3);
    STORE_NARROW(4); STORE_NARROW(5); STORE_NARROW(6); STORE_NARROW(7);
#undef STORE_NARROW
}

__attribute__((target("avx512f"), always_inline)) static inline void
kernel_avx512_body(size_t kc, const tile_args *t, size_t a_ps)
{
    const size_t nr = t->nr;
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    if (nr > 16)
        kernel_avx512_wide(kc, t, a_ps, m0, nr >= 32 ? 0xFFFF : (__mmask16)((1u << (nr - 16)) - 1));
    else
        kernel_avx512_narrow(kc, t, a_ps, m0);
}

__attribute__((target("avx512f"))) static void kernel_avx512_rows(size_t kc, const tile_args *t)
{
    kernel_avx512_body(kc, t, 1);
}

__attribute__((target("avx512f"))) static void kernel_avx512_cols(size_t kc, const tile_args *t)
{
    kernel_avx512_body(kc, t, t->a_ps);
}

/* ---- the blocked driver ------------------------------------------------------------------- */

/* Computes rows [i_begin, i_end) x columns [j_begin, j_end) of C on the AVX-512 kernel; sizes
 * already validated, alpha != 0 and K > 0. op(B) is packed per KC x NC block unless the kernel can
 * read it in place (B not transposed); A is always read in place. Returns CK_ERR_SIZE when packing
 * scratch cannot be allocated (nothing written then). */
static int gemm_block_avx512(int transA, int transB, size_t i_begin, size_t i_end, size_t j_begin,
                             size_t j_end, size_t K, float alpha, const float *A, size_t lda,
                             const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    const size_t M = i_end - i_begin, N = j_end - j_begin;
    const int pack = transB;
    microkernel run = transA ? kernel_avx512_cols : kernel_avx512_rows;
    float *bp = NULL;
    if (pack && !(bp = ck_gemm_scratch(min_size(K, KC) * round_up(min_size(N, NC), NR))))
        return CK_ERR_SIZE;
    tile_args t = {.a_rs = transA ? 1 : lda, .a_ps = transA ? lda : 1, .ldc = ldc,
                   .alpha = alpha, .beta = beta};
    for (size_t jc = j_begin; jc < j_end; jc += NC) {
        const size_t nc = min_size(NC, j_end - jc);
        for (size_t pc = 0; pc < K; pc += KC) {
            const size_t kc = min_size(KC, K - pc);
            if (pack)
                ck_gemm_pack_b(bp, NR, transB, B, ldb, pc, kc, jc, nc);
            t.accumulate = pc != 0;
            for (size_t ir = 0; ir < M; ir += MR) {
                const size_t i = i_begin + ir;
                t.a = transA ? A + pc * lda + i : A + i * lda + pc;
                t.mr = min_size(MR, M - ir);
                for (size_t jr = 0; jr < nc; jr += NR) {
                    t.b = pack ? bp + jr * kc : B + pc * ldb + jc + jr;
                    t.b_ps = pack ? NR : ldb;
                    t.c = C + i * ldc + jc + jr;
                    t.nr = min_size(NR, nc - jr);
                    run(kc, &t);
                }
            }
        }
    }
    return CK_OK;
}

#endif /* CK_X86 */

int ck_gemm_kernel_supported(ck_gemm_kernel kernel)
{
    switch (kernel) {
    case CK_GEMM_REFERENCE:
        return 1;
#ifndef CK_NO_BLAS
    case CK_GEMM_BLAS:
        return 1;
#endif
#ifdef CK_X86
    case CK_GEMM_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CK_GEMM_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
#endif
    default:
        return 0;
    }
}

int ck_sgemm_packed_range(ck_gemm_kernel kernel, int transA, int transB, size_t i_begin,
                          size_t i_end, size_t j_begin, size_t j_end, size_t K, float alpha,
                          const float *A, size_t lda, const float *B, size_t ldb, float beta,
                          float *C, size_t ldc)
{
#ifdef CK_X86
    if (kernel == CK_GEMM_AVX2)
        return ck_sgemm_avx2_range(transA, transB, i_begin, i_end, j_begin, j_end, K, alpha, A, lda,
                                   B, ldb, beta, C, ldc);
    if (kernel != CK_GEMM_AVX512)
        return CK_ERR_ARG;
    return gemm_block_avx512(transA, transB, i_begin, i_end, j_begin, j_end, K, alpha, A, lda, B,
                             ldb, beta, C, ldc);
#else
    (void)kernel; (void)transA; (void)transB; (void)i_begin; (void)i_end; (void)j_begin;
    (void)j_end; (void)K; (void)alpha; (void)A; (void)lda; (void)B; (void)ldb; (void)beta;
    (void)C; (void)ldc;
    return CK_ERR_ARG;
#endif
}
