/* seed_mixture.c — mixture of experts as a residual seed:
 * y = x + sum_e g_e(x) (x W_e^T + b_e), with a linear gate whose top_k logits per row are
 * softmax-renormalised (the others get weight 0; ties go to the lower expert index). top_k =
 * count is a dense soft mixture (dynamic convolution's attention over kernels); smaller top_k
 * is sparse routing. Experts start at zero, so the block is the identity at graft time while the
 * gate already differs per row, which breaks the experts' symmetry as soon as they train.
 *
 * Every expert runs on every row (a dense GEMM per expert): at seed sizes that is cheaper than
 * gathering rows per expert, and it keeps the variants' GEMMs in play. */
#include "seed_internal.h"

#define MIXTURE_MAX_EXPERTS 64

static int mixture_check(const ck_seed_spec *s)
{
    if (s->count < 1 || s->count > MIXTURE_MAX_EXPERTS)
        return CK_ERR_ARG;
    return s->top_k >= 1 && s->top_k <= s->count ? CK_OK : CK_ERR_ARG;
}

static void mixture_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w_gate", 2, s->count, s->d, 1, CK_INIT_UNIFORM_FAN, 1.0f, s->d);
    seed_table_add(t, "b_gate", 1, s->count, 1, 1, CK_INIT_ZERO, 0.0f, 0);
    seed_table_add(t, "w_experts", 3, s->count, s->d, s->d, CK_INIT_ZERO, 0.0f, s->d);
    seed_table_add(t, "b_experts", 2, s->count, s->d, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved gates [B E], expert outputs [E B d]; scratch dlogits [B E], dh [B d] */
static size_t mixture_workspace(const ck_seed_spec *s, size_t B)
{
    return B * (2 * (size_t)s->count + ((size_t)s->count + 1) * s->d);
}

/* Turns a row of logits into renormalised top-k gate weights in place. */
static void top_k_gates(float *g, size_t E, size_t K)
{
    unsigned char chosen[MIXTURE_MAX_EXPERTS] = {0};
    for (size_t k = 0; k < K; k++) {
        size_t best = E;
        for (size_t e = 0; e < E; e++)
            if (!chosen[e] && (best == E || g[e] > g[best]))
                best = e;
        chosen[best] = 1;
    }
    float m = -INFINITY;
    for (size_t e = 0; e < E; e++)
        if (chosen[e] && g[e] > m)
            m = g[e];
    double sum = 0.0;
    for (size_t e = 0; e < E; e++) {
        g[e] = chosen[e] ? expf(g[e] - m) : 0.0f;
        sum += g[e];
    }
    for (size_t e = 0; e < E; e++)
        g[e] = (float)(g[e] / sum);
}

static int mixture_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, E = c->s->count, B = c->B;
    float *gates = c->ws, *h = c->ws + B * E;
    int st = seed_linear_fwd(c->s, gates, E, x, d, seed_param(c, 0), seed_param(c, 1), B, d, E, 1.0f);
    if (st != CK_OK)
        return st;
    for (size_t b = 0; b < B; b++)
        top_k_gates(gates + b * E, E, c->s->top_k);
    memcpy(y, x, B * d * sizeof(float));
    const float *W = seed_param(c, 2), *bias = seed_param(c, 3);
    for (size_t e = 0; e < E; e++) {
        float *he = h + e * B * d;
        st = seed_linear_fwd(c->s, he, d, x, d, W + e * d * d, bias + e * d, B, d, d, 1.0f);
        if (st != CK_OK)
            return st;
        for (size_t b = 0; b < B; b++) {
            const float g = gates[b * E + e];
            if (g != 0.0f)
                for (size_t j = 0; j < d; j++)
                    y[b * d + j] += g * he[b * d + j];
        }
    }
    return CK_OK;
}

static int mixture_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d, E = c->s->count, B = c->B;
    const float *gates = c->ws, *h = c->ws + B * E;
    float *dlogits = c->ws + B * E * (1 + d), *dh = dlogits + B * E;
    const float *W = seed_param(c, 2);
    float *dW = seed_grad(c, dparams, 2), *db = seed_grad(c, dparams, 3);
    if (dx)
        memcpy(dx, dy, B * d * sizeof(float));
    for (size_t e = 0; e < E; e++) {
        const float *he = h + e * B * d;
        for (size_t b = 0; b < B; b++) {
            const float g = gates[b * E + e];
            double dg = 0.0; /* dL/dgate = <dy, expert output> */
            for (size_t j = 0; j < d; j++) {
                dh[b * d + j] = g * dy[b * d + j];
                dg += (double)dy[b * d + j] * he[b * d + j];
            }
            dlogits[b * E + e] = (float)dg;
        }
        int st = seed_linear_bwd(c->s, dx, d, 1, dW + e * d * d, db + e * d, dh, d, x, d, W + e * d * d, B, d, d, 1.0f);
        if (st != CK_OK)
            return st;
    }
    for (size_t b = 0; b < B; b++) { /* softmax over the selected experts; unselected have g = 0 */
        float *dl = dlogits + b * E;
        const float *g = gates + b * E;
        double mean = 0.0;
        for (size_t e = 0; e < E; e++)
            mean += (double)g[e] * dl[e];
        for (size_t e = 0; e < E; e++)
            dl[e] = g[e] * (dl[e] - (float)mean);
    }
    return seed_linear_bwd(c->s, dx, d, 1, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1), dlogits, E, x, d,
                           seed_param(c, 0), B, d, E, 1.0f);
}

static double mixture_flops(const ck_seed_spec *s, size_t B)
{
    return 2.0 * (double)B * s->d * ((double)s->count * s->d + s->count) + 2.0 * (double)B * s->d * s->count;
}

const seed_kind_ops seed_mixture_ops = {
    .kind = CK_SEED_MIXTURE, .uses = USES_COUNT | USES_TOP_K, .variants = VARIANTS_MATMUL, .check = mixture_check,
    .table = mixture_table, .workspace = mixture_workspace, .flops = mixture_flops, .forward = mixture_forward,
    .backward = mixture_backward};
