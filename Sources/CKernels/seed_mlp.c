/* seed_mlp.c — multi-layer seed kinds built from linear layers: the residual MLP (skip
 * connection, residual block, bottleneck adapter, concatenation fusion, transformer FFN), the
 * gated feed-forward (GLU), squeeze-and-excitation, the densely connected block and the
 * weight-tied recurrent refinement (Euler-integrated neural ODE / recursive processing).
 *
 * Every kind here with a residual form zero-initialises its final projection, so at graft time
 * k(x) = x (squeeze-and-excitation: its gate starts at exactly 1) and alpha-blending starts
 * harmless. */
#include "seed_internal.h"

#define MLP_MAX_LAYERS 6

static void add_residual(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

/* ---- residual MLP: y = x + W_out a_L + b_out, a_l = act(a_{l-1} W_l^T + b_l), a_0 = x ------ */

static int residual_mlp_check(const ck_seed_spec *s)
{
    if (s->count > MLP_MAX_LAYERS)
        return CK_ERR_ARG;
    if (s->count > 0 && (s->hidden < 1 || s->hidden > 4 * CK_SEED_MAX_WIDTH))
        return CK_ERR_SIZE;
    return s->count == 0 && s->hidden ? CK_ERR_ARG : CK_OK;
}

static void residual_mlp_table(const ck_seed_spec *s, seed_table *t)
{
    static const char *names[MLP_MAX_LAYERS][2] = {{"w0", "b0"}, {"w1", "b1"}, {"w2", "b2"},
                                                   {"w3", "b3"}, {"w4", "b4"}, {"w5", "b5"}};
    size_t in = s->d;
    for (uint32_t l = 0; l < s->count; l++) {
        seed_table_add(t, names[l][0], 2, s->hidden, in, 1, CK_INIT_UNIFORM_FAN, 1.0f, in);
        seed_table_add(t, names[l][1], 1, s->hidden, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, in);
        in = s->hidden;
    }
    seed_table_add(t, "w_out", 2, s->d, in, 1, CK_INIT_ZERO, 0.0f, in);
    seed_table_add(t, "b_out", 1, s->d, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved z_l, a_l [B, h] per layer; scratch two [B, h] ping-pong buffers */
static size_t residual_mlp_workspace(const ck_seed_spec *s, size_t B)
{
    return s->count ? (2 * (size_t)s->count + 2) * B * s->hidden : 0;
}

static int residual_mlp_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, h = c->s->hidden, L = c->s->count, B = c->B;
    const float *in = x;
    size_t ldi = d;
    for (size_t l = 0; l < L; l++) {
        float *z = c->ws + 2 * l * B * h, *a = z + B * h;
        int st = seed_linear_fwd(c->s, z, h, in, ldi, seed_param(c, 2 * l), seed_param(c, 2 * l + 1), B, ldi, h, 1.0f);
        if (st != CK_OK)
            return st;
        seed_act_fwd(c->s->activation, a, z, B * h);
        in = a;
        ldi = h;
    }
    int st = seed_linear_fwd(c->s, y, d, in, ldi, seed_param(c, 2 * L), seed_param(c, 2 * L + 1), B, ldi, d, 1.0f);
    if (st == CK_OK)
        add_residual(y, x, B * d);
    return st;
}

static int residual_mlp_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d, h = c->s->hidden, L = c->s->count, B = c->B;
    if (dx)
        memcpy(dx, dy, B * d * sizeof(float));
    const float *last = L ? c->ws + (2 * (L - 1) + 1) * B * h : x;
    const size_t ld_last = L ? h : d;
    float *buf = c->ws + 2 * L * B * h, *other = buf + B * h;
    /* output projection: its input gradient goes to the last hidden layer (or x when L = 0) */
    int st = seed_linear_bwd(c->s, L ? buf : dx, ld_last, L ? 0 : 1, seed_grad(c, dparams, 2 * L),
                             seed_grad(c, dparams, 2 * L + 1), dy, d, last, ld_last, seed_param(c, 2 * L), B,
                             ld_last, d, 1.0f);
    for (size_t l = L; st == CK_OK && l-- > 0;) {
        const float *z = c->ws + 2 * l * B * h;
        seed_act_bwd(c->s->activation, buf, buf, z, B * h);
        const float *in = l ? c->ws + (2 * (l - 1) + 1) * B * h : x;
        const size_t ldi = l ? h : d;
        float *din = l ? other : dx;
        st = seed_linear_bwd(c->s, din, ldi, l ? 0 : 1, seed_grad(c, dparams, 2 * l), seed_grad(c, dparams, 2 * l + 1),
                             buf, h, in, ldi, seed_param(c, 2 * l), B, ldi, h, 1.0f);
        float *tmp = buf;
        buf = other;
        other = tmp;
    }
    return st;
}

static double residual_mlp_flops(const ck_seed_spec *s, size_t B)
{
    if (!s->count)
        return 2.0 * (double)B * s->d * s->d;
    return 2.0 * (double)B * ((double)s->d * s->hidden * 2 + (double)(s->count - 1) * s->hidden * s->hidden);
}

const seed_kind_ops seed_residual_mlp_ops = {
    .kind = CK_SEED_RESIDUAL_MLP, .uses = USES_HIDDEN | USES_COUNT | USES_ACTIVATION,
    .variants = VARIANTS_MATMUL, .check = residual_mlp_check, .table = residual_mlp_table,
    .workspace = residual_mlp_workspace, .flops = residual_mlp_flops, .forward = residual_mlp_forward,
    .backward = residual_mlp_backward};

/* ---- gated FFN: y = x + (act(x W1^T + b1) * (x V^T + c)) W2^T + b2 ------------------------- */

static int hidden_check(const ck_seed_spec *s)
{
    return s->hidden >= 1 && s->hidden <= 8 * CK_SEED_MAX_WIDTH ? CK_OK : CK_ERR_SIZE;
}

static void gated_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w1", 2, s->hidden, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "b1", 1, s->hidden, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "v", 2, s->hidden, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "c", 1, s->hidden, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "w2", 2, s->d, s->hidden, 1, CK_INIT_ZERO, 0.0f, s->hidden);
    seed_table_add(t, "b2", 1, s->d, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved u, g, v, p [B, h]; scratch dp, du, dv [B, h] */
static size_t gated_workspace(const ck_seed_spec *s, size_t B) { return 7 * B * s->hidden; }

static int gated_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, h = c->s->hidden, B = c->B, n = B * h;
    float *u = c->ws, *g = u + n, *v = g + n, *p = v + n;
    int st = seed_linear_fwd(c->s, u, h, x, d, seed_param(c, 0), seed_param(c, 1), B, d, h, 1.0f);
    if (st == CK_OK)
        st = seed_linear_fwd(c->s, v, h, x, d, seed_param(c, 2), seed_param(c, 3), B, d, h, 1.0f);
    if (st != CK_OK)
        return st;
    seed_act_fwd(c->s->activation, g, u, n);
    for (size_t i = 0; i < n; i++)
        p[i] = g[i] * v[i];
    st = seed_linear_fwd(c->s, y, d, p, h, seed_param(c, 4), seed_param(c, 5), B, h, d, 1.0f);
    if (st == CK_OK)
        add_residual(y, x, B * d);
    return st;
}

static int gated_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d, h = c->s->hidden, B = c->B, n = B * h;
    const float *u = c->ws, *g = u + n, *v = g + n, *p = v + n;
    float *dp = c->ws + 4 * n, *du = dp + n, *dv = du + n;
    int st = seed_linear_bwd(c->s, dp, h, 0, seed_grad(c, dparams, 4), seed_grad(c, dparams, 5), dy, d, p, h,
                             seed_param(c, 4), B, h, d, 1.0f);
    if (st != CK_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        dv[i] = dp[i] * g[i];
        du[i] = dp[i] * v[i];
    }
    seed_act_bwd(c->s->activation, du, du, u, n);
    if (dx)
        memcpy(dx, dy, B * d * sizeof(float));
    st = seed_linear_bwd(c->s, dx, d, 1, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1), du, h, x, d,
                         seed_param(c, 0), B, d, h, 1.0f);
    if (st == CK_OK)
        st = seed_linear_bwd(c->s, dx, d, 1, seed_grad(c, dparams, 2), seed_grad(c, dparams, 3), dv, h, x, d,
                             seed_param(c, 2), B, d, h, 1.0f);
    return st;
}

