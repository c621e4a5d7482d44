/* seed_elementwise.c — seed kinds that act on each feature independently: identity, dropout,
 * activation, layer scale, learned positional offset and the differentiable-NAS mixture of
 * activations. The SCALAR variant walks one element per iteration; VECTOR processes blocks of
 * 8 through restrict-qualified loops (or the vectorised ckernels.h activations) so the compiler
 * emits SIMD code. Both compute bit-identical results except where noted. */
#include "seed_internal.h"

static int elementwise_variant_vector(const ck_seed_spec *s) { return s->variant == CK_VARIANT_VECTOR; }

/* ---- identity ---------------------------------------------------------------------------- */

static int identity_forward(const seed_ctx *c, float *y, const float *x)
{
    memcpy(y, x, c->B * c->s->d * sizeof(float));
    return CK_OK;
}

static int identity_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    (void)dparams, (void)x;
    if (dx)
        memcpy(dx, dy, c->B * c->s->d * sizeof(float));
    return CK_OK;
}

const seed_kind_ops seed_identity_ops = {
    .kind = CK_SEED_IDENTITY, .variants = VARIANTS_SINGLE, .table = seed_no_tensors,
    .forward = identity_forward, .backward = identity_backward};

/* ---- dropout ----------------------------------------------------------------------------- */

/* Keep decision for element i at (seed, step): a counter-based hash, so backward (and a replay
 * of the same step) sees exactly the forward's mask without storing it. */
static inline int dropout_keep(uint64_t key, size_t i, float p)
{
    const uint64_t h = seed_mix64(key + (uint64_t)i * 0xD1B54A32D192ED03ULL);
    return (float)(h >> 40) * 0x1.0p-24f >= p;
}

static int dropout_check(const ck_seed_spec *s)
{
    return s->scalar >= 0.0f && s->scalar < 1.0f ? CK_OK : CK_ERR_ARG;
}

static void dropout_apply(const seed_ctx *c, float *out, const float *in)
{
    const size_t n = c->B * c->s->d;
    const float p = c->s->scalar;
    if (!c->rt->training || p == 0.0f) {
        memcpy(out, in, n * sizeof(float));
        return;
    }
    const uint64_t key = seed_mix64(c->rt->seed ^ (c->rt->step * 0x9E3779B97F4A7C15ULL));
    const float keep_scale = 1.0f / (1.0f - p);
    if (elementwise_variant_vector(c->s)) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            float m[8];
            for (size_t k = 0; k < 8; k++)
                m[k] = dropout_keep(key, i + k, p) ? keep_scale : 0.0f;
            float *restrict o = out + i;
            const float *restrict a = in + i;
            for (size_t k = 0; k < 8; k++)
                o[k] = a[k] * m[k];
        }
        for (; i < n; i++)
            out[i] = dropout_keep(key, i, p) ? in[i] * keep_scale : 0.0f;
    } else {
        for (size_t i = 0; i < n; i++)
            out[i] = dropout_keep(key, i, p) ? in[i] * keep_scale : 0.0f;
    }
}

static int dropout_forward(const seed_ctx *c, float *y, const float *x)
{
    dropout_apply(c, y, x);
    return CK_OK;
}

static int dropout_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    (void)dparams, (void)x;
    if (dx)
        dropout_apply(c, dx, dy); /* the gradient passes through the same mask and scale */
    return CK_OK;
}

const seed_kind_ops seed_dropout_ops = {
    .kind = CK_SEED_DROPOUT, .uses = USES_SCALAR, .variants = VARIANTS_ELEMENTWISE, .check = dropout_check,
    .table = seed_no_tensors, .forward = dropout_forward, .backward = dropout_backward};

/* ---- activation -------------------------------------------------------------------------- */

static int activation_check(const ck_seed_spec *s)
{
    return s->activation == CK_ACT_RELU || s->activation == CK_ACT_GELU || s->activation == CK_ACT_TANH
               ? CK_OK
               : CK_ERR_ARG;
}

