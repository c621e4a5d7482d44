/* conv1d_direct.c — AVX-512 kernels for the narrow conv1d layers of small CNNs (at most 32 output
 * channels, e.g. the MNIST-1D paper's 25): the three products of a conv1d layer written for its
 * shapes instead of handed to the general SGEMM.
 *
 * Why: the general GEMM pads these shapes badly (the first layer's forward is [1900 x 5] x [5 x
 * 25]: five steps of the shared dimension per 8 x 32 tile, then 16 stores; its weight gradient
 * pads 25 x 75 to 32 x 96) and runs the bias + activation as a separate pass. Here
 *   - dz = dy act'(z) and the bias gradient in one vector pass (ck_bias_act_backward goes row by
 *     row through a call and a scalar column sum);
 *   - forward: z = cols W^T + bias, y = act(z) in one pass, 8 rows x (one or two vectors of output
 *     channels) per tile, the bias and ReLU applied in registers before the two stores;
 *   - weight gradient: dW += dz^T cols with the taps (K·C_in, 75 here) in vectors (5 vectors hold
 *     75 with 5 lanes spare) and 5-8 output channels per pass over the rows; with at most 8 taps
 *     (the first layer's 5) the output channels in vectors instead, one pass;
 *   - input gradient: each row's dcols = dz W (W's rows read in place) added straight into dx
 *     at the positions that row read (col2im fused; dcols is not written).
 * The results equal the GEMM path's up to float rounding order (tests compare both with a double
 * reference). Chosen by conv1d.c when the shape / activation fit and the CPU has AVX-512F; on a
 * CPU with AVX2 + FMA only, the functions at the end hand over to conv1d_direct_avx2.c (same
 * products in 8-float vectors). ck_conv1d_direct_isa says which; tests force each with
 * ck_conv1d_direct_force.
 */
#include "conv1d_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CK_X86 1
#endif

/* The instruction set a test or bench forced (ck_conv1d_direct_force), 0 for CPUID's choice. */
static _Atomic int forced_isa;

ck_gemm_kernel ck_conv1d_direct_isa(void)
{
    const int forced = atomic_load_explicit(&forced_isa, memory_order_relaxed);
    if (forced)
        return (ck_gemm_kernel)forced;
#ifdef CK_X86
    if (ck_gemm_kernel_supported(CK_GEMM_AVX512))
        return CK_GEMM_AVX512;
    if (ck_gemm_kernel_supported(CK_GEMM_AVX2))
        return CK_GEMM_AVX2;
#endif
    return CK_GEMM_AUTO;
}

int ck_conv1d_direct_force(ck_gemm_kernel isa)
{
#ifdef CK_X86
    if (isa == CK_GEMM_AUTO || ((isa == CK_GEMM_AVX512 || isa == CK_GEMM_AVX2) &&
                                ck_gemm_kernel_supported(isa))) {
        atomic_store_explicit(&forced_isa, (int)isa, memory_order_relaxed);
        return CK_OK;
    }
    return CK_ERR_ARG;
#else
    return isa == CK_GEMM_AUTO ? CK_OK : CK_ERR_ARG;
#endif
}

int ck_conv1d_direct_supported(const ck_conv1d_dims *d, ck_activation act)
{
    if (!d || d->out_channels == 0 || d->out_channels > 32)
        return 0;
    if (act != CK_ACT_IDENTITY && act != CK_ACT_RELU)
        return 0;
    return ck_conv1d_direct_isa() != CK_GEMM_AUTO;
}

#ifdef CK_X86

