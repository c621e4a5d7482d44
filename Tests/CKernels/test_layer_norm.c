/* test_layer_norm.c — layer norm forward/backward against naive double formulas and central
 * differences; constant rows; argument checks. */
#include "test_util.h"

#define EPS 1e-5f

static void naive_forward(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                          const float *beta, size_t B, size_t N)
{
    for (size_t b = 0; b < B; b++) {
        double mu = 0.0, var = 0.0;
        for (size_t j = 0; j < N; j++)
            mu += x[b * N + j];
        mu /= (double)N;
        for (size_t j = 0; j < N; j++)
            var += (x[b * N + j] - mu) * (x[b * N + j] - mu);
        var /= (double)N;
        const double rs = 1.0 / sqrt(var + EPS);
        for (size_t j = 0; j < N; j++)
            y[b * N + j] = (float)((x[b * N + j] - mu) * rs * gamma[j] + beta[j]);
        mean[b] = (float)mu;
        rstd[b] = (float)rs;
    }
}

static void check_forward(size_t B, size_t N)
{
    float *x = talloc(B * N), *g = talloc(N), *be = talloc(N), *y = talloc(B * N);
    float *wy = talloc(B * N), *mean = talloc(B), *rstd = talloc(B), *wm = talloc(B), *wr = talloc(B);
    fill_uniform(x, B * N, -2.0f, 3.0f, 41);
    fill_uniform(g, N, 0.5f, 1.5f, 42);
    fill_uniform(be, N, -0.5f, 0.5f, 43);
    naive_forward(wy, wm, wr, x, g, be, B, N);
    EXPECT(ck_layernorm_forward(y, mean, rstd, x, g, be, EPS, B, N) == CK_OK, "status");
    EXPECT_CLOSE("y", y, wy, B * N, 1e-5, 1e-5);
    EXPECT_CLOSE("mean", mean, wm, B, 1e-6, 1e-6);
    EXPECT_CLOSE("rstd", rstd, wr, B, 1e-6, 1e-5);
}

static void test_layernorm_forward_vs_naive(void)
{
    check_forward(7, 13);
    check_forward(1, 64);
    check_forward(3, 1); /* N = 1: x - mean = 0, y = beta */
}

static void test_layernorm_constant_rows(void)
{
    const size_t B = 2, N = 5;
    float x[10], y[10], g[5], be[5], mean[2], rstd[2], dy[10], dx[10], dg[5] = {0}, db[5] = {0};
    for (size_t i = 0; i < B * N; i++)
        x[i] = i < N ? 3.25f : -1e4f;
    fill_uniform(g, N, 0.5f, 1.5f, 44);
    fill_uniform(be, N, -0.5f, 0.5f, 45);
    fill_uniform(dy, B * N, -1.0f, 1.0f, 46);
    EXPECT(ck_layernorm_forward(y, mean, rstd, x, g, be, EPS, B, N) == CK_OK, "status");
    for (size_t i = 0; i < B * N; i++)
        EXPECT(y[i] == be[i % N], "y[%zu] = %g, want beta %g", i, (double)y[i], (double)be[i % N]);
    EXPECT(mean[0] == 3.25f && mean[1] == -1e4f, "mean");
    EXPECT(rstd[0] == 1.0f / sqrtf(EPS) && rstd[1] == rstd[0], "rstd %g", (double)rstd[0]);
    EXPECT(ck_layernorm_backward(dx, dg, db, dy, x, mean, rstd, g, B, N) == CK_OK, "status");
    for (size_t i = 0; i < B * N; i++)
        EXPECT(isfinite(dx[i]), "dx[%zu] not finite", i);
}

