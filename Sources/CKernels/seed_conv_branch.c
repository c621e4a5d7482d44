/* seed_conv_branch.c — the conv-branch structural seed: `layers` conv1d layers of `channels`
 * channels each (kernel sizes kernels[i], one stride and symmetric zero padding for all, ReLU)
 * over a detached signal x [B, length, in_channels] (channels-last), flattened in that order,
 * and a linear map V [outputs, flat] to the next host layer's pre-activation:
 *   s = flatten(conv_L(…conv_1(x))) V^T            (no bias: the host layer has one)
 * Parameters are one buffer: W_1, b_1, …, W_L, b_L, V (each W [channels, kernel, c_in], as
 * ck_conv1d_forward takes it). V starts at zero, so a fresh branch adds exactly nothing.
 * Fossilised, the same buffer becomes a host branch (Tolaria's `host.branch-<i>` group).
 * The work buffer (ck_conv_branch_work_count floats) holds, per layer, y, z, cols from the
 * forward and dy, dz, dcols for the backward. */
#include "ckernels.h"

#include <stddef.h>

/* The dims of layer i over a batch; 0 when the shape is invalid or nothing is left. */
static int layer_dims(const ck_conv_branch_shape *s, size_t i, ck_conv1d_dims *d)
{
    size_t length = s->length, cin = s->in_channels;
    for (size_t j = 0;; j++) {
        ck_conv1d_dims here = {s->batch, cin, length, s->channels, s->kernels[j], s->stride, s->padding, s->padding};
        const size_t out = ck_conv1d_out_length(length, s->kernels[j], s->stride, s->padding, s->padding);
        if (!out || s->padding >= s->kernels[j])
            return 0;
        if (j == i) {
            *d = here;
            return 1;
        }
        length = out;
        cin = s->channels;
    }
}

static int shape_valid(const ck_conv_branch_shape *s)
{
    if (!s || !s->length || !s->in_channels || !s->channels || !s->stride || !s->outputs)
        return 0;
    if (s->layers < 1 || s->layers > CK_CONV_BRANCH_MAX_LAYERS)
        return 0;
    ck_conv1d_dims d = {0};
    return layer_dims(s, s->layers - 1, &d);
}

static size_t out_length(const ck_conv1d_dims *d)
{
    return ck_conv1d_out_length(d->length, d->kernel, d->stride, d->pad_left, d->pad_right);
}

size_t ck_conv_branch_flat_width(const ck_conv_branch_shape *s)
{
    if (!shape_valid(s))
        return 0;
    ck_conv1d_dims d = {0};
    layer_dims(s, s->layers - 1, &d);
    return out_length(&d) * s->channels;
}

size_t ck_conv_branch_param_count(const ck_conv_branch_shape *s)
{
    if (!shape_valid(s))
        return 0;
    size_t n = 0, cin = s->in_channels;
    for (size_t i = 0; i < s->layers; i++) {
        n += s->channels * s->kernels[i] * cin + s->channels;
        cin = s->channels;
    }
    return n + s->outputs * ck_conv_branch_flat_width(s);
}

size_t ck_conv_branch_work_count(const ck_conv_branch_shape *s)
{
    if (!shape_valid(s) || !s->batch)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < s->layers; i++) {
        ck_conv1d_dims d = {0};
        layer_dims(s, i, &d);
        n += 4 * d.batch * out_length(&d) * d.out_channels + 2 * ck_conv1d_cols_count(&d);
    }
    return n;
}

/* Pointers of layer i in the work buffer: y, z, dy, dz, cols, dcols. */
typedef struct {
    ck_conv1d_dims d;
    float *y, *z, *dy, *dz, *cols, *dcols;
    const float *W, *b;
    float *dW, *db;
} layer_view;

static layer_view view(const ck_conv_branch_shape *s, size_t i, float *work, const float *params, float *dparams)
{
    layer_view v = {0};
    size_t offset = 0, poffset = 0, cin = s->in_channels;
    for (size_t j = 0; j <= i; j++) {
        layer_dims(s, j, &v.d);
        const size_t ny = v.d.batch * out_length(&v.d) * v.d.out_channels, nc = ck_conv1d_cols_count(&v.d);
        const size_t nw = s->channels * s->kernels[j] * cin;
        if (j == i) {
            v.y = work + offset;
            v.z = v.y + ny;
            v.dy = v.z + ny;
            v.dz = v.dy + ny;
            v.cols = v.dz + ny;
            v.dcols = v.cols + nc;
            v.W = params + poffset;
            v.b = v.W + nw;
            v.dW = dparams ? dparams + poffset : NULL;
            v.db = dparams ? v.dW + nw : NULL;
        }
        offset += 4 * ny + 2 * nc;
        poffset += nw + s->channels;
        cin = s->channels;
    }
    return v;
}

static size_t v_offset(const ck_conv_branch_shape *s)
{
    return ck_conv_branch_param_count(s) - s->outputs * ck_conv_branch_flat_width(s);
}

int ck_conv_branch_forward(float *out, float *work, const float *x, const float *params,
                           const ck_conv_branch_shape *s)
{
    if (!out || !work || !x || !params || !s)
        return CK_ERR_NULL;
    if (!shape_valid(s) || !s->batch)
        return CK_ERR_SIZE;
    const float *in = x;
    layer_view v = {0};
    for (size_t i = 0; i < s->layers; i++) {
        v = view(s, i, work, params, NULL);
        int st = ck_conv1d_forward(v.y, v.z, v.cols, in, v.W, v.b, CK_ACT_RELU, &v.d);
        if (st != CK_OK)
            return st;
        in = v.y;
    }
    return ck_linear_forward(out, in, params + v_offset(s), NULL, s->batch, ck_conv_branch_flat_width(s), s->outputs);
}

int ck_conv_branch_backward(float *dparams, float *dx, float *work, const float *dout, const float *x,
                            const float *params, const ck_conv_branch_shape *s)
{
    if (!dparams || !work || !dout || !x || !params || !s)
        return CK_ERR_NULL;
    if (!shape_valid(s) || !s->batch)
        return CK_ERR_SIZE;
    const size_t last = s->layers - 1, voff = v_offset(s);
    layer_view top = view(s, last, work, params, dparams);
    int st = ck_linear_backward(top.dy, dparams + voff, NULL, dout, top.y, params + voff, s->batch,
                                ck_conv_branch_flat_width(s), s->outputs);
    if (st != CK_OK)
        return st;
    for (size_t i = s->layers; i-- > 0;) {
        layer_view v = view(s, i, work, params, dparams);
        float *dinput = i > 0 ? view(s, i - 1, work, params, dparams).dy : dx;
        st = ck_conv1d_backward(dinput, v.dW, v.db, v.dz, dinput ? v.dcols : NULL, v.dy, v.z, v.y, v.cols, v.W,
                                CK_ACT_RELU, &v.d);
        if (st != CK_OK)
            return st;
    }
    return CK_OK;
}
