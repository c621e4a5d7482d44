/* gemm_packed.c — our own packed, register-blocked SGEMM (BLIS / llm.c style) with AVX-512 and
 * AVX2 microkernels, chosen at run time by CPUID.
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

static float *scratch_get(size_t floats)
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

/* Packs op(A)[i0 : i0+mc, p0 : p0+kc] as ceil(mc / MR) panels of [kc][MR]. */
static void pack_a(float *dst, int transA, const float *A, size_t lda, size_t i0, size_t mc,
                   size_t p0, size_t kc)
{
    for (size_t ir = 0; ir < mc; ir += MR) {
        const size_t rows = min_size(MR, mc - ir);
        float *d = dst + ir * kc;
        if (transA)
            pack_direct(d, MR, A + p0 * lda + i0 + ir, lda, rows, kc);
        else
            pack_transposed(d, MR, A + (i0 + ir) * lda + p0, lda, rows, kc);
    }
}

/* Packs op(B)[p0 : p0+kc, j0 : j0+nc] as ceil(nc / NR) panels of [kc][NR]. */
static void pack_b(float *dst, int transB, const float *B, size_t ldb, size_t p0, size_t kc,
                   size_t j0, size_t nc)
{
    for (size_t jr = 0; jr < nc; jr += NR) {
        const size_t cols = min_size(NR, nc - jr);
        float *d = dst + jr * kc;
        if (transB)
            pack_transposed(d, NR, B + (j0 + jr) * ldb + p0, ldb, cols, kc);
        else
            pack_direct(d, NR, B + p0 * ldb + j0 + jr, ldb, cols, kc);
    }
}

/* ---- microkernels ------------------------------------------------------------------------- */

/* C[mr, nr] = alpha * Apanel Bpanel + (accumulate ? C : beta * C); beta == 0 does not read C. */
typedef void (*microkernel)(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                            float alpha, float beta, int accumulate, size_t mr, size_t nr);

__attribute__((target("avx512f"))) static void kernel_avx512(size_t kc, const float *restrict a,
                                                             const float *restrict b,
                                                             float *restrict c, size_t ldc,
                                                             float alpha, float beta, int accumulate,
                                                             size_t mr, size_t nr)
{
    __m512 acc[MR][2];
    for (int r = 0; r < MR; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (size_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_load_ps(b + p * NR), b1 = _mm512_load_ps(b + p * NR + 16);
        for (int r = 0; r < MR; r++) {
            const __m512 av = _mm512_set1_ps(a[p * MR + r]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(accumulate ? 1.0f : beta);
    const int read_c = accumulate || beta != 0.0f;
    for (size_t r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        __m512 v0 = _mm512_mul_ps(va, acc[r][0]), v1 = _mm512_mul_ps(va, acc[r][1]);
        if (read_c) {
            v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), v0);
            v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), v1);
        }
        _mm512_mask_storeu_ps(cr, m0, v0);
        _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}

/* AVX2 + FMA: the same 8 x 32 panels, computed as 4 x 16 sub-tiles (8 ymm accumulators: AVX2
 * has 16 registers), written through a local tile so edges need no masks. */
__attribute__((target("avx2,fma"))) static void kernel_avx2(size_t kc, const float *restrict a,
                                                            const float *restrict b,
                                                            float *restrict c, size_t ldc,
                                                            float alpha, float beta, int accumulate,
                                                            size_t mr, size_t nr)
{
    float tile[MR][NR] __attribute__((aligned(32)));
    for (int r0 = 0; r0 < MR; r0 += 4)
        for (int c0 = 0; c0 < NR; c0 += 16) {
            __m256 acc[4][2];
            for (int r = 0; r < 4; r++)
                acc[r][0] = acc[r][1] = _mm256_setzero_ps();
            for (size_t p = 0; p < kc; p++) {
                const __m256 b0 = _mm256_load_ps(b + p * NR + c0);
                const __m256 b1 = _mm256_load_ps(b + p * NR + c0 + 8);
                for (int r = 0; r < 4; r++) {
                    const __m256 av = _mm256_broadcast_ss(a + p * MR + r0 + r);
                    acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
                }
            }
            for (int r = 0; r < 4; r++) {
                _mm256_store_ps(&tile[r0 + r][c0], acc[r][0]);
                _mm256_store_ps(&tile[r0 + r][c0 + 8], acc[r][1]);
            }
        }
    const float bc = accumulate ? 1.0f : beta;
    for (size_t r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        if (accumulate || beta != 0.0f)
            for (size_t j = 0; j < nr; j++)
                cr[j] = alpha * tile[r][j] + bc * cr[j];
        else
            for (size_t j = 0; j < nr; j++)
                cr[j] = alpha * tile[r][j];
    }
}

/* ---- the blocked driver ------------------------------------------------------------------- */

/* Computes columns [j_begin, j_end) and rows [i_begin, i_end) of C; sizes already validated,
 * alpha != 0 and K > 0. Returns CK_ERR_SIZE when scratch cannot be allocated (nothing written). */
static int gemm_block(microkernel kernel, int transA, int transB, size_t i_begin, size_t i_end,
                      size_t j_begin, size_t j_end, size_t K, float alpha, const float *A,
                      size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    const size_t M = i_end - i_begin, N = j_end - j_begin;
    const size_t kc_max = min_size(K, KC), nc_max = round_up(min_size(N, NC), NR);
    const size_t mc = round_up(M, MR);
    float *bp = scratch_get(kc_max * nc_max + kc_max * mc);
    if (!bp)
        return CK_ERR_SIZE;
    float *ap = bp + kc_max * nc_max;
    for (size_t jc = j_begin; jc < j_end; jc += NC) {
        const size_t nc = min_size(NC, j_end - jc);
        for (size_t pc = 0; pc < K; pc += KC) {
            const size_t kc = min_size(KC, K - pc);
            pack_b(bp, transB, B, ldb, pc, kc, jc, nc);
            pack_a(ap, transA, A, lda, i_begin, M, pc, kc);
            for (size_t ir = 0; ir < M; ir += MR) {
                const size_t mr = min_size(MR, M - ir);
                for (size_t jr = 0; jr < nc; jr += NR)
                    kernel(kc, ap + ir * kc, bp + jr * kc, C + (i_begin + ir) * ldc + jc + jr, ldc,
                           alpha, beta, pc != 0, mr, min_size(NR, nc - jr));
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
    microkernel k = kernel == CK_GEMM_AVX512 ? kernel_avx512 : kernel == CK_GEMM_AVX2 ? kernel_avx2 : NULL;
    if (!k)
        return CK_ERR_ARG;
    return gemm_block(k, transA, transB, i_begin, i_end, j_begin, j_end, K, alpha, A, lda, B, ldb,
                      beta, C, ldc);
#else
    (void)kernel; (void)transA; (void)transB; (void)i_begin; (void)i_end; (void)j_begin;
    (void)j_end; (void)K; (void)alpha; (void)A; (void)lda; (void)B; (void)ldb; (void)beta;
    (void)C; (void)ldc;
    return CK_ERR_ARG;
#endif
}
