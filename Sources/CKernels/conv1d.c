/* conv1d.c — 1-D convolution over a batch of channels-last signals, forward and backward,
 * through im2col + ck_sgemm with the bias add and activation fused after the GEMM.
 *
 * Layout (see ckernels.h): x[B, L, C_in], W[C_out, K, C_in], y[B, L_out, C_out]. Channels-last
 * makes every im2col row — the K taps of one output position — K contiguous runs of C_in floats
 * (memcpy instead of a strided gather), and the whole batch becomes ONE GEMM:
 *   cols[B·L_out, K·C_in] = im2col(x);  z[B·L_out, C_out] = cols W^T;  y = act(z + bias).
 * Backward reuses the same matrices: dz = dy act'(z), dbias += colsum(dz), dW += dz^T cols,
 * dcols = dz W, dx = col2im(dcols) (the scatter-add of each tap back to the position it read).
 * Padding positions read as zero in the forward and receive nothing in the backward.
 * On CPUs with AVX-512F or AVX2 + FMA, layers with at most 32 output channels and IDENTITY / RELU
 * run the three products on the direct kernels (conv1d_direct.c, conv1d_direct_avx2.c) instead of
 * ck_sgemm (bias and activation fused into the forward, col2im into the input gradient);
 * ck_conv1d_*_with picks a path.
 */
#include "conv1d_internal.h"

#include <stdint.h>
#include <string.h>

/* a * b, or 0 (with *ok cleared) on size_t overflow. */
static size_t mul(size_t a, size_t b, int *ok)
{
    if (a && b > SIZE_MAX / a) {
        *ok = 0;
        return 0;
    }
    return a * b;
}

size_t ck_conv1d_out_length(size_t length, size_t kernel, size_t stride, size_t pad_left,
                            size_t pad_right)
{
    if (!kernel || !stride || length > SIZE_MAX / 4 || pad_left > SIZE_MAX / 4 ||
        pad_right > SIZE_MAX / 4)
        return 0;
    const size_t padded = length + pad_left + pad_right;
    if (padded < kernel)
        return 0;
    return (padded - kernel) / stride + 1;
}

int ck_conv1d_same_padding(size_t length, size_t kernel, size_t stride, size_t *pad_left,
                           size_t *pad_right)
{
    if (!pad_left || !pad_right)
        return CK_ERR_NULL;
    if (!length || !kernel || !stride || length > SIZE_MAX / 4 || kernel > SIZE_MAX / 4)
        return CK_ERR_SIZE;
    const size_t out = (length + stride - 1) / stride;
    const size_t need = (out - 1) * stride + kernel;
    const size_t total = need > length ? need - length : 0;
    *pad_left = total / 2;
    *pad_right = total - total / 2;
    return CK_OK;
}

/* Checks d and returns L_out (0 = invalid); *rows = B·L_out, *taps = K·C_in. */
static size_t check_dims(const ck_conv1d_dims *d, size_t *rows, size_t *taps)
{
    if (!d || !d->batch || !d->in_channels || !d->length || !d->out_channels || !d->kernel ||
        !d->stride)
        return 0;
    const size_t out = ck_conv1d_out_length(d->length, d->kernel, d->stride, d->pad_left,
                                            d->pad_right);
    int ok = 1;
    *rows = mul(d->batch, out, &ok);
    *taps = mul(d->kernel, d->in_channels, &ok);
    (void)mul(*rows, *taps, &ok);
    (void)mul(*rows, d->out_channels, &ok);
    (void)mul(mul(d->batch, d->length, &ok), d->in_channels, &ok);
    (void)mul(d->out_channels, *taps, &ok);
    return ok ? out : 0;
}

size_t ck_conv1d_cols_count(const ck_conv1d_dims *d)
{
    size_t rows, taps;
    return check_dims(d, &rows, &taps) ? rows * taps : 0;
}

void ck_conv1d_tap_range(const ck_conv1d_dims *d, size_t t, size_t *k0, size_t *k1)
{
    const size_t start = t * d->stride; /* padded position of tap 0 */
    *k0 = start < d->pad_left ? d->pad_left - start : 0;
    const size_t end = d->pad_left + d->length; /* padded positions < end are real */
    *k1 = start >= end ? 0 : (end - start < d->kernel ? end - start : d->kernel);
    if (*k1 < *k0)
        *k1 = *k0;
}

