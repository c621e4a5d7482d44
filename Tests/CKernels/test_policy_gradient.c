/* test_policy_gradient.c — Simic's PPO kernels against straightforward double references:
 * masked log-softmax and entropy, the clipped surrogate, and the logits gradient checked by
 * central differences of the objective it differentiates. */
#include "test_util.h"

enum { PB = 5, PC = 6 };
static const uint32_t masks[PB] = {0x3F, 0x13, 0x01, 0x22, 0x2D};

/* Direct formulas over the allowed entries only. */
static void naive_masked(double *logp, double *probs, double *entropy, const float *z,
                         const uint32_t *mask, size_t B, size_t C)
{
    for (size_t b = 0; b < B; b++) {
        double s = 0.0;
        for (size_t j = 0; j < C; j++)
            if ((mask[b] >> j) & 1u)
                s += exp((double)z[b * C + j]);
        entropy[b] = 0.0;
        for (size_t j = 0; j < C; j++) {
            const int on = (mask[b] >> j) & 1u;
            probs[b * C + j] = on ? exp((double)z[b * C + j]) / s : 0.0;
            logp[b * C + j] = on ? log(probs[b * C + j]) : 0.0;
            if (on)
                entropy[b] -= probs[b * C + j] * logp[b * C + j];
        }
    }
}

static void test_masked_log_softmax_vs_naive(void)
{
    float z[PB * PC], lp[PB * PC], p[PB * PC], h[PB];
    double wlp[PB * PC], wp[PB * PC], wh[PB];
    fill_uniform(z, PB * PC, -4.0f, 4.0f, 11);
    EXPECT(ck_masked_log_softmax(lp, p, h, z, masks, PB, PC) == CK_OK, "status");
    naive_masked(wlp, wp, wh, z, masks, PB, PC);
    for (size_t i = 0; i < PB * PC; i++) {
        EXPECT(fabs(lp[i] - wlp[i]) < 1e-5, "logp[%zu] %g want %g", i, (double)lp[i], wlp[i]);
        EXPECT(fabs(p[i] - wp[i]) < 1e-6, "probs[%zu] %g want %g", i, (double)p[i], wp[i]);
    }
    for (size_t b = 0; b < PB; b++)
        EXPECT(fabs(h[b] - wh[b]) < 1e-5, "entropy[%zu] %g want %g", b, (double)h[b], wh[b]);
    EXPECT(h[2] == 0.0f && p[2 * PC] == 1.0f, "a single allowed action: p = 1, H = 0");
    /* shift invariance with large logits */
    float big[PC], lpb[PC], pb[PC], hb;
    for (int j = 0; j < PC; j++)
        big[j] = z[j] + 1000.0f;
    EXPECT(ck_masked_log_softmax(lpb, pb, &hb, big, masks, 1, PC) == CK_OK, "status");
    EXPECT_CLOSE("shifted probs", pb, p, PC, 1e-4, 1e-4);
}

static void test_ppo_surrogate_vs_naive(void)
{
    const float old_lp[4] = {-1.0f, -0.5f, -2.0f, -0.1f};
    const float new_lp[4] = {-0.5f, -0.5f, -2.5f, -0.12f};
    const float adv[4] = {1.0f, -2.0f, -1.0f, 0.5f};
    float loss = 0.0f, coef[4];
    size_t clipped = 99;
    EXPECT(ck_ppo_surrogate(&loss, coef, &clipped, new_lp, old_lp, adv, 0.2f, 4) == CK_OK, "status");
    double want = 0.0, want_coef[4];
    size_t want_clipped = 0;
    for (int b = 0; b < 4; b++) {
        const double r = exp((double)new_lp[b] - old_lp[b]);
        const double rc = r < 0.8 ? 0.8 : (r > 1.2 ? 1.2 : r);
        const double s1 = r * adv[b], s2 = rc * adv[b];
        want += s1 < s2 ? s1 : s2;
        want_coef[b] = s1 <= s2 ? -r * adv[b] / 4.0 : 0.0;
        if (s1 > s2)
            want_clipped++;
    }
    want = -want / 4.0;
    EXPECT(fabs(loss - want) < 1e-6, "loss %g want %g", (double)loss, want);
    for (int b = 0; b < 4; b++)
        EXPECT(fabs(coef[b] - want_coef[b]) < 1e-6, "coef[%d] %g want %g", b, (double)coef[b],
               want_coef[b]);
    /* row 0: r = e^0.5 > 1.2 with A > 0 → clipped; row 2: r = e^-0.5 < 0.8 with A < 0 → clipped */
    EXPECT(clipped == 2 && want_clipped == 2, "clipped %zu", clipped);
    EXPECT(ck_ppo_surrogate(&loss, coef, NULL, new_lp, old_lp, adv, -0.1f, 4) == CK_ERR_ARG,
           "negative epsilon");
}