static double gated_flops(const ck_seed_spec *s, size_t B)
{
    return 6.0 * (double)B * s->d * s->hidden + 20.0 * (double)B * s->hidden;
}

const seed_kind_ops seed_gated_ffn_ops = {
    .kind = CK_SEED_GATED_FFN, .uses = USES_HIDDEN | USES_ACTIVATION, .variants = VARIANTS_MATMUL,
    .check = hidden_check, .table = gated_table, .workspace = gated_workspace, .flops = gated_flops,
    .forward = gated_forward, .backward = gated_backward};

/* ---- squeeze-and-excitation: y = x * 2 sigmoid(relu(x W1^T + b1) W2^T + b2) --------------- */
/* The factor 2 makes the zero-initialised W2, b2 give a gate of exactly 1: identity at graft. */

static void se_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w1", 2, s->hidden, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "b1", 1, s->hidden, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "w2", 2, s->d, s->hidden, 1, CK_INIT_ZERO, 0.0f, s->hidden);
    seed_table_add(t, "b2", 1, s->d, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved z1, a1 [B, h], gate [B, d]; scratch dz2 [B, d], da1 [B, h] */
static size_t se_workspace(const ck_seed_spec *s, size_t B) { return B * (3 * (size_t)s->hidden + 2 * s->d); }

static int se_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, h = c->s->hidden, B = c->B;
    float *z1 = c->ws, *a1 = z1 + B * h, *gate = a1 + B * h;
    int st = seed_linear_fwd(c->s, z1, h, x, d, seed_param(c, 0), seed_param(c, 1), B, d, h, 1.0f);
    if (st != CK_OK)
        return st;
    seed_act_fwd(CK_ACT_RELU, a1, z1, B * h);
    st = seed_linear_fwd(c->s, gate, d, a1, h, seed_param(c, 2), seed_param(c, 3), B, h, d, 1.0f);
    if (st != CK_OK)
        return st;
    for (size_t i = 0; i < B * d; i++) {
        gate[i] = 2.0f * seed_sigmoid(gate[i]);
        y[i] = x[i] * gate[i];
    }
    return CK_OK;
}