/* cols[(b,t), k, c] = x[b, t·stride + k − pad_left, c], or 0 where that position is padding:
 * per row one copy of the K·C floats that are real, zeros around them. */
static void im2col(float *restrict cols, const float *restrict x, const ck_conv1d_dims *d,
                   size_t out)
{
    const size_t C = d->in_channels, K = d->kernel, L = d->length;
    for (size_t t = 0; t < out; t++) {
        size_t k0, k1;
        ck_conv1d_tap_range(d, t, &k0, &k1);
        /* input position of tap k0 (unused when the row reads only padding) */
        const size_t first = k1 > k0 ? t * d->stride + k0 - d->pad_left : 0;
        for (size_t b = 0; b < d->batch; b++) {
            float *row = cols + (b * out + t) * K * C;
            if (k0)
                memset(row, 0, k0 * C * sizeof(float));
            if (k1 > k0)
                memcpy(row + k0 * C, x + (b * L + first) * C, (k1 - k0) * C * sizeof(float));
            if (k1 < K)
                memset(row + k1 * C, 0, (K - k1) * C * sizeof(float));
        }
    }
}

void ck_conv1d_add_row_taps(float *dx, const float *part, const ck_conv1d_dims *d, size_t out,
                            size_t r, size_t p0, size_t p1)
{
    const size_t C = d->in_channels, b = r / out, t = r % out;
    size_t k0, k1;
    ck_conv1d_tap_range(d, t, &k0, &k1);
    /* element e of the row is x position t·stride + e / C − pad_left, channel e % C; only the
     * real taps [k0 C, k1 C) land in dx, and tap k0 reads a real position, so the index of
     * element k0 C is not negative */
    const size_t lo = k0 * C > p0 ? k0 * C : p0, hi = k1 * C < p1 ? k1 * C : p1;
    if (lo >= hi)
        return;
    float *target = dx + (b * d->length + t * d->stride + k0 - d->pad_left) * C;
    for (size_t e = lo; e < hi; e++)
        target[e - k0 * C] += part[e - p0];
}

/* dx = 0, then dx[b, t·stride + k − pad_left, c] += dcols[(b,t), k, c] for every real position. */
static void col2im(float *restrict dx, const float *restrict dcols, const ck_conv1d_dims *d,
                   size_t out)
{
    const size_t C = d->in_channels, K = d->kernel, L = d->length;
    memset(dx, 0, d->batch * L * C * sizeof(float));
    for (size_t t = 0; t < out; t++) {
        size_t k0, k1;
        ck_conv1d_tap_range(d, t, &k0, &k1);
        if (k1 == k0)
            continue; /* reads only padding */
        const size_t first = t * d->stride + k0 - d->pad_left, n = (k1 - k0) * C;
        for (size_t b = 0; b < d->batch; b++) {
            const float *restrict source = dcols + (b * out + t) * K * C + k0 * C;
            float *restrict target = dx + (b * L + first) * C;
            for (size_t i = 0; i < n; i++)
                target[i] += source[i];
        }
    }
}

int ck_conv1d_path_supported(ck_conv1d_path path, const ck_conv1d_dims *d, ck_activation act)
{
    switch (path) {
    case CK_CONV1D_AUTO:
    case CK_CONV1D_GEMM:
        return 1;
    case CK_CONV1D_DIRECT:
        return ck_conv1d_direct_supported(d, act);
    default:
        return 0;
    }
}

/* The checks every conv1d call starts with: a supported activation, dims present and sound
 * (rows, taps and output positions out). */
static int check_call(ck_activation act, const ck_conv1d_dims *d, size_t *rows, size_t *taps,
                      size_t *out)
{
    if (act != CK_ACT_IDENTITY && act != CK_ACT_RELU && act != CK_ACT_GELU && act != CK_ACT_TANH)
        return CK_ERR_ARG;
    if (!d)
        return CK_ERR_NULL;
    *out = check_dims(d, rows, taps);
    return *out ? CK_OK : CK_ERR_SIZE;
}

