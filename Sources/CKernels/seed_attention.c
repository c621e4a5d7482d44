/* seed_attention.c — attention seed kinds for a [B, d] activation, which has no sequence axis
 * of its own:
 *  - slice attention: each row is cut into `count` tokens of e = d / count features that attend
 *    to each other (scaled dot-product, shared e x e projections), as residual rounds
 *    X <- X + softmax(Q K^T / sqrt(e)) V Wo^T + bo, weight-tied over `rounds`;
 *  - memory attention: each row queries `hidden` learned key/value slots,
 *    y = x + softmax(x Wq^T K^T / sqrt(d)) V Wo^T + bo.
 * Both zero-initialise the output projection (identity at graft time). */
#include "seed_internal.h"

/* ---- slice attention --------------------------------------------------------------------- */

static int slice_check(const ck_seed_spec *s)
{
    if (s->rounds < 1 || s->rounds > 8)
        return CK_ERR_ARG;
    return s->count >= 1 && s->count <= 256 && s->d % s->count == 0 ? CK_OK : CK_ERR_SIZE;
}

static void slice_table(const ck_seed_spec *s, seed_table *t)
{
    const size_t e = s->d / s->count;
    seed_table_add(t, "w_q", 2, e, e, 1, CK_INIT_UNIFORM_FAN, 1.0f, e);
    seed_table_add(t, "w_k", 2, e, e, 1, CK_INIT_UNIFORM_FAN, 1.0f, e);
    seed_table_add(t, "w_v", 2, e, e, 1, CK_INIT_UNIFORM_FAN, 1.0f, e);
    seed_table_add(t, "w_o", 2, e, e, 1, CK_INIT_ZERO, 0.0f, e);
    seed_table_add(t, "b_o", 1, e, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

static size_t slice_round_floats(const ck_seed_spec *s, size_t B)
{
    return 5 * B * s->d + B * (size_t)s->count * s->count; /* X, Q, K, V, O and P */
}

/* per round: X, Q, K, V, O [B d] and P [B T T]; scratch dX, dQ, dK, dV, dO [B d] and dP [T T] */
static size_t slice_workspace(const ck_seed_spec *s, size_t B)
{
    return s->rounds * slice_round_floats(s, B) + 5 * B * s->d + (size_t)s->count * s->count;
}

typedef struct {
    float *X, *Q, *K, *V, *O, *P;
} slice_round;

static slice_round slice_round_at(const seed_ctx *c, size_t r)
{
    const size_t n = c->B * c->s->d;
    float *base = c->ws + r * slice_round_floats(c->s, c->B);
    slice_round rd = {base, base + n, base + 2 * n, base + 3 * n, base + 4 * n, base + 5 * n};
    return rd;
}

static int slice_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, T = c->s->count, e = d / T, B = c->B, M = B * T;
    const float scale = (float)(1.0 / sqrt((double)e));
    memcpy(slice_round_at(c, 0).X, x, B * d * sizeof(float));
    for (size_t r = 0; r < c->s->rounds; r++) {
        slice_round rd = slice_round_at(c, r);
        int st = seed_linear_fwd(c->s, rd.Q, e, rd.X, e, seed_param(c, 0), NULL, M, e, e, 1.0f);
        if (st == CK_OK)
            st = seed_linear_fwd(c->s, rd.K, e, rd.X, e, seed_param(c, 1), NULL, M, e, e, 1.0f);
        if (st == CK_OK)
            st = seed_linear_fwd(c->s, rd.V, e, rd.X, e, seed_param(c, 2), NULL, M, e, e, 1.0f);
        for (size_t b = 0; st == CK_OK && b < B; b++) {
            float *P = rd.P + b * T * T;
            st = seed_gemm(c->s, 0, 1, T, T, e, scale, rd.Q + b * d, e, rd.K + b * d, e, 0.0f, P, T);
            if (st != CK_OK)
                break;
            seed_softmax_rows(P, T, T);
            st = seed_gemm(c->s, 0, 0, T, e, T, 1.0f, P, T, rd.V + b * d, e, 0.0f, rd.O + b * d, e);
        }
        if (st != CK_OK)
            return st;
        float *next = r + 1 < c->s->rounds ? slice_round_at(c, r + 1).X : y;
        st = seed_linear_fwd(c->s, next, e, rd.O, e, seed_param(c, 3), seed_param(c, 4), M, e, e, 1.0f);
        if (st != CK_OK)
            return st;
        for (size_t i = 0; i < B * d; i++)
            next[i] += rd.X[i];
    }
    return CK_OK;
}

static int slice_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    (void)x;
    const size_t d = c->s->d, T = c->s->count, e = d / T, B = c->B, M = B * T, n = B * d;
    const float scale = (float)(1.0 / sqrt((double)e));
    float *dX = c->ws + c->s->rounds * slice_round_floats(c->s, B);
    float *dQ = dX + n, *dK = dQ + n, *dV = dK + n, *dO = dV + n, *dP = dO + n;
    memcpy(dX, dy, n * sizeof(float));
    for (size_t r = c->s->rounds; r-- > 0;) {
        slice_round rd = slice_round_at(c, r);
        /* dX holds dL/dX_{r+1}, which is also dL/dX_r through the residual path */
        int st = seed_linear_bwd(c->s, dO, e, 0, seed_grad(c, dparams, 3), seed_grad(c, dparams, 4), dX, e, rd.O, e,
                                 seed_param(c, 3), M, e, e, 1.0f);
        for (size_t b = 0; st == CK_OK && b < B; b++) {
            const float *P = rd.P + b * T * T;
            st = seed_gemm(c->s, 0, 1, T, T, e, 1.0f, dO + b * d, e, rd.V + b * d, e, 0.0f, dP, T);
            if (st == CK_OK)
                st = seed_gemm(c->s, 1, 0, T, e, T, 1.0f, P, T, dO + b * d, e, 0.0f, dV + b * d, e);
            if (st != CK_OK)
                break;
            seed_softmax_bwd_rows(dP, P, T, T, scale);
            st = seed_gemm(c->s, 0, 0, T, e, T, 1.0f, dP, T, rd.K + b * d, e, 0.0f, dQ + b * d, e);
            if (st == CK_OK)
                st = seed_gemm(c->s, 1, 0, T, e, T, 1.0f, dP, T, rd.Q + b * d, e, 0.0f, dK + b * d, e);
        }
        if (st == CK_OK)
            st = seed_linear_bwd(c->s, dX, e, 1, seed_grad(c, dparams, 0), NULL, dQ, e, rd.X, e, seed_param(c, 0), M, e,
                                 e, 1.0f);
        if (st == CK_OK)
            st = seed_linear_bwd(c->s, dX, e, 1, seed_grad(c, dparams, 1), NULL, dK, e, rd.X, e, seed_param(c, 1), M, e,
                                 e, 1.0f);
        if (st == CK_OK)
            st = seed_linear_bwd(c->s, dX, e, 1, seed_grad(c, dparams, 2), NULL, dV, e, rd.X, e, seed_param(c, 2), M, e,
                                 e, 1.0f);
        if (st != CK_OK)
            return st;
    }
    if (dx)
        memcpy(dx, dX, n * sizeof(float));
    return CK_OK;
}

