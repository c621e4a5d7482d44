/* conv1d_direct_avx2.c — the direct conv1d kernels of conv1d_direct.c for CPUs with AVX2 + FMA and
 * no AVX-512 (e.g. AMD Zen 2 / Zen 3, Intel before Skylake-X): the same three products, fused the
 * same way, in 8-float vectors.
 *
 * Why a second set: without it such a CPU runs a narrow conv layer as im2col + the general GEMM,
 * which pads the first layer's [1900 x 5] x [5 x 25] to 8 x 32 tiles of five steps each and runs
 * bias + activation as separate passes (bench/conv measures both paths).
 *
 * Differences from the AVX-512 kernels, all from the register file (16 vectors of 8, no masks):
 *   - up to 32 output channels are 1-4 vectors; each tile keeps at most 12 accumulators;
 *   - partial vectors load and store through _mm256_maskload_ps / _mm256_maskstore_ps, and only
 *     the last vector of a row is partial (full ones use plain loads and stores);
 *   - the weight gradient keeps the output channels in vectors for every tap count (dW^T in tiles
 *     of T taps x V vectors, T x V <= 12), and adds the tile's transpose into dW.
 * Chosen by conv1d_direct.c when the CPU has AVX2 + FMA but not AVX-512F (or a test forces it).
 */
#include "conv1d_internal.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define AVX2_INLINE __attribute__((target("avx2,fma"), always_inline)) static inline

/* The first n lanes (n >= 8: all of them). */
AVX2_INLINE __m256i lanes(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n < 8 ? n : 8)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Vector v of V of a row: full vectors plainly, the last one (tail, maybe partial) masked. V and v
 * are constants at every call, so the choice is made at compile time. */
AVX2_INLINE __m256 load_vec(const float *p, __m256i tail, const int v, const int V)
{
    return v < V - 1 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, tail);
}

AVX2_INLINE void store_vec(float *p, __m256i tail, __m256 x, const int v, const int V)
{
    if (v < V - 1)
        _mm256_storeu_ps(p, x);
    else
        _mm256_maskstore_ps(p, tail, x);
}

/* F(V) with V = vectors of output channels (1-4) as a constant, so each tile's loops unroll and
 * its accumulators stay in registers. */
#define WITH_COUT_VECTORS(vectors, F)                                                              \
    switch (vectors) {                                                                             \
    case 1: F(1); break;                                                                           \
    case 2: F(2); break;                                                                           \
    case 3: F(3); break;                                                                           \
    default: F(4); break;                                                                          \
    }

/* ---- forward: z = cols W^T + bias, y = act(z) --------------------------------------------- */

/* R rows of z / y from R rows of cols; wt is W^T packed as [taps][32], zero-padded. */
AVX2_INLINE void forward_tile(float *y, float *z, const float *cols, const float *wt,
                              const __m256 bias[4], int relu, size_t taps, size_t cout,
                              __m256i tail, const int R, const int V)
{
    __m256 acc[8][4];
    for (int i = 0; i < R; i++)
        for (int v = 0; v < V; v++)
            acc[i][v] = bias[v];
    for (size_t p = 0; p < taps; p++) {
        const float *w = wt + p * 32;
        for (int i = 0; i < R; i++) {
            const __m256 a = _mm256_broadcast_ss(cols + i * taps + p);
            for (int v = 0; v < V; v++)
                acc[i][v] = _mm256_fmadd_ps(a, _mm256_load_ps(w + 8 * v), acc[i][v]);
        }
    }
    const __m256 zero = _mm256_setzero_ps();
    for (int i = 0; i < R; i++)
        for (int v = 0; v < V; v++) {
            store_vec(z + i * cout + 8 * v, tail, acc[i][v], v, V);
            store_vec(y + i * cout + 8 * v, tail, relu ? _mm256_max_ps(acc[i][v], zero) : acc[i][v],
                      v, V);
        }
}

/* Rows per forward tile for V vectors: at most 12 accumulators. */
#define FORWARD_ROWS(V) ((V) == 1 ? 8 : (V) == 2 ? 6 : (V) == 3 ? 4 : 3)

AVX2 void ck_conv1d_avx2_forward_rows(float *y, float *z, const float *cols, const float *wt,
                                      const float *bias, int relu, size_t rows, size_t taps,
                                      size_t cout)
{
    const size_t vectors = (cout + 7) / 8;
    const __m256i tail = lanes(cout - 8 * (vectors - 1));
    __m256 b[4];
    for (size_t v = 0; v < 4; v++)
        b[v] = bias && v < vectors ? _mm256_maskload_ps(bias + 8 * v, lanes(cout - 8 * v))
                                   : _mm256_setzero_ps();
#define FORWARD(V)                                                                                 \
    do {                                                                                           \
        size_t r = 0;                                                                              \
        for (; r + FORWARD_ROWS(V) <= rows; r += FORWARD_ROWS(V))                                  \
            forward_tile(y + r * cout, z + r * cout, cols + r * taps, wt, b, relu, taps, cout,     \
                         tail, FORWARD_ROWS(V), V);                                                \
        for (; r < rows; r++)                                                                      \
            forward_tile(y + r * cout, z + r * cout, cols + r * taps, wt, b, relu, taps, cout,     \
                         tail, 1, V);                                                              \
    } while (0)
    WITH_COUT_VECTORS(vectors, FORWARD)
#undef FORWARD
}