static __mmask16 lanes(size_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* ---- forward: z = cols W^T + bias, y = act(z) --------------------------------------------- */

/* R rows of z / y from R rows of cols; wt is W^T packed as [taps][32], zero-padded, so its loads
 * need no mask; `wide` = more than 16 output channels. R and wide are constants at every call. */
__attribute__((target("avx512f"), always_inline)) static inline void
forward_tile(float *y, float *z, const float *cols, const float *wt, __m512 bias0, __m512 bias1,
             int relu, size_t taps, size_t cout, __mmask16 m0, __mmask16 m1, const int R,
             const int wide)
{
    __m512 acc0[8], acc1[8];
    for (int i = 0; i < R; i++) {
        acc0[i] = bias0;
        acc1[i] = bias1;
    }
    for (size_t p = 0; p < taps; p++) {
        const __m512 w0 = _mm512_load_ps(wt + p * 32);
        const __m512 w1 = wide ? _mm512_load_ps(wt + p * 32 + 16) : w0;
        for (int i = 0; i < R; i++) {
            const __m512 a = _mm512_set1_ps(cols[i * taps + p]);
            acc0[i] = _mm512_fmadd_ps(a, w0, acc0[i]);
            if (wide)
                acc1[i] = _mm512_fmadd_ps(a, w1, acc1[i]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    for (int i = 0; i < R; i++) {
        _mm512_mask_storeu_ps(z + i * cout, m0, acc0[i]);
        _mm512_mask_storeu_ps(y + i * cout, m0, relu ? _mm512_max_ps(acc0[i], zero) : acc0[i]);
        if (wide) {
            _mm512_mask_storeu_ps(z + i * cout + 16, m1, acc1[i]);
            _mm512_mask_storeu_ps(y + i * cout + 16, m1,
                                  relu ? _mm512_max_ps(acc1[i], zero) : acc1[i]);
        }
    }
}

__attribute__((target("avx512f"))) static void
forward_rows(float *y, float *z, const float *cols, const float *wt, const float *bias, int relu,
             size_t rows, size_t taps, size_t cout)
{
    const int wide = cout > 16;
    const __mmask16 m0 = lanes(cout), m1 = wide ? lanes(cout - 16) : 0;
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 bias1 = bias && wide ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    size_t r = 0;
    for (; r + 8 <= rows; r += 8) {
        const size_t o = r * cout;
        if (wide)
            forward_tile(y + o, z + o, cols + r * taps, wt, bias0, bias1, relu, taps, cout, m0, m1, 8, 1);
        else
            forward_tile(y + o, z + o, cols + r * taps, wt, bias0, bias1, relu, taps, cout, m0, m1, 8, 0);
    }
    for (; r < rows; r++) {
        const size_t o = r * cout;
        if (wide)
            forward_tile(y + o, z + o, cols + r * taps, wt, bias0, bias1, relu, taps, cout, m0, m1, 1, 1);
        else
            forward_tile(y + o, z + o, cols + r * taps, wt, bias0, bias1, relu, taps, cout, m0, m1, 1, 0);
    }
}

/* ---- dz = dy act'(z), dbias += colsum(dz): one pass, the bias sums in registers ------------ */

__attribute__((target("avx512f"))) static void act_grad(float *dz, float *dbias, const float *dy,
                                                        const float *z, int relu, size_t rows,
                                                        size_t cout)
{
    const int wide = cout > 16;
    const __mmask16 m0 = lanes(cout), m1 = wide ? lanes(cout - 16) : 0;
    const __m512 zero = _mm512_setzero_ps();
    __m512 s0 = zero, s1 = zero;
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * cout;
        /* the second vector's pointers only when it has lanes: past the end otherwise */
        __m512 g0 = _mm512_maskz_loadu_ps(m0, dy + o), g1 = wide ? _mm512_maskz_loadu_ps(m1, dy + o + 16) : zero;
        if (relu) {
            g0 = _mm512_maskz_mov_ps(_mm512_mask_cmp_ps_mask(m0, _mm512_maskz_loadu_ps(m0, z + o), zero,
                                                             _CMP_GT_OQ),
                                     g0);
            if (wide)
                g1 = _mm512_maskz_mov_ps(
                    _mm512_mask_cmp_ps_mask(m1, _mm512_maskz_loadu_ps(m1, z + o + 16), zero, _CMP_GT_OQ), g1);
        }
        _mm512_mask_storeu_ps(dz + o, m0, g0);
        if (wide)
            _mm512_mask_storeu_ps(dz + o + 16, m1, g1);
        s0 = _mm512_add_ps(s0, g0);
        s1 = _mm512_add_ps(s1, g1);
    }
    if (dbias) {
        _mm512_mask_storeu_ps(dbias, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, dbias), s0));
        if (wide)
            _mm512_mask_storeu_ps(dbias + 16, m1,
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(m1, dbias + 16), s1));
    }
}

