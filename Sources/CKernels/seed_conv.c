/* seed_conv.c — 1-D convolution over the feature axis as a residual seed:
 * y = x + pointwise(act(conv(x))). The d features of a row are treated as a signal of length d
 * with one channel; the first convolution widens it to `hidden` channels with `window` taps
 * spaced `dilation` apart, the zero-initialised pointwise projection folds them back to one.
 *
 * Runs as im2col + GEMM so the matmul variants apply: cols[B d, window] holds each output
 * position's taps (zero outside the signal), conv = cols W1^T. Padding is "same" (left =
 * floor((window - 1) / 2) dilation, asymmetric for even windows) or causal (left = (window - 1)
 * dilation: an output only sees features at or before it). */
#include "seed_internal.h"

static size_t conv_left(const ck_seed_spec *s)
{
    return (size_t)(s->causal ? s->window - 1 : (s->window - 1) / 2) * s->dilation;
}

static int conv_check(const ck_seed_spec *s)
{
    if (s->window < 1 || s->window > 31 || s->dilation < 1 || s->dilation > 64)
        return CK_ERR_ARG;
    return s->hidden >= 1 && s->hidden <= 256 ? CK_OK : CK_ERR_SIZE;
}

static void conv_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w1", 2, s->hidden, s->window, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->window);
    seed_table_add(t, "b1", 1, s->hidden, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->window);
    seed_table_add(t, "w_out", 2, 1, s->hidden, 1, CK_INIT_ZERO, 0.0f, s->hidden);
    seed_table_add(t, "b_out", 1, 1, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved cols [B d, k], z and a [B d, C]; scratch da [B d, C], dcols [B d, k] */
static size_t conv_workspace(const ck_seed_spec *s, size_t B)
{
    return B * s->d * (2 * (size_t)s->window + 3 * (size_t)s->hidden);
}

static int conv_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, k = c->s->window, C = c->s->hidden, B = c->B, M = B * d;
    const size_t left = conv_left(c->s), dil = c->s->dilation;
    float *cols = c->ws, *z = cols + M * k, *a = z + M * C;
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < k; j++) {
                const size_t pos = i + j * dil; /* position + left, kept unsigned */
                cols[(b * d + i) * k + j] = pos >= left && pos - left < d ? x[b * d + pos - left] : 0.0f;
            }
    int st = seed_linear_fwd(c->s, z, C, cols, k, seed_param(c, 0), seed_param(c, 1), M, k, C, 1.0f);
    if (st != CK_OK)
        return st;
    seed_act_fwd(c->s->activation, a, z, M * C);
    st = seed_linear_fwd(c->s, y, 1, a, C, seed_param(c, 2), seed_param(c, 3), M, C, 1, 1.0f);
    for (size_t i = 0; st == CK_OK && i < M; i++)
        y[i] += x[i];
    return st;
}

static int conv_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d, k = c->s->window, C = c->s->hidden, B = c->B, M = B * d;
    const size_t left = conv_left(c->s), dil = c->s->dilation;
    const float *cols = c->ws, *z = cols + M * k, *a = z + M * C;
    float *da = c->ws + M * (k + 2 * C), *dcols = da + M * C;
    (void)x;
    int st = seed_linear_bwd(c->s, da, C, 0, seed_grad(c, dparams, 2), seed_grad(c, dparams, 3), dy, 1, a, C,
                             seed_param(c, 2), M, C, 1, 1.0f);
    if (st != CK_OK)
        return st;
    seed_act_bwd(c->s->activation, da, da, z, M * C);
    st = seed_linear_bwd(c->s, dx ? dcols : NULL, k, 0, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1), da, C,
                         cols, k, seed_param(c, 0), M, k, C, 1.0f);
    if (st != CK_OK || !dx)
        return st;
    memcpy(dx, dy, M * sizeof(float));
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < d; i++)
            for (size_t j = 0; j < k; j++) {
                const size_t pos = i + j * dil;
                if (pos >= left && pos - left < d)
                    dx[b * d + pos - left] += dcols[(b * d + i) * k + j];
            }
    return CK_OK;
}

static double conv_flops(const ck_seed_spec *s, size_t B)
{
    /* two GEMMs plus ~20 flops per activation evaluation (tanhf/GELU dominate small convs) */
    return 2.0 * (double)B * s->d * s->hidden * ((double)s->window + 1.0) + 20.0 * (double)B * s->d * s->hidden;
}

const seed_kind_ops seed_conv1d_ops = {
    .kind = CK_SEED_CONV1D, .uses = USES_HIDDEN | USES_WINDOW | USES_DILATION | USES_ACTIVATION | USES_CAUSAL,
    .variants = VARIANTS_MATMUL, .check = conv_check, .table = conv_table, .workspace = conv_workspace,
    .flops = conv_flops, .forward = conv_forward, .backward = conv_backward};