static void test_layernorm_backward_vs_naive(void)
{
    const size_t B = 7, N = 13;
    float *x = talloc(B * N), *g = talloc(N), *be = talloc(N), *y = talloc(B * N), *dy = talloc(B * N);
    float *mean = talloc(B), *rstd = talloc(B), *dx = talloc(B * N), *dg = talloc(N), *db = talloc(N);
    float *wdx = talloc(B * N), *wdg = talloc(N), *wdb = talloc(N);
    fill_uniform(x, B * N, -2.0f, 3.0f, 47);
    fill_uniform(g, N, 0.5f, 1.5f, 48);
    fill_uniform(be, N, -0.5f, 0.5f, 49);
    fill_uniform(dy, B * N, -1.0f, 1.0f, 50);
    fill_uniform(dg, N, -1.0f, 1.0f, 51); /* accumulated into */
    fill_uniform(db, N, -1.0f, 1.0f, 52);
    memcpy(wdg, dg, N * sizeof(float));
    memcpy(wdb, db, N * sizeof(float));
    ck_layernorm_forward(y, mean, rstd, x, g, be, EPS, B, N);
    for (size_t b = 0; b < B; b++) { /* dx_j = rstd/N * (N g_j - sum g - xhat_j sum g xhat) */
        double sg = 0.0, sgx = 0.0;
        for (size_t j = 0; j < N; j++) {
            const double xhat = (x[b * N + j] - (double)mean[b]) * rstd[b];
            sg += (double)dy[b * N + j] * g[j];
            sgx += (double)dy[b * N + j] * g[j] * xhat;
            wdg[j] = (float)(wdg[j] + dy[b * N + j] * xhat);
            wdb[j] = (float)(wdb[j] + (double)dy[b * N + j]);
        }
        for (size_t j = 0; j < N; j++) {
            const double xhat = (x[b * N + j] - (double)mean[b]) * rstd[b];
            wdx[b * N + j] = (float)(rstd[b] / (double)N *
                                     (N * (double)dy[b * N + j] * g[j] - sg - xhat * sgx));
        }
    }
    EXPECT(ck_layernorm_backward(dx, dg, db, dy, x, mean, rstd, g, B, N) == CK_OK, "status");
    EXPECT_CLOSE("dx", dx, wdx, B * N, 1e-5, 1e-4);
    EXPECT_CLOSE("dgamma", dg, wdg, N, 1e-5, 1e-5);
    EXPECT_CLOSE("dbeta", db, wdb, N, 1e-5, 1e-5);
}

typedef struct {
    float *x, *g, *be, *y, *mean, *rstd, *r;
    size_t B, N;
} ln_ctx;

static double ln_loss(void *p)
{
    ln_ctx *c = p;
    ck_layernorm_forward(c->y, c->mean, c->rstd, c->x, c->g, c->be, EPS, c->B, c->N);
    return dot_d(c->r, c->y, c->B * c->N);
}

static void check_backward_fd(size_t B, size_t N)
{
    ln_ctx c = {talloc(B * N), talloc(N), talloc(N), talloc(B * N), talloc(B), talloc(B),
                talloc(B * N), B, N};
    float *dx = talloc(B * N), *dg = talloc(N), *db = talloc(N);
    fill_uniform(c.x, B * N, -2.0f, 3.0f, 53);
    fill_uniform(c.g, N, 0.5f, 1.5f, 54);
    fill_uniform(c.be, N, -0.5f, 0.5f, 55);
    fill_uniform(c.r, B * N, -1.0f, 1.0f, 56);
    ck_init_zeros(dg, N);
    ck_init_zeros(db, N);
    ln_loss(&c);
    EXPECT(ck_layernorm_backward(dx, dg, db, c.r, c.x, c.mean, c.rstd, c.g, B, N) == CK_OK, "status");
    FD_CHECK("dx", c.x, dx, B * N, ln_loss, &c, 1.0f / 128, 2e-4, 2e-3);
    FD_CHECK("dgamma", c.g, dg, N, ln_loss, &c, 1.0f / 128, 2e-4, 2e-3);
    FD_CHECK("dbeta", c.be, db, N, ln_loss, &c, 1.0f / 128, 2e-4, 2e-3);
}

static void test_layernorm_backward_fd(void)
{
    check_backward_fd(3, 7);
    check_backward_fd(1, 5);
}

static void test_layernorm_invalid(void)
{
    float x[4] = {1, 2, 3, 4}, y[4] = {0}, g[4] = {1, 1, 1, 1}, be[4] = {0}, m[1], r[1];
    EXPECT(ck_layernorm_forward(y, m, r, x, g, be, 0.0f, 1, 4) == CK_ERR_ARG, "eps = 0");
    EXPECT(ck_layernorm_forward(y, m, r, x, g, be, NAN, 1, 4) == CK_ERR_ARG, "eps = NaN");
    EXPECT(ck_layernorm_forward(y, m, r, x, g, be, EPS, 1, 0) == CK_ERR_SIZE, "N = 0");
    EXPECT(ck_layernorm_forward(y, m, r, x, NULL, be, EPS, 1, 4) == CK_ERR_NULL, "gamma NULL");
    EXPECT(y[0] == 0.0f, "written on error");
}

void suite_layer_norm(void)
{
    RUN(test_layernorm_forward_vs_naive);
    RUN(test_layernorm_constant_rows);
    RUN(test_layernorm_backward_vs_naive);
    RUN(test_layernorm_backward_fd);
    RUN(test_layernorm_invalid);
}