static int se_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d, h = c->s->hidden, B = c->B;
    const float *z1 = c->ws, *a1 = z1 + B * h, *gate = a1 + B * h;
    float *dz2 = c->ws + B * (2 * h + d), *da1 = dz2 + B * d;
    for (size_t i = 0; i < B * d; i++) /* d gate / dz2 = 2 s (1 - s) = gate (1 - gate / 2) */
        dz2[i] = dy[i] * x[i] * gate[i] * (1.0f - 0.5f * gate[i]);
    int st = seed_linear_bwd(c->s, da1, h, 0, seed_grad(c, dparams, 2), seed_grad(c, dparams, 3), dz2, d, a1, h,
                             seed_param(c, 2), B, h, d, 1.0f);
    if (st != CK_OK)
        return st;
    seed_act_bwd(CK_ACT_RELU, da1, da1, z1, B * h);
    if (dx)
        for (size_t i = 0; i < B * d; i++)
            dx[i] = dy[i] * gate[i];
    return seed_linear_bwd(c->s, dx, d, 1, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1), da1, h, x, d,
                           seed_param(c, 0), B, d, h, 1.0f);
}

static double se_flops(const ck_seed_spec *s, size_t B) { return 4.0 * (double)B * s->d * s->hidden; }

const seed_kind_ops seed_squeeze_excite_ops = {
    .kind = CK_SEED_SQUEEZE_EXCITE, .uses = USES_HIDDEN, .variants = VARIANTS_MATMUL, .check = hidden_check,
    .table = se_table, .workspace = se_workspace, .flops = se_flops, .forward = se_forward,
    .backward = se_backward};

/* ---- dense block: layer l sees [x, f_0 .. f_{l-1}], adds `hidden` features f_l -------------- */

static size_t dense_width(const ck_seed_spec *s) { return (size_t)s->d + (size_t)s->count * s->hidden; }