/* The start of an R x V tile over taps [p0, p0 + 16 V): the lanes of each tap vector (the last
 * one masked at taps) and zeroed accumulators. R and V are constants at every call. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile_start(__mmask16 m[5], __m512 acc[8][5], size_t p0, size_t taps, const int R, const int V)
{
    for (int v = 0; v < V; v++)
        m[v] = p0 + 16 * v < taps ? lanes(taps - p0 - 16 * v) : 0;
    for (int i = 0; i < R; i++)
        for (int v = 0; v < V; v++)
            acc[i][v] = _mm512_setzero_ps();
}

/* TILE(V) with V = vectors (1 to 5; more are left to the next chunk) as a constant, so that each
 * tile's loops unroll and its accumulators stay in registers. */
#define WITH_VECTORS(vectors, TILE)                                                                \
    switch (vectors) {                                                                             \
    case 1: TILE(1); break;                                                                        \
    case 2: TILE(2); break;                                                                        \
    case 3: TILE(3); break;                                                                        \
    case 4: TILE(4); break;                                                                        \
    default: TILE(5); break;                                                                       \
    }

/* V tap vectors of one row (cols) or one weight row (W), masked by m. */
__attribute__((target("avx512f"), always_inline)) static inline void
load_taps(__m512 out[5], const float *src, const __mmask16 m[5], const int V)
{
    for (int v = 0; v < V; v++)
        out[v] = _mm512_maskz_loadu_ps(m[v], src + 16 * v);
}

/* ---- weight gradient: dW[co, p] += sum over rows of dz[row, co] cols[row, p] --------------- */

/* Output channels [co0, co0 + R) (clamped to cout) x taps [p0, p0 + 16 V) in R x V accumulators,
 * one pass over the rows. */
__attribute__((target("avx512f"), always_inline)) static inline void
weight_tile(float *dW, const float *dz, const float *cols, size_t rows, size_t taps, size_t cout,
            size_t co0, size_t p0, const int R, const int V)
{
    __mmask16 m[5];
    __m512 acc[8][5];
    tile_start(m, acc, p0, taps, R, V);
    size_t co[8];
    for (int i = 0; i < R; i++)
        co[i] = co0 + i < cout ? co0 + i : cout - 1; /* clamped rows are computed, not stored */
    for (size_t row = 0; row < rows; row++) {
        const float *g = dz + row * cout;
        __m512 x[5];
        load_taps(x, cols + row * taps + p0, m, V);
        for (int i = 0; i < R; i++) {
            const __m512 a = _mm512_set1_ps(g[co[i]]);
            for (int v = 0; v < V; v++)
                acc[i][v] = _mm512_fmadd_ps(a, x[v], acc[i][v]);
        }
    }
    /* no break / continue in loops over acc: GCC then unrolls them and keeps acc in registers */
    for (int i = 0; i < R; i++) {
        const __mmask16 valid = co0 + i < cout ? 0xFFFF : 0;
        float *w = dW + co[i] * taps + p0;
        for (int v = 0; v < V; v++)
            _mm512_mask_storeu_ps(w + 16 * v, m[v] & valid,
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(m[v] & valid, w + 16 * v), acc[i][v]));
    }
}

/* Few taps (T <= 8, the first layer's 5): all of dW^T in 2 T accumulators over the output
 * channels, one pass over the rows (in tap vectors it would be one masked vector per row with a
 * broadcast per output channel). */
__attribute__((target("avx512f"), always_inline)) static inline void
weight_grad_few_taps(float *dW, const float *dz, const float *cols, size_t rows, size_t cout,
                     const int T)
{
    const int wide = cout > 16;
    const __mmask16 m0 = lanes(cout), m1 = wide ? lanes(cout - 16) : 0;
    __m512 acc0[8], acc1[8];
    for (int p = 0; p < T; p++)
        acc0[p] = acc1[p] = _mm512_setzero_ps();
    for (size_t row = 0; row < rows; row++) {
        const __m512 g0 = _mm512_maskz_loadu_ps(m0, dz + row * cout);
        const __m512 g1 = wide ? _mm512_maskz_loadu_ps(m1, dz + row * cout + 16) : _mm512_setzero_ps();
        for (int p = 0; p < T; p++) {
            const __m512 a = _mm512_set1_ps(cols[row * T + p]);
            acc0[p] = _mm512_fmadd_ps(a, g0, acc0[p]);
            acc1[p] = _mm512_fmadd_ps(a, g1, acc1[p]);
        }
    }
    float tile[8][32] __attribute__((aligned(64)));
    for (int p = 0; p < T; p++) {
        _mm512_store_ps(tile[p], acc0[p]);
        _mm512_store_ps(tile[p] + 16, acc1[p]);
    }
    for (size_t co = 0; co < cout; co++)
        for (int p = 0; p < T; p++)
            dW[co * T + p] += tile[p][co];
}