static int activation_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t n = c->B * c->s->d;
    if (elementwise_variant_vector(c->s)) {
        switch (c->s->activation) {
        case CK_ACT_RELU: ck_relu_forward(y, x, n); break;
        case CK_ACT_GELU: ck_gelu_forward(y, x, n); break;
        default: ck_tanh_forward(y, x, n);
        }
    } else {
        seed_act_fwd(c->s->activation, y, x, n);
    }
    return CK_OK;
}

static int activation_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    (void)dparams;
    if (!dx)
        return CK_OK;
    const size_t n = c->B * c->s->d;
    if (elementwise_variant_vector(c->s) && c->s->activation != CK_ACT_TANH) {
        if (c->s->activation == CK_ACT_RELU)
            ck_relu_backward(dx, dy, x, n);
        else
            ck_gelu_backward(dx, dy, x, n);
    } else {
        seed_act_bwd(c->s->activation, dx, dy, x, n);
    }
    return CK_OK;
}

static double activation_flops(const ck_seed_spec *s, size_t B) { return 8.0 * (double)B * s->d; }

const seed_kind_ops seed_activation_ops = {
    .kind = CK_SEED_ACTIVATION, .uses = USES_ACTIVATION, .variants = VARIANTS_ELEMENTWISE,
    .check = activation_check, .table = seed_no_tensors, .flops = activation_flops,
    .forward = activation_forward, .backward = activation_backward};

/* ---- layer scale: y = gamma * x ---------------------------------------------------------- */

static void layer_scale_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "gamma", 1, s->d, 1, 1, CK_INIT_CONST, s->scalar, 0);
}

/* y[b, :] = x[b, :] (op) v for every row b, op a product or a sum: layer scale and positional
 * share this walk. Inlined with a constant op, each use compiles to its own loops. */
enum rowwise_op { ROWWISE_MUL, ROWWISE_ADD };

static inline void rowwise_apply(const seed_ctx *c, float *y, const float *x, const float *v, enum rowwise_op op)
{
    const size_t d = c->s->d;
    for (size_t b = 0; b < c->B; b++) {
        const float *restrict xr = x + b * d;
        float *restrict yr = y + b * d;
        size_t j = 0;
        if (elementwise_variant_vector(c->s))
            for (; j + 8 <= d; j += 8)
                for (size_t k = 0; k < 8; k++)
                    yr[j + k] = op == ROWWISE_MUL ? v[j + k] * xr[j + k] : xr[j + k] + v[j + k];
        for (; j < d; j++)
            yr[j] = op == ROWWISE_MUL ? v[j] * xr[j] : xr[j] + v[j];
    }
}

static int layer_scale_forward(const seed_ctx *c, float *y, const float *x)
{
    rowwise_apply(c, y, x, seed_param(c, 0), ROWWISE_MUL);
    return CK_OK;
}

static int layer_scale_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d;
    const float *g = seed_param(c, 0);
    float *dg = seed_grad(c, dparams, 0);
    for (size_t b = 0; b < c->B; b++)
        for (size_t j = 0; j < d; j++) {
            dg[j] += dy[b * d + j] * x[b * d + j];
            if (dx)
                dx[b * d + j] = dy[b * d + j] * g[j];
        }
    return CK_OK;
}

const seed_kind_ops seed_layer_scale_ops = {
    .kind = CK_SEED_LAYER_SCALE, .uses = USES_SCALAR, .variants = VARIANTS_ELEMENTWISE,
    .table = layer_scale_table, .forward = layer_scale_forward, .backward = layer_scale_backward};

/* ---- positional: y = x + p --------------------------------------------------------------- */

static int positional_check(const ck_seed_spec *s) { return s->scalar > 0.0f ? CK_OK : CK_ERR_ARG; }

static void positional_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "position", 1, s->d, 1, 1, CK_INIT_UNIFORM_FAN, s->scalar, s->d);
}

static int positional_forward(const seed_ctx *c, float *y, const float *x)
{
    rowwise_apply(c, y, x, seed_param(c, 0), ROWWISE_ADD);
    return CK_OK;
}

static int positional_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    (void)x;
    const size_t d = c->s->d;
    seed_colsum_add(seed_grad(c, dparams, 0), dy, c->B, d, d, 1.0f);
    if (dx)
        memcpy(dx, dy, c->B * d * sizeof(float));
    return CK_OK;
}