/* ---- dz = dy act'(z), dbias += colsum(dz): one pass, the bias sums in registers ------------ */

AVX2_INLINE void act_grad_v(float *dz, float *dbias, const float *dy, const float *z, int relu,
                            size_t rows, size_t cout, __m256i tail, const int V)
{
    const __m256 zero = _mm256_setzero_ps();
    __m256 s[4];
    for (int v = 0; v < V; v++)
        s[v] = zero;
    for (size_t r = 0; r < rows; r++) {
        const size_t o = r * cout;
        for (int v = 0; v < V; v++) {
            __m256 g = load_vec(dy + o + 8 * v, tail, v, V);
            if (relu)
                g = _mm256_and_ps(g, _mm256_cmp_ps(load_vec(z + o + 8 * v, tail, v, V), zero,
                                                   _CMP_GT_OQ));
            store_vec(dz + o + 8 * v, tail, g, v, V);
            s[v] = _mm256_add_ps(s[v], g);
        }
    }
    if (dbias)
        for (int v = 0; v < V; v++)
            store_vec(dbias + 8 * v, tail,
                      _mm256_add_ps(load_vec(dbias + 8 * v, tail, v, V), s[v]), v, V);
}

AVX2 void ck_conv1d_avx2_act_grad(float *dz, float *dbias, const float *dy, const float *z, int relu,
                                  size_t rows, size_t cout)
{
    const size_t vectors = (cout + 7) / 8;
    const __m256i tail = lanes(cout - 8 * (vectors - 1));
#define ACT_GRAD(V) act_grad_v(dz, dbias, dy, z, relu, rows, cout, tail, V)
    WITH_COUT_VECTORS(vectors, ACT_GRAD)
#undef ACT_GRAD
}

/* ---- weight gradient: dW[co, p] += sum over rows of dz[row, co] cols[row, p] --------------- */

/* Taps per weight tile for V vectors of output channels: T x V <= 12 accumulators. */
#define WEIGHT_TAPS(V) ((V) == 1 ? 8 : (V) == 2 ? 6 : 3)

/* dW^T for taps [p0, p0 + T) (clamped to taps) x all output channels, one pass over the rows. */
AVX2_INLINE void weight_tile(float *dW, const float *dz, const float *cols, size_t rows,
                             size_t taps, size_t cout, size_t p0, __m256i tail, const int T,
                             const int V)
{
    __m256 acc[8][4];
    size_t p[8];
    for (int t = 0; t < T; t++) {
        p[t] = p0 + t < taps ? p0 + t : taps - 1; /* clamped taps are computed, not stored */
        for (int v = 0; v < V; v++)
            acc[t][v] = _mm256_setzero_ps();
    }
    for (size_t row = 0; row < rows; row++) {
        __m256 g[4];
        for (int v = 0; v < V; v++)
            g[v] = load_vec(dz + row * cout + 8 * v, tail, v, V);
        const float *c = cols + row * taps;
        for (int t = 0; t < T; t++) {
            const __m256 a = _mm256_broadcast_ss(c + p[t]);
            for (int v = 0; v < V; v++)
                acc[t][v] = _mm256_fmadd_ps(a, g[v], acc[t][v]);
        }
    }
    float tile[8][32] __attribute__((aligned(32)));
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++)
            _mm256_store_ps(tile[t] + 8 * v, acc[t][v]);
    for (int t = 0; t < T && p0 + t < taps; t++)
        for (size_t co = 0; co < cout; co++)
            dW[co * taps + p0 + t] += tile[t][co];
}

AVX2 void ck_conv1d_avx2_weight_grad(float *dW, const float *dz, const float *cols, size_t rows,
                                     size_t taps, size_t cout)
{
    const size_t vectors = (cout + 7) / 8;
    const __m256i tail = lanes(cout - 8 * (vectors - 1));
#define WEIGHT(V)                                                                                  \
    for (size_t p0 = 0; p0 < taps; p0 += WEIGHT_TAPS(V))                                           \
        weight_tile(dW, dz, cols, rows, taps, cout, p0, tail, WEIGHT_TAPS(V), V);
    WITH_COUT_VECTORS(vectors, WEIGHT)
#undef WEIGHT
}

/* ---- input gradient: dx = col2im(dz W), without writing dcols ------------------------------ */