__attribute__((target("avx512f"))) static void weight_grad(float *dW, const float *dz,
                                                           const float *cols, size_t rows,
                                                           size_t taps, size_t cout)
{
    switch (taps) { /* cout <= 32 here: the direct path's condition */
    case 1: weight_grad_few_taps(dW, dz, cols, rows, cout, 1); return;
    case 2: weight_grad_few_taps(dW, dz, cols, rows, cout, 2); return;
    case 3: weight_grad_few_taps(dW, dz, cols, rows, cout, 3); return;
    case 4: weight_grad_few_taps(dW, dz, cols, rows, cout, 4); return;
    case 5: weight_grad_few_taps(dW, dz, cols, rows, cout, 5); return;
    case 6: weight_grad_few_taps(dW, dz, cols, rows, cout, 6); return;
    case 7: weight_grad_few_taps(dW, dz, cols, rows, cout, 7); return;
    case 8: weight_grad_few_taps(dW, dz, cols, rows, cout, 8); return;
    default: break;
    }
    for (size_t p0 = 0; p0 < taps; p0 += 80) {
        const size_t vectors = (taps - p0 + 15) / 16; /* more than 5 handled by the next p0 */
        const size_t per = vectors >= 4 ? 5 : 8;       /* output channels per pass: <= 25 accumulators */
        for (size_t co0 = 0; co0 < cout; co0 += per) {
#define WEIGHT_TILE(V) weight_tile(dW, dz, cols, rows, taps, cout, co0, p0, (V) >= 4 ? 5 : 8, V)
            WITH_VECTORS(vectors, WEIGHT_TILE)
#undef WEIGHT_TILE
        }
    }
}

/* ---- input gradient: dx = col2im(dz W), without writing dcols ------------------------------ */

/* Rows [r0, r0 + R) (clamped) x taps [p0, p0 + 16 V) of dcols = dz W in registers, then each
 * row's real taps added into dx. */
__attribute__((target("avx512f"), always_inline)) static inline void
input_tile(float *dx, const float *dz, const float *W, const ck_conv1d_dims *d, size_t out,
           size_t rows, size_t r0, size_t p0, const int R, const int V)
{
    const size_t taps = d->kernel * d->in_channels, cout = d->out_channels;
    __mmask16 m[5];
    __m512 acc[8][5]; /* R <= 4 used */
    tile_start(m, acc, p0, taps, R, V);
    const float *g[4];
    for (int i = 0; i < R; i++)
        g[i] = dz + (r0 + i < rows ? r0 + i : rows - 1) * cout;
    for (size_t co = 0; co < cout; co++) {
        __m512 wv[5];
        load_taps(wv, W + co * taps + p0, m, V);
        for (int i = 0; i < R; i++) {
            const __m512 a = _mm512_set1_ps(g[i][co]);
            for (int v = 0; v < V; v++)
                acc[i][v] = _mm512_fmadd_ps(a, wv[v], acc[i][v]);
        }
    }
    /* acc leaves the registers in one unrolled loop (a break in it makes GCC keep acc in memory) */
    float tile[4][80] __attribute__((aligned(64)));
    for (int i = 0; i < R; i++)
        for (int v = 0; v < V; v++)
            _mm512_store_ps(tile[i] + 16 * v, acc[i][v]);
    const size_t end = p0 + 16 * (size_t)V < taps ? p0 + 16 * (size_t)V : taps;
    for (int i = 0; i < R && r0 + i < rows; i++)
        ck_conv1d_add_row_taps(dx, tile[i], d, out, r0 + i, p0, end);
}

