/* seed_pool.c — pooling seed kinds over the feature axis: max pooling with a sliding window
 * ("same" padding, stride 1, so the width stays d) and pool-and-project (adaptive average
 * pooling into one or more pyramid levels, then a zero-initialised residual projection). */
#include "seed_internal.h"

/* ---- max pool ---------------------------------------------------------------------------- */

static int max_pool_check(const ck_seed_spec *s) { return s->window >= 1 && s->window <= 64 ? CK_OK : CK_ERR_ARG; }

/* saved argmax index per output (exact in float up to 2^24 >= CK_SEED_MAX_WIDTH) */
static size_t max_pool_workspace(const ck_seed_spec *s, size_t B) { return B * s->d; }

static int max_pool_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, k = c->s->window;
    const size_t left = (k - 1) / 2; /* even windows: asymmetric "same" padding */
    for (size_t b = 0; b < c->B; b++) {
        const float *xr = x + b * d;
        for (size_t i = 0; i < d; i++) {
            const size_t end = i + k - left; /* exclusive; k > left, so no underflow */
            const size_t lo = i >= left ? i - left : 0;
            const size_t hi = end < d ? end : d;
            size_t best = lo;
            for (size_t j = lo + 1; j < hi; j++)
                if (xr[j] > xr[best] || (xr[best] != xr[best] && xr[j] == xr[j]))
                    best = j;
            y[b * d + i] = xr[best];
            c->ws[b * d + i] = (float)best;
        }
    }
    return CK_OK;
}

static int max_pool_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    (void)dparams, (void)x;
    if (!dx)
        return CK_OK;
    const size_t d = c->s->d;
    memset(dx, 0, c->B * d * sizeof(float));
    for (size_t b = 0; b < c->B; b++)
        for (size_t i = 0; i < d; i++)
            dx[b * d + (size_t)c->ws[b * d + i]] += dy[b * d + i];
    return CK_OK;
}

static double max_pool_flops(const ck_seed_spec *s, size_t B) { return (double)B * s->d * s->window; }

const seed_kind_ops seed_max_pool_ops = {
    .kind = CK_SEED_MAX_POOL, .uses = USES_WINDOW, .variants = VARIANTS_SINGLE, .check = max_pool_check,
    .table = seed_no_tensors, .workspace = max_pool_workspace, .flops = max_pool_flops,
    .forward = max_pool_forward, .backward = max_pool_backward};

/* ---- pool and project -------------------------------------------------------------------- */
/* Level l pools the d features into n_l = hidden << l bins; bin j covers
 * [floor(j d / n), ceil((j + 1) d / n)) as adaptive average pooling does. */

static size_t pooled_width(const ck_seed_spec *s) { return (size_t)s->hidden * (((size_t)1 << s->count) - 1); }

static int pool_project_check(const ck_seed_spec *s)
{
    if (s->count < 1 || s->count > 8 || s->hidden < 1)
        return CK_ERR_ARG;
    return ((size_t)s->hidden << (s->count - 1)) <= s->d ? CK_OK : CK_ERR_SIZE;
}

static void pool_project_table(const ck_seed_spec *s, seed_table *t)
{
    seed_table_add(t, "w_out", 2, s->d, pooled_width(s), 1, CK_INIT_ZERO, 0.0f, pooled_width(s));
    seed_table_add(t, "b_out", 1, s->d, 1, 1, CK_INIT_ZERO, 0.0f, 0);
}

/* saved pooled[B, P]; scratch dpooled[B, P] */
static size_t pool_project_workspace(const ck_seed_spec *s, size_t B) { return 2 * B * pooled_width(s); }

/* The input range [lo, hi) pooled into column `col`: level l (0..count-1) holds hidden << l
 * columns, and its column j averages bin j of d split into that many overlapping bins. */
static void pooled_bin(const ck_seed_spec *s, size_t col, size_t *lo, size_t *hi)
{
    size_t n = s->hidden;
    while (col >= n) {
        col -= n;
        n <<= 1;
    }
    *lo = col * s->d / n;
    *hi = ((col + 1) * s->d + n - 1) / n;
}

static int pool_project_forward(const seed_ctx *c, float *y, const float *x)
{
    const size_t d = c->s->d, P = pooled_width(c->s), B = c->B;
    float *pooled = c->ws;
    for (size_t b = 0; b < B; b++)
        for (size_t col = 0; col < P; col++) {
            size_t lo, hi;
            pooled_bin(c->s, col, &lo, &hi);
            double s = 0.0;
            for (size_t i = lo; i < hi; i++)
                s += x[b * d + i];
            pooled[b * P + col] = (float)(s / (double)(hi - lo));
        }
    int st = seed_linear_fwd(c->s, y, d, pooled, P, seed_param(c, 0), seed_param(c, 1), B, P, d, 1.0f);
    for (size_t i = 0; st == CK_OK && i < B * d; i++)
        y[i] += x[i];
    return st;
}

static int pool_project_backward(const seed_ctx *c, float *dparams, float *dx, const float *dy, const float *x)
{
    (void)x;
    const size_t d = c->s->d, P = pooled_width(c->s), B = c->B;
    const float *pooled = c->ws;
    float *dpooled = c->ws + B * P;
    int st = seed_linear_bwd(c->s, dx ? dpooled : NULL, P, 0, seed_grad(c, dparams, 0), seed_grad(c, dparams, 1),
                             dy, d, pooled, P, seed_param(c, 0), B, P, d, 1.0f);
    if (st != CK_OK || !dx)
        return st;
    memcpy(dx, dy, B * d * sizeof(float));
    for (size_t b = 0; b < B; b++)
        for (size_t col = 0; col < P; col++) {
            size_t lo, hi;
            pooled_bin(c->s, col, &lo, &hi);
            const float g = dpooled[b * P + col] / (float)(hi - lo);
            for (size_t i = lo; i < hi; i++)
                dx[b * d + i] += g;
        }
    return CK_OK;
}

static double pool_project_flops(const ck_seed_spec *s, size_t B)
{
    return (double)B * ((double)s->d * s->count + 2.0 * s->d * pooled_width(s));
}

const seed_kind_ops seed_pool_project_ops = {
    .kind = CK_SEED_POOL_PROJECT, .uses = USES_HIDDEN | USES_COUNT, .variants = VARIANTS_MATMUL,
    .check = pool_project_check, .table = pool_project_table, .workspace = pool_project_workspace,
    .flops = pool_project_flops, .forward = pool_project_forward, .backward = pool_project_backward};