static int dense_check(const ck_seed_spec *s)
{
    if (s->count < 1 || s->count > MLP_MAX_LAYERS)
        return CK_ERR_ARG;
    return s->hidden >= 1 && s->hidden <= CK_SEED_MAX_WIDTH ? CK_OK : CK_ERR_SIZE;
}

static void dense_table(const ck_seed_spec *s, seed_table *t)
{
    static const char *names[MLP_MAX_LAYERS][2] = {{"w0", "b0"}, {"w1", "b1"}, {"w2", "b2"},
                                                   {"w3", "b3"}, {"w4", "b4"}, {"w5", "b5"}};
    for (uint32_t l = 0; l < s->count; l++) {
        const size_t in = (size_t)s->d + (size_t)l * s->hidden;
        seed_table_add(t, names[l][0], 2, s->hidden, in, 1, CK_INIT_UNIFORM_FAN, 1.0f, in);
        seed_table_add(t, names[l][1], 1, s->hidden, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, in);
    }
    const size_t grown = (size_t)s->count * s->hidden;
    seed_table_add(t, "w_out", 2, s->d, grown, 1, CK_INIT_ZERO, 0.0f, grown);
    seed_table_add(t, "b_out", 1, s->d, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved features F [B, d + L g] and z_l [B, g]; scratch dF [B, d + L g] */
static size_t dense_workspace(const ck_seed_spec *s, size_t B)
{
    return B * (2 * dense_width(s) + (size_t)s->count * s->hidden);
}

static int dense_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, g = c->s->hidden, L = c->s->count, B = c->B, W = dense_width(c->s);
    float *F = c->ws, *z = c->ws + B * W;
    for (size_t b = 0; b < B; b++)
        memcpy(F + b * W, x + b * d, d * sizeof(float));
    for (size_t l = 0; l < L; l++) {
        const size_t in = d + l * g;
        float *zl = z + l * B * g;
        int st = seed_linear_fwd(c->s, zl, g, F, W, seed_param(c, 2 * l), seed_param(c, 2 * l + 1), B, in, g, 1.0f);
        if (st != CK_OK)
            return st;
        for (size_t b = 0; b < B; b++)
            seed_act_fwd(CK_ACT_RELU, F + b * W + in, zl + b * g, g);
    }
    int st = seed_linear_fwd(c->s, y, d, F + d, W, seed_param(c, 2 * L), seed_param(c, 2 * L + 1), B, L * g, d, 1.0f);
    if (st == CK_OK)
        add_residual(y, x, B * d);
    return st;
}

static int dense_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    (void)x;
    const size_t d = c->s->d, g = c->s->hidden, L = c->s->count, B = c->B, W = dense_width(c->s);
    const float *F = c->ws, *z = c->ws + B * W;
    float *dF = c->ws + B * (W + L * g);
    memset(dF, 0, B * W * sizeof(float));
    int st = seed_linear_bwd(c->s, dF + d, W, 0, seed_grad(c, dparams, 2 * L), seed_grad(c, dparams, 2 * L + 1), dy,
                             d, F + d, W, seed_param(c, 2 * L), B, L * g, d, 1.0f);
    for (size_t l = L; st == CK_OK && l-- > 0;) {
        const size_t in = d + l * g;
        const float *zl = z + l * B * g;
        for (size_t b = 0; b < B; b++) /* dF's slice of f_l becomes dz_l in place */
            seed_act_bwd(CK_ACT_RELU, dF + b * W + in, dF + b * W + in, zl + b * g, g);
        st = seed_linear_bwd(c->s, dF, W, 1, seed_grad(c, dparams, 2 * l), seed_grad(c, dparams, 2 * l + 1),
                             dF + in, W, F, W, seed_param(c, 2 * l), B, in, g, 1.0f);
    }
    if (st == CK_OK && dx)
        for (size_t b = 0; b < B; b++)
            for (size_t j = 0; j < d; j++)
                dx[b * d + j] = dy[b * d + j] + dF[b * W + j];
    return st;
}