static double slice_flops(const ck_seed_spec *s, size_t B)
{
    const double T = s->count, e = (double)s->d / T;
    return (double)s->rounds * (double)B * (8.0 * T * e * e + 4.0 * T * T * e);
}

const seed_kind_ops seed_slice_attention_ops = {
    .kind = CK_SEED_SLICE_ATTENTION, .uses = USES_COUNT | USES_ROUNDS, .variants = VARIANTS_MATMUL,
    .check = slice_check, .table = slice_table, .workspace = slice_workspace, .flops = slice_flops,
    .forward = slice_forward, .backward = slice_backward};

/* ---- memory attention -------------------------------------------------------------------- */

static int memory_check(const ck_seed_spec *s)
{
    return s->hidden >= 1 && s->hidden <= 4096 ? CK_OK : CK_ERR_SIZE;
}

static void memory_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w_q", 2, s->d, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "mem_k", 2, s->hidden, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "mem_v", 2, s->hidden, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "w_o", 2, s->d, s->d, 1, CK_INIT_ZERO, 0.0f, s->d);
    seed_table_add(t, "b_o", 1, s->d, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved q [B d], P [B S], o [B d]; scratch dO, dq [B d], dP [B S] */
static size_t memory_workspace(const ck_seed_spec *s, size_t B) { return B * (4 * (size_t)s->d + 2 * (size_t)s->hidden); }

static int memory_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, S = c->s->hidden, B = c->B;
    float *q = c->ws, *P = q + B * d, *o = P + B * S;
    const float scale = (float)(1.0 / sqrt((double)d));
    int st = seed_linear_fwd(c->s, q, d, x, d, seed_param(c, 0), NULL, B, d, d, 1.0f);
    if (st == CK_OK)
        st = seed_gemm(c->s, 0, 1, B, S, d, scale, q, d, seed_param(c, 1), d, 0.0f, P, S);
    if (st != CK_OK)
        return st;
    seed_softmax_rows(P, B, S);
    st = seed_gemm(c->s, 0, 0, B, d, S, 1.0f, P, S, seed_param(c, 2), d, 0.0f, o, d);
    if (st == CK_OK)
        st = seed_linear_fwd(c->s, y, d, o, d, seed_param(c, 3), seed_param(c, 4), B, d, d, 1.0f);
    for (size_t i = 0; st == CK_OK && i < B * d; i++)
        y[i] += x[i];
    return st;
}