struct pg_ctx {
    float *z;
    const int32_t *actions;
    const float *coef;
    float ent_w;
};

/* The objective the backward differentiates, in double: sum coef log p[a] + ent_w sum H. */
static double pg_objective(void *vctx)
{
    struct pg_ctx *c = vctx;
    double lp[PB * PC], p[PB * PC], h[PB], total = 0.0;
    naive_masked(lp, p, h, c->z, masks, PB, PC);
    for (size_t b = 0; b < PB; b++)
        total += c->coef[b] * lp[b * PC + c->actions[b]] + c->ent_w * h[b];
    return total;
}

static void test_policy_logits_backward_fd(void)
{
    float z[PB * PC], lp[PB * PC], p[PB * PC], h[PB], d[PB * PC];
    const int32_t actions[PB] = {3, 4, 0, 5, 2};
    const float coef[PB] = {0.7f, -1.3f, 0.4f, 0.25f, -0.6f};
    fill_uniform(z, PB * PC, -2.0f, 2.0f, 5);
    EXPECT(ck_masked_log_softmax(lp, p, h, z, masks, PB, PC) == CK_OK, "forward");
    EXPECT(ck_policy_logits_backward(d, p, lp, h, actions, coef, 0.3f, masks, PB, PC) == CK_OK,
           "backward");
    struct pg_ctx ctx = {z, actions, coef, 0.3f};
    FD_CHECK("dlogits", z, d, PB * PC, pg_objective, &ctx, 1e-3f, 1e-4, 1e-3);
    for (size_t b = 0; b < PB; b++)
        for (size_t j = 0; j < PC; j++)
            if (!((masks[b] >> j) & 1u))
                EXPECT(d[b * PC + j] == 0.0f, "masked entry [%zu,%zu] has gradient", b, j);
}

static void test_policy_gradient_invalid(void)
{
    float z[PC] = {0}, lp[PC], p[PC], h[1], d[PC];
    const uint32_t none = 0x40, one = 0x02;
    const int32_t bad = 0, ok = 1;
    const float coef = 1.0f;
    EXPECT(ck_masked_log_softmax(lp, p, h, z, &none, 1, PC) == CK_ERR_ARG, "nothing allowed");
    EXPECT(ck_masked_log_softmax(lp, p, h, z, &one, 1, 33) == CK_ERR_SIZE, "C > 32");
    EXPECT(ck_masked_log_softmax(lp, p, h, z, &one, 1, PC) == CK_OK, "ok");
    EXPECT(ck_policy_logits_backward(d, p, lp, h, &bad, &coef, 0.0f, &one, 1, PC) == CK_ERR_LABEL,
           "disallowed action");
    EXPECT(ck_policy_logits_backward(d, p, lp, h, &ok, &coef, 0.0f, &one, 1, PC) == CK_OK, "ok");
    EXPECT(ck_policy_logits_backward(NULL, p, lp, h, &ok, &coef, 0.0f, &one, 1, PC) == CK_ERR_NULL,
           "NULL");
}

void suite_policy_gradient(void)
{
    RUN(test_masked_log_softmax_vs_naive);
    RUN(test_ppo_surrogate_vs_naive);
    RUN(test_policy_logits_backward_fd);
    RUN(test_policy_gradient_invalid);
}