/* The path AUTO means for d and act; DIRECT or GEMM as asked, -1 for a path that cannot run. */
static int resolve_path(ck_conv1d_path path, const ck_conv1d_dims *d, ck_activation act)
{
    if (path == CK_CONV1D_AUTO)
        return ck_conv1d_direct_supported(d, act) ? CK_CONV1D_DIRECT : CK_CONV1D_GEMM;
    return ck_conv1d_path_supported(path, d, act) ? (int)path : -1;
}

int ck_conv1d_forward(float *y, float *z, float *cols, const float *x, const float *W,
                      const float *bias, ck_activation act, const ck_conv1d_dims *d)
{
    return ck_conv1d_forward_with(CK_CONV1D_AUTO, y, z, cols, x, W, bias, act, d);
}

int ck_conv1d_forward_with(ck_conv1d_path path, float *y, float *z, float *cols, const float *x,
                           const float *W, const float *bias, ck_activation act,
                           const ck_conv1d_dims *d)
{
    size_t rows, taps, out;
    int st = check_call(act, d, &rows, &taps, &out);
    if (st != CK_OK)
        return st;
    if (!y || !z || !cols || !x || !W)
        return CK_ERR_NULL;
    const int use = resolve_path(path, d, act);
    if (use < 0)
        return CK_ERR_ARG;
    im2col(cols, x, d, out);
    if (use == CK_CONV1D_DIRECT)
        return ck_conv1d_direct_forward(y, z, cols, W, bias, act, d, out);
    st = ck_sgemm(0, 1, rows, d->out_channels, taps, 1.0f, cols, taps, W, taps, 0.0f, z,
                  d->out_channels);
    if (st != CK_OK)
        return st;
    return ck_bias_act_forward(act, y, z, bias, rows, d->out_channels);
}

int ck_conv1d_backward(float *dx, float *dW, float *dbias, float *dz, float *dcols,
                       const float *dy, const float *z, const float *y, const float *cols,
                       const float *W, ck_activation act, const ck_conv1d_dims *d)
{
    return ck_conv1d_backward_with(CK_CONV1D_AUTO, dx, dW, dbias, dz, dcols, dy, z, y, cols, W, act,
                                   d);
}

int ck_conv1d_backward_with(ck_conv1d_path path, float *dx, float *dW, float *dbias, float *dz,
                            float *dcols, const float *dy, const float *z, const float *y,
                            const float *cols, const float *W, ck_activation act,
                            const ck_conv1d_dims *d)
{
    size_t rows, taps, out;
    int st = check_call(act, d, &rows, &taps, &out);
    if (st != CK_OK)
        return st;
    if (!dW || !dz || !dy || !cols || !W || (dx && !dcols) ||
        (act == CK_ACT_TANH && !y) || ((act == CK_ACT_RELU || act == CK_ACT_GELU) && !z))
        return CK_ERR_NULL;
    const int use = resolve_path(path, d, act);
    if (use < 0)
        return CK_ERR_ARG;
    if (use == CK_CONV1D_DIRECT) {
        ck_conv1d_direct_act_grad(dz, dbias, dy, z, act, d, out);
        ck_conv1d_direct_weight_grad(dW, dz, cols, d, out);
        if (dx)
            ck_conv1d_direct_input_grad(dx, dz, W, d, out);
        return CK_OK;
    }
    st = ck_bias_act_backward(act, dz, dbias, dy, z, y, rows, d->out_channels);
    if (st != CK_OK)
        return st;
    /* dW[C_out, K·C_in] += dz^T cols */
    st = ck_sgemm(1, 0, d->out_channels, taps, rows, 1.0f, dz, d->out_channels, cols, taps, 1.0f,
                  dW, taps);
    if (st != CK_OK || !dx)
        return st;
    /* dcols[B·L_out, K·C_in] = dz W */
    st = ck_sgemm(0, 0, rows, taps, d->out_channels, 1.0f, dz, d->out_channels, W, taps, 0.0f,
                  dcols, taps);
    if (st != CK_OK)
        return st;
    col2im(dx, dcols, d, out);
    return CK_OK;
}