enum { INPUT_ROWS = 4, INPUT_VECTORS = 3 }; /* 12 accumulators: 4 rows x 24 taps */

/* Adds one row's piece of dcols (acc: taps [p0, end), in V vectors, the last masked by tail) into
 * dx. A piece whose taps all read real positions (every row but the edge ones) is added in
 * vectors straight into dx, where those positions' channels are contiguous; an edge row's piece
 * goes through a buffer and the scalar col2im of its real taps. */
AVX2_INLINE void add_row_piece(float *dx, const __m256 acc[INPUT_VECTORS], const ck_conv1d_dims *d,
                               size_t out, size_t r, size_t p0, size_t end, __m256i tail,
                               const int V)
{
    const size_t C = d->in_channels, t = r % out;
    size_t k0, k1;
    ck_conv1d_tap_range(d, t, &k0, &k1);
    if (k0 * C <= p0 && end <= k1 * C) {
        /* element e of the row is x position t·stride + e / C − pad_left, channel e % C, i.e.
         * element e sits e − k0 C floats past tap k0's position, which is real */
        float *target = dx + ((r / out) * d->length + t * d->stride + k0 - d->pad_left) * C +
                        (p0 - k0 * C);
        for (int v = 0; v < V; v++)
            store_vec(target + 8 * v, tail,
                      _mm256_add_ps(load_vec(target + 8 * v, tail, v, V), acc[v]), v, V);
        return;
    }
    float piece[8 * INPUT_VECTORS] __attribute__((aligned(32)));
    for (int v = 0; v < V; v++)
        _mm256_store_ps(piece + 8 * v, acc[v]);
    ck_conv1d_add_row_taps(dx, piece, d, out, r, p0, end);
}

/* Rows [r0, r0 + 4) (clamped) x taps [p0, p0 + 8 V) of dcols = dz W in registers (m: the lanes of
 * each tap vector, the last maybe partial), then each row's piece added into dx. */
AVX2_INLINE void input_tile(float *dx, const float *dz, const float *W, const ck_conv1d_dims *d,
                            size_t out, size_t rows, size_t r0, size_t p0,
                            const __m256i m[INPUT_VECTORS], const int V)
{
    const size_t taps = d->kernel * d->in_channels, cout = d->out_channels;
    __m256 acc[INPUT_ROWS][INPUT_VECTORS];
    const float *g[INPUT_ROWS];
    for (int i = 0; i < INPUT_ROWS; i++) {
        g[i] = dz + (r0 + i < rows ? r0 + i : rows - 1) * cout;
        for (int v = 0; v < V; v++)
            acc[i][v] = _mm256_setzero_ps();
    }
    for (size_t co = 0; co < cout; co++) {
        __m256 w[INPUT_VECTORS];
        for (int v = 0; v < V; v++)
            w[v] = load_vec(W + co * taps + p0 + 8 * v, m[V - 1], v, V);
        for (int i = 0; i < INPUT_ROWS; i++) {
            const __m256 a = _mm256_broadcast_ss(g[i] + co);
            for (int v = 0; v < V; v++)
                acc[i][v] = _mm256_fmadd_ps(a, w[v], acc[i][v]);
        }
    }
    const size_t end = p0 + 8 * (size_t)V < taps ? p0 + 8 * (size_t)V : taps;
    for (int i = 0; i < INPUT_ROWS; i++)
        if (r0 + i < rows)
            add_row_piece(dx, acc[i], d, out, r0 + i, p0, end, m[V - 1], V);
}

AVX2 void ck_conv1d_avx2_input_grad(float *dx, const float *dz, const float *W,
                                    const ck_conv1d_dims *d, size_t out)
{
    const size_t taps = d->kernel * d->in_channels, rows = d->batch * out;
    memset(dx, 0, d->batch * d->length * d->in_channels * sizeof(float));
    for (size_t p0 = 0; p0 < taps; p0 += 8 * INPUT_VECTORS) {
        const size_t vectors = (taps - p0 + 7) / 8; /* more than 3 handled by the next p0 */
        __m256i m[INPUT_VECTORS];
        for (size_t v = 0; v < INPUT_VECTORS; v++)
            m[v] = p0 + 8 * v < taps ? lanes(taps - p0 - 8 * v) : _mm256_setzero_si256();
        for (size_t r0 = 0; r0 < rows; r0 += INPUT_ROWS) {
            if (vectors == 1)
                input_tile(dx, dz, W, d, out, rows, r0, p0, m, 1);
            else if (vectors == 2)
                input_tile(dx, dz, W, d, out, rows, r0, p0, m, 2);
            else
                input_tile(dx, dz, W, d, out, rows, r0, p0, m, 3);
        }
    }
}

#else /* not x86: never selected (ck_conv1d_direct_isa finds no AVX2) */
typedef int ck_conv1d_avx2_not_built;
#endif
