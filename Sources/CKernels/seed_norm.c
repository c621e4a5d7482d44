/* seed_norm.c — normalising seed kinds: layer norm (per row, over features; reuses
 * ck_layernorm_*) and batch norm (per feature, over the batch, with running statistics for
 * evaluation mode). */
#include "seed_internal.h"

/* ---- layer norm -------------------------------------------------------------------------- */

static int layer_norm_check(const ck_seed_spec *s) { return s->scalar > 0.0f ? CK_OK : CK_ERR_ARG; }

static void layer_norm_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "gamma", 1, s->d, 1, 1, CK_INIT_CONST, 1.0f, 0);
    seed_table_add(t, "beta", 1, s->d, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved mean[B], rstd[B]; scratch dx[B, d] when the caller does not want dx */
static size_t layer_norm_workspace(const ck_seed_spec *s, size_t B) { return 2 * B + B * s->d; }

static int layer_norm_forward(const seed_ctx *c, float *y, const float *x)
{
    return ck_layernorm_forward(y, c->ws, c->ws + c->B, x, seed_param(c, 0), seed_param(c, 1), c->s->scalar,
                                c->B, c->s->d);
}

static int layer_norm_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    float *target = dx ? dx : c->ws + 2 * c->B;
    return ck_layernorm_backward(target, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1), dy, x, c->ws,
                                 c->ws + c->B, seed_param(c, 0), c->B, c->s->d);
}

static double layer_norm_flops(const ck_seed_spec *s, size_t B) { return 8.0 * (double)B * s->d; }

const seed_kind_ops seed_layer_norm_ops = {
    .kind = CK_SEED_LAYER_NORM, .uses = USES_SCALAR, .variants = VARIANTS_SINGLE, .check = layer_norm_check,
    .table = layer_norm_table, .workspace = layer_norm_workspace, .flops = layer_norm_flops,
    .forward = layer_norm_forward, .backward = layer_norm_backward};

/* ---- batch norm -------------------------------------------------------------------------- */
/* Training: statistics of the current batch (biased variance), running statistics updated as
 * running = momentum * running + (1 - momentum) * batch (unbiased variance). Evaluation: the
 * running statistics, which backward then treats as constants. */

static int batch_norm_check(const ck_seed_spec *s)
{
    return s->scalar >= 0.0f && s->scalar <= 1.0f ? CK_OK : CK_ERR_ARG;
}

static size_t batch_norm_state(const ck_seed_spec *s) { return 2 * (size_t)s->d; }

/* saved mean[d], rstd[d], mode[1] */
static size_t batch_norm_workspace(const ck_seed_spec *s, size_t B)
{
    (void)B;
    return 2 * (size_t)s->d + 1;
}

static int batch_norm_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, B = c->B;
    const float *gamma = seed_param(c, 0), *beta = seed_param(c, 1);
    float *mean = c->ws, *rstd = c->ws + d;
    float *run_mean = c->rt->state, *run_var = c->rt->state + d;
    const int training = c->rt->training != 0;
    c->ws[2 * d] = training ? 1.0f : 0.0f;
    for (size_t j = 0; j < d; j++) {
        if (training) {
            double s = 0.0;
            for (size_t b = 0; b < B; b++)
                s += x[b * d + j];
            const double mu = s / (double)B;
            double ss = 0.0;
            for (size_t b = 0; b < B; b++) {
                const double e = x[b * d + j] - mu;
                ss += e * e;
            }
            const double var = ss / (double)B;
            mean[j] = (float)mu;
            rstd[j] = (float)(1.0 / sqrt(var + SEED_BN_EPS));
            const float m = c->s->scalar;
            const double unbiased = B > 1 ? ss / (double)(B - 1) : var;
            run_mean[j] = m * run_mean[j] + (1.0f - m) * (float)mu;
            run_var[j] = m * run_var[j] + (1.0f - m) * (float)unbiased;
        } else {
            mean[j] = run_mean[j];
            rstd[j] = (float)(1.0 / sqrt((double)run_var[j] + SEED_BN_EPS));
        }
    }
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < d; j++)
            y[b * d + j] = (x[b * d + j] - mean[j]) * rstd[j] * gamma[j] + beta[j];
    return CK_OK;
}

static int batch_norm_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    const size_t d = c->s->d, B = c->B;
    const float *gamma = seed_param(c, 0);
    const float *mean = c->ws, *rstd = c->ws + d;
    const int training = c->ws[2 * d] != 0.0f;
    float *dgamma = seed_grad(c, dparams, 0), *dbeta = seed_grad(c, dparams, 1);
    for (size_t j = 0; j < d; j++) {
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (size_t b = 0; b < B; b++) {
            const double xhat = ((double)x[b * d + j] - mean[j]) * rstd[j];
            sum_dy += dy[b * d + j];
            sum_dy_xhat += dy[b * d + j] * xhat;
        }
        dgamma[j] += (float)sum_dy_xhat;
        dbeta[j] += (float)sum_dy;
        if (!dx)
            continue;
        const double k = (double)gamma[j] * rstd[j];
        for (size_t b = 0; b < B; b++) {
            if (training) {
                const double xhat = ((double)x[b * d + j] - mean[j]) * rstd[j];
                dx[b * d + j] = (float)(k / (double)B * ((double)B * dy[b * d + j] - sum_dy - xhat * sum_dy_xhat));
            } else {
                dx[b * d + j] = (float)(k * dy[b * d + j]);
            }
        }
    }
    return CK_OK;
}

static void batch_norm_table(const ck_seed_spec *s, seed_table *t) { layer_norm_table(s, t); }

static double batch_norm_flops(const ck_seed_spec *s, size_t B) { return 6.0 * (double)B * s->d; }

const seed_kind_ops seed_batch_norm_ops = {
    .kind = CK_SEED_BATCH_NORM, .uses = USES_SCALAR, .variants = VARIANTS_SINGLE, .check = batch_norm_check,
    .table = batch_norm_table, .workspace = batch_norm_workspace, .state = batch_norm_state,
    .flops = batch_norm_flops, .forward = batch_norm_forward, .backward = batch_norm_backward};