__attribute__((target("avx512f"))) static void input_grad(float *dx, const float *dz,
                                                          const float *W, const ck_conv1d_dims *d,
                                                          size_t out)
{
    const size_t taps = d->kernel * d->in_channels, rows = d->batch * out;
    memset(dx, 0, d->batch * d->length * d->in_channels * sizeof(float));
    for (size_t p0 = 0; p0 < taps; p0 += 80) {
        const size_t vectors = (taps - p0 + 15) / 16;
        for (size_t r0 = 0; r0 < rows; r0 += 4) {
#define INPUT_TILE(V) input_tile(dx, dz, W, d, out, rows, r0, p0, 4, V)
            WITH_VECTORS(vectors, INPUT_TILE)
#undef INPUT_TILE
        }
    }
}

float *ck_conv1d_pack_wt(const float *W, size_t taps, size_t cout)
{
    float *wt = aligned_alloc(64, ((taps * 32 * sizeof(float)) + 63) / 64 * 64);
    if (!wt)
        return NULL;
    memset(wt, 0, taps * 32 * sizeof(float));
    for (size_t co = 0; co < cout; co++)
        for (size_t p = 0; p < taps; p++)
            wt[p * 32 + co] = W[co * taps + p];
    return wt;
}

int ck_conv1d_direct_forward(float *y, float *z, const float *cols, const float *W,
                             const float *bias, ck_activation act, const ck_conv1d_dims *d,
                             size_t out)
{
    const size_t taps = d->kernel * d->in_channels;
    float *wt = ck_conv1d_pack_wt(W, taps, d->out_channels);
    if (!wt)
        return CK_ERR_SIZE;
    (ck_conv1d_direct_isa() == CK_GEMM_AVX2 ? ck_conv1d_avx2_forward_rows : forward_rows)(
        y, z, cols, wt, bias, act == CK_ACT_RELU, d->batch * out, taps, d->out_channels);
    free(wt);
    return CK_OK;
}

void ck_conv1d_direct_act_grad(float *dz, float *dbias, const float *dy, const float *z,
                               ck_activation act, const ck_conv1d_dims *d, size_t out)
{
    (ck_conv1d_direct_isa() == CK_GEMM_AVX2 ? ck_conv1d_avx2_act_grad : act_grad)(
        dz, dbias, dy, z, act == CK_ACT_RELU, d->batch * out, d->out_channels);
}

void ck_conv1d_direct_weight_grad(float *dW, const float *dz, const float *cols,
                                  const ck_conv1d_dims *d, size_t out)
{
    (ck_conv1d_direct_isa() == CK_GEMM_AVX2 ? ck_conv1d_avx2_weight_grad : weight_grad)(
        dW, dz, cols, d->batch * out, d->kernel * d->in_channels, d->out_channels);
}

void ck_conv1d_direct_input_grad(float *dx, const float *dz, const float *W,
                                 const ck_conv1d_dims *d, size_t out)
{
    (ck_conv1d_direct_isa() == CK_GEMM_AVX2 ? ck_conv1d_avx2_input_grad : input_grad)(dx, dz, W, d,
                                                                                       out);
}

#else /* not x86: never selected (ck_conv1d_direct_supported returns 0) */

int ck_conv1d_direct_forward(float *y, float *z, const float *cols, const float *W,
                             const float *bias, ck_activation act, const ck_conv1d_dims *d,
                             size_t out)
{
    (void)y, (void)z, (void)cols, (void)W, (void)bias, (void)act, (void)d, (void)out;
    return CK_ERR_ARG;
}

void ck_conv1d_direct_act_grad(float *dz, float *dbias, const float *dy, const float *z,
                               ck_activation act, const ck_conv1d_dims *d, size_t out)
{
    (void)dz, (void)dbias, (void)dy, (void)z, (void)act, (void)d, (void)out;
}

void ck_conv1d_direct_weight_grad(float *dW, const float *dz, const float *cols,
                                  const ck_conv1d_dims *d, size_t out)
{
    (void)dW, (void)dz, (void)cols, (void)d, (void)out;
}

void ck_conv1d_direct_input_grad(float *dx, const float *dz, const float *W,
                                 const ck_conv1d_dims *d, size_t out)
{
    (void)dx, (void)dz, (void)W, (void)d, (void)out;
}

#endif