static int memory_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d, S = c->s->hidden, B = c->B;
    const float *q = c->ws, *P = q + B * d, *o = P + B * S;
    float *dO = c->ws + B * (2 * d + S), *dq = dO + B * d, *dP = dq + B * d;
    const float scale = (float)(1.0 / sqrt((double)d));
    int st = seed_linear_bwd(c->s, dO, d, 0, seed_grad(c, dparams, 3), seed_grad(c, dparams, 4), dy, d, o, d,
                             seed_param(c, 3), B, d, d, 1.0f);
    if (st == CK_OK)
        st = seed_gemm(c->s, 0, 1, B, S, d, 1.0f, dO, d, seed_param(c, 2), d, 0.0f, dP, S);
    if (st == CK_OK)
        st = seed_gemm(c->s, 1, 0, S, d, B, 1.0f, P, S, dO, d, 1.0f, seed_grad(c, dparams, 2), d);
    if (st != CK_OK)
        return st;
    seed_softmax_bwd_rows(dP, P, B, S, scale);
    st = seed_gemm(c->s, 0, 0, B, d, S, 1.0f, dP, S, seed_param(c, 1), d, 0.0f, dq, d);
    if (st == CK_OK)
        st = seed_gemm(c->s, 1, 0, S, d, B, 1.0f, dP, S, q, d, 1.0f, seed_grad(c, dparams, 1), d);
    if (st != CK_OK)
        return st;
    if (dx)
        memcpy(dx, dy, B * d * sizeof(float));
    return seed_linear_bwd(c->s, dx, d, 1, seed_grad(c, dparams, 0), NULL, dq, d, x, d, seed_param(c, 0), B, d, d,
                           1.0f);
}

static double memory_flops(const ck_seed_spec *s, size_t B)
{
    return 2.0 * (double)B * s->d * (2.0 * s->d + 2.0 * s->hidden);
}

const seed_kind_ops seed_memory_attention_ops = {
    .kind = CK_SEED_MEMORY_ATTENTION, .uses = USES_HIDDEN, .variants = VARIANTS_MATMUL, .check = memory_check,
    .table = memory_table, .workspace = memory_workspace, .flops = memory_flops, .forward = memory_forward,
    .backward = memory_backward};
