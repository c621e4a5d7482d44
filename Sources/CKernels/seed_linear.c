/* seed_linear.c — single-layer seed kinds: a linear projection with an output gain, a grouped
 * (block-diagonal) linear layer, and a highway layer that gates between a ReLU transform and
 * the input. */
#include "seed_internal.h"

/* ---- linear: y = gain (x W^T + b) -------------------------------------------------------- */

static void linear_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w", 2, s->d, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "b", 1, s->d, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
}

static int linear_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d;
    return seed_linear_fwd(c->s, y, d, x, d, seed_param(c, 0), seed_param(c, 1), c->B, d, d, c->s->scalar);
}

static int linear_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d;
    return seed_linear_bwd(c->s, dx, d, 0, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1), dy, d, x, d,
                           seed_param(c, 0), c->B, d, d, c->s->scalar);
}

static double linear_flops(const ck_seed_spec *s, size_t B) { return 2.0 * (double)B * s->d * s->d; }

const seed_kind_ops seed_linear_ops = {
    .kind = CK_SEED_LINEAR, .uses = USES_SCALAR, .variants = VARIANTS_MATMUL, .table = linear_table,
    .flops = linear_flops, .forward = linear_forward, .backward = linear_backward};

/* ---- grouped linear: block-diagonal W, `count` groups of d / count features --------------- */

static int grouped_check(const ck_seed_spec *s)
{
    return s->count >= 1 && s->d % s->count == 0 ? CK_OK : CK_ERR_SIZE;
}

static void grouped_table(const ck_seed_spec *s, seed_table *t)
{
    const size_t e = s->d / s->count;
    seed_table_add(t, "w", 3, s->count, e, e, CK_INIT_UNIFORM_FAN, 1.0f, e);
    seed_table_add(t, "b", 1, s->d, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, e);
}

static int grouped_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, e = d / c->s->count;
    const float *W = seed_param(c, 0), *bias = seed_param(c, 1);
    for (size_t g = 0; g < c->s->count; g++) {
        int st = seed_linear_fwd(c->s, y + g * e, d, x + g * e, d, W + g * e * e, bias + g * e, c->B, e, e, 1.0f);
        if (st != CK_OK)
            return st;
    }
    return CK_OK;
}

static int grouped_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d, e = d / c->s->count;
    const float *W = seed_param(c, 0);
    float *dW = seed_grad(c, dparams, 0), *db = seed_grad(c, dparams, 1);
    for (size_t g = 0; g < c->s->count; g++) {
        int st = seed_linear_bwd(c->s, dx ? dx + g * e : NULL, d, 0, dW + g * e * e, db + g * e, dy + g * e, d,
                                 x + g * e, d, W + g * e * e, c->B, e, e, 1.0f);
        if (st != CK_OK)
            return st;
    }
    return CK_OK;
}

static double grouped_flops(const ck_seed_spec *s, size_t B)
{
    return 2.0 * (double)B * s->d * (s->d / s->count);
}

const seed_kind_ops seed_grouped_linear_ops = {
    .kind = CK_SEED_GROUPED_LINEAR, .uses = USES_COUNT, .variants = VARIANTS_MATMUL, .check = grouped_check,
    .table = grouped_table, .flops = grouped_flops, .forward = grouped_forward, .backward = grouped_backward};

/* ---- highway: y = T * relu(x Wh^T + bh) + (1 - T) * x, T = sigmoid(x Wt^T + bt) ----------- */
/* The gate bias starts at `scalar`: strongly negative values make the layer start close to
 * the identity (Srivastava et al. 2015 use -1 to -3). */

static void highway_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w_h", 2, s->d, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "b_h", 1, s->d, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "w_t", 2, s->d, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "b_t", 1, s->d, 1, 1, CK_INIT_CONST, s->scalar, 0);
}

/* saved z_h[B, d], gate[B, d]; scratch dz_h[B, d], dz_t[B, d] */
static size_t highway_workspace(const ck_seed_spec *s, size_t B) { return 4 * B * s->d; }

static int highway_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, n = c->B * d;
    float *zh = c->ws, *gate = c->ws + n;
    int st = seed_linear_fwd(c->s, zh, d, x, d, seed_param(c, 0), seed_param(c, 1), c->B, d, d, 1.0f);
    if (st == CK_OK)
        st = seed_linear_fwd(c->s, gate, d, x, d, seed_param(c, 2), seed_param(c, 3), c->B, d, d, 1.0f);
    if (st != CK_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        gate[i] = seed_sigmoid(gate[i]);
        const float h = zh[i] > 0.0f ? zh[i] : 0.0f;
        y[i] = gate[i] * h + (1.0f - gate[i]) * x[i];
    }
    return CK_OK;
}

static int highway_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d, n = c->B * d;
    const float *zh = c->ws, *gate = c->ws + n;
    float *dzh = c->ws + 2 * n, *dzt = c->ws + 3 * n;
    for (size_t i = 0; i < n; i++) {
        const float h = zh[i] > 0.0f ? zh[i] : 0.0f;
        dzh[i] = zh[i] > 0.0f ? dy[i] * gate[i] : 0.0f;
        dzt[i] = dy[i] * (h - x[i]) * gate[i] * (1.0f - gate[i]);
        if (dx)
            dx[i] = dy[i] * (1.0f - gate[i]);
    }
    int st = seed_linear_bwd(c->s, dx, d, 1, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1), dzh, d, x, d,
                             seed_param(c, 0), c->B, d, d, 1.0f);
    if (st == CK_OK)
        st = seed_linear_bwd(c->s, dx, d, 1, seed_grad(c, dparams, 2), seed_grad(c, dparams, 3), dzt, d, x, d,
                             seed_param(c, 2), c->B, d, d, 1.0f);
    return st;
}

static double highway_flops(const ck_seed_spec *s, size_t B) { return 4.0 * (double)B * s->d * s->d; }

const seed_kind_ops seed_highway_ops = {
    .kind = CK_SEED_HIGHWAY, .uses = USES_SCALAR, .variants = VARIANTS_MATMUL, .table = highway_table,
    .workspace = highway_workspace, .flops = highway_flops, .forward = highway_forward,
    .backward = highway_backward};
