/* test_widen.c — the widening seed against a straightforward triple-loop reference, and its
 * gradients against central differences. */
#include "test_util.h"

enum { B = 5, NI = 7, K = 3, NO = 4 };

static void reference(float *s, const float *x, const float *p)
{
    const float *U = p, *c = p + K * NI, *V = c + K;
    for (int b = 0; b < B; b++) {
        float u[K];
        for (int j = 0; j < K; j++) {
            double z = c[j];
            for (int i = 0; i < NI; i++)
                z += (double)x[b * NI + i] * U[j * NI + i];
            u[j] = z > 0 ? (float)z : 0.0f;
        }
        for (int o = 0; o < NO; o++) {
            double acc = 0;
            for (int j = 0; j < K; j++)
                acc += (double)u[j] * V[o * K + j];
            s[b * NO + o] = (float)acc;
        }
    }
}

struct ctx {
    float *x, *p, *w, *s, *u;
};

/* L = Σ w ⊙ s, so ∂L/∂s = w. */
static double loss(void *opaque)
{
    struct ctx *c = opaque;
    ck_widen_forward(c->s, c->u, c->x, c->p, B, NI, K, NO);
    return dot_d(c->s, c->w, B * NO);
}

static void widen_matches_reference(void)
{
    const size_t n = ck_widen_param_count(NI, K, NO);
    EXPECT(n == K * NI + K + NO * K, "param count %zu", n);
    float *x = talloc(B * NI), *p = talloc(n), *s = talloc(B * NO), *u = talloc(B * K), *want = talloc(B * NO);
    fill_uniform(x, B * NI, -1, 1, 1);
    fill_uniform(p, n, -1, 1, 2);
    EXPECT(ck_widen_forward(s, u, x, p, B, NI, K, NO) == CK_OK, "forward");
    reference(want, x, p);
    EXPECT_CLOSE("s", s, want, B * NO, 1e-5, 1e-5);
}

static void widen_zero_outgoing_adds_nothing(void)
{
    const size_t n = ck_widen_param_count(NI, K, NO);
    float *x = talloc(B * NI), *p = talloc(n), *s = talloc(B * NO), *u = talloc(B * K);
    fill_uniform(x, B * NI, -1, 1, 3);
    fill_uniform(p, n, -1, 1, 4);
    memset(p + K * NI + K, 0, NO * K * sizeof(float));
    ck_widen_forward(s, u, x, p, B, NI, K, NO);
    for (int i = 0; i < B * NO; i++)
        EXPECT(s[i] == 0.0f, "s[%d] = %g with V = 0", i, s[i]);
}

static void widen_gradients_match_finite_differences(void)
{
    const size_t n = ck_widen_param_count(NI, K, NO);
    struct ctx c = {talloc(B * NI), talloc(n), talloc(B * NO), talloc(B * NO), talloc(B * K)};
    float *dp = talloc(n), *dx = talloc(B * NI), *du = talloc(B * K);
    fill_uniform(c.x, B * NI, -1, 1, 5);
    fill_uniform(c.p, n, -1, 1, 6);
    fill_uniform(c.w, B * NO, -1, 1, 7);
    memset(dp, 0, n * sizeof(float));
    ck_widen_forward(c.s, c.u, c.x, c.p, B, NI, K, NO);
    EXPECT(ck_widen_backward(dp, dx, du, c.w, c.x, c.u, c.p, B, NI, K, NO) == CK_OK, "backward");
    FD_CHECK("dθ", c.p, dp, n, loss, &c, 1e-3f, 2e-3, 2e-2);
    FD_CHECK("dx", c.x, dx, B * NI, loss, &c, 1e-3f, 2e-3, 2e-2);
    /* Accumulates, and dx is optional (the detach). */
    float *dp2 = talloc(n);
    memcpy(dp2, dp, n * sizeof(float));
    ck_widen_forward(c.s, c.u, c.x, c.p, B, NI, K, NO);
    EXPECT(ck_widen_backward(dp2, NULL, du, c.w, c.x, c.u, c.p, B, NI, K, NO) == CK_OK, "backward without dx");
    for (size_t i = 0; i < n; i++)
        EXPECT(fabsf(dp2[i] - 2 * dp[i]) <= 1e-5f + 1e-5f * fabsf(dp[i]), "dθ[%zu] not accumulated", i);
}

static void widen_rejects_bad_arguments(void)
{
    float buf[64] = {0};
    EXPECT(ck_widen_forward(NULL, buf, buf, buf, 1, 1, 1, 1) == CK_ERR_NULL, "null s");
    EXPECT(ck_widen_forward(buf, buf, buf, buf, 1, 0, 1, 1) == CK_ERR_SIZE, "zero n_in");
    EXPECT(ck_widen_backward(buf, NULL, buf, buf, buf, buf, buf, 1, 1, 0, 1) == CK_ERR_SIZE, "zero k");
}

void suite_widen(void)
{
    RUN(widen_matches_reference);
    RUN(widen_zero_outgoing_adds_nothing);
    RUN(widen_gradients_match_finite_differences);
    RUN(widen_rejects_bad_arguments);
}