const seed_kind_ops seed_positional_ops = {
    .kind = CK_SEED_POSITIONAL, .uses = USES_SCALAR, .variants = VARIANTS_ELEMENTWISE,
    .check = positional_check, .table = positional_table, .forward = positional_forward,
    .backward = positional_backward};

/* ---- NAS mixture: y = sum_o w_o op_o(x), w = softmax(alpha / temperature) ---------------- */

#define NAS_OPS 4 /* identity, relu, gelu, tanh (ck_activation ids 0..3) */

static int nas_check(const ck_seed_spec *s) { return s->scalar > 0.0f ? CK_OK : CK_ERR_ARG; }

static void nas_table(const ck_seed_spec *s, seed_table *t)
{
    (void)s;
    seed_table_add(t, "alpha", 1, NAS_OPS, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* Per-op outputs for the vector variant: three [B, d] planes (identity needs none). */
static size_t nas_workspace(const ck_seed_spec *s, size_t B) { return 3 * B * s->d; }

static void nas_weights(const seed_ctx *c, float w[NAS_OPS])
{
    const float *alpha = seed_param(c, 0);
    for (int o = 0; o < NAS_OPS; o++)
        w[o] = alpha[o] / c->s->scalar;
    seed_softmax_rows(w, 1, NAS_OPS);
}

static int nas_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t n = c->B * c->s->d;
    float w[NAS_OPS];
    nas_weights(c, w);
    if (elementwise_variant_vector(c->s)) {
        float *r = c->ws, *g = c->ws + n, *t = c->ws + 2 * n;
        ck_relu_forward(r, x, n);
        ck_gelu_forward(g, x, n);
        ck_tanh_forward(t, x, n);
        for (size_t i = 0; i < n; i++)
            y[i] = w[0] * x[i] + w[1] * r[i] + w[2] * g[i] + w[3] * t[i];
    } else {
        for (size_t i = 0; i < n; i++) {
            float r, g, t;
            seed_act_fwd(CK_ACT_RELU, &r, x + i, 1);
            seed_act_fwd(CK_ACT_GELU, &g, x + i, 1);
            seed_act_fwd(CK_ACT_TANH, &t, x + i, 1);
            y[i] = w[0] * x[i] + w[1] * r + w[2] * g + w[3] * t;
        }
    }
    return CK_OK;
}

static int nas_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t n = c->B * c->s->d;
    float w[NAS_OPS];
    nas_weights(c, w);
    double dot[NAS_OPS] = {0.0, 0.0, 0.0, 0.0}; /* <dy, op_o(x)> */
    const float one = 1.0f;
    for (size_t i = 0; i < n; i++) {
        float v[NAS_OPS], dv[NAS_OPS];
        v[0] = x[i];
        dv[0] = 1.0f;
        for (uint32_t o = 1; o < NAS_OPS; o++) {
            seed_act_fwd(o, &v[o], x + i, 1);
            seed_act_bwd(o, &dv[o], &one, x + i, 1);
        }
        float g = 0.0f;
        for (int o = 0; o < NAS_OPS; o++) {
            dot[o] += (double)dy[i] * v[o];
            g += w[o] * dv[o];
        }
        if (dx)
            dx[i] = dy[i] * g;
    }
    double mean = 0.0;
    for (int o = 0; o < NAS_OPS; o++)
        mean += w[o] * dot[o];
    float *da = seed_grad(c, dparams, 0);
    for (int o = 0; o < NAS_OPS; o++)
        da[o] += (float)(w[o] * (dot[o] - mean) / c->s->scalar);
    return CK_OK;
}

static double nas_flops(const ck_seed_spec *s, size_t B) { return 24.0 * (double)B * s->d; }

const seed_kind_ops seed_nas_mixture_ops = {
    .kind = CK_SEED_NAS_MIXTURE, .uses = USES_SCALAR, .variants = VARIANTS_ELEMENTWISE, .check = nas_check,
    .table = nas_table, .workspace = nas_workspace, .flops = nas_flops, .forward = nas_forward,
    .backward = nas_backward};