static double dense_flops(const ck_seed_spec *s, size_t B)
{
    double f = 2.0 * (double)B * s->d * s->count * s->hidden;
    for (uint32_t l = 0; l < s->count; l++)
        f += 2.0 * (double)B * ((double)s->d + (double)l * s->hidden) * s->hidden;
    return f;
}

const seed_kind_ops seed_dense_block_ops = {
    .kind = CK_SEED_DENSE_BLOCK, .uses = USES_HIDDEN | USES_COUNT, .variants = VARIANTS_MATMUL,
    .check = dense_check, .table = dense_table, .workspace = dense_workspace, .flops = dense_flops,
    .forward = dense_forward, .backward = dense_backward};

/* ---- recurrent: h_{i+1} = h_i + scalar (tanh(h_i W1^T + b1) W2^T + b2), h_0 = x, y = h_n ---- */

static int recurrent_check(const ck_seed_spec *s)
{
    if (s->count < 1 || s->count > 64 || !(s->scalar > 0.0f))
        return CK_ERR_ARG;
    return hidden_check(s);
}

static void recurrent_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w1", 2, s->hidden, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "b1", 1, s->hidden, 1, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "w2", 2, s->d, s->hidden, 1, CK_INIT_ZERO, 0.0f, s->hidden);
    seed_table_add(t, "b2", 1, s->d, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved h_i [B, d] and a_i [B, h] per step; scratch dh [B, d], da [B, h] */
static size_t recurrent_workspace(const ck_seed_spec *s, size_t B)
{
    return ((size_t)s->count + 1) * B * ((size_t)s->d + s->hidden);
}

static int recurrent_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, h = c->s->hidden, n = c->s->count, B = c->B;
    float *H = c->ws, *A = c->ws + n * B * d;
    memcpy(H, x, B * d * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float *hi = H + i * B * d, *ai = A + i * B * h;
        float *next = i + 1 < n ? H + (i + 1) * B * d : y;
        int st = seed_linear_fwd(c->s, ai, h, hi, d, seed_param(c, 0), seed_param(c, 1), B, d, h, 1.0f);
        if (st != CK_OK)
            return st;
        seed_act_fwd(CK_ACT_TANH, ai, ai, B * h);
        st = seed_linear_fwd(c->s, next, d, ai, h, seed_param(c, 2), seed_param(c, 3), B, h, d, c->s->scalar);
        if (st != CK_OK)
            return st;
        add_residual(next, hi, B * d);
    }
    return CK_OK;
}

static int recurrent_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    (void)x;
    const size_t d = c->s->d, h = c->s->hidden, n = c->s->count, B = c->B;
    const float *H = c->ws, *A = c->ws + n * B * d;
    float *dh = c->ws + n * B * (d + h), *da = dh + B * d;
    memcpy(dh, dy, B * d * sizeof(float));
    for (size_t i = n; i-- > 0;) {
        const float *hi = H + i * B * d, *ai = A + i * B * h;
        int st = seed_linear_bwd(c->s, da, h, 0, seed_grad(c, dparams, 2), seed_grad(c, dparams, 3), dh, d, ai, h,
                                 seed_param(c, 2), B, h, d, c->s->scalar);
        if (st != CK_OK)
            return st;
        for (size_t k = 0; k < B * h; k++) /* tanh' = 1 - a^2 */
            da[k] *= 1.0f - ai[k] * ai[k];
        st = seed_linear_bwd(c->s, dh, d, 1, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1), da, h, hi, d,
                             seed_param(c, 0), B, d, h, 1.0f);
        if (st != CK_OK)
            return st;
    }
    if (dx)
        memcpy(dx, dh, B * d * sizeof(float));
    return CK_OK;
}

static double recurrent_flops(const ck_seed_spec *s, size_t B)
{
    return 4.0 * (double)B * s->d * s->hidden * s->count;
}

const seed_kind_ops seed_recurrent_ops = {
    .kind = CK_SEED_RECURRENT, .uses = USES_HIDDEN | USES_COUNT | USES_SCALAR, .variants = VARIANTS_MATMUL,
    .check = recurrent_check, .table = recurrent_table, .workspace = recurrent_workspace,
    .flops = recurrent_flops, .forward = recurrent_forward, .backward = recurrent_backward};
