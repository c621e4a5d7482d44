/* test_softmax_ce.c — fused softmax cross-entropy against the textbook formulas, stability with
 * large logits, central differences, argmax/accuracy helpers. */
#include "test_util.h"

/* p = exp(x) / sum exp(x) directly (fine for moderate logits); loss = -mean log p[label]. */
static double naive_softmax_ce(float *probs, const float *logits, const int32_t *labels, size_t B,
                               size_t C)
{
    double total = 0.0;
    for (size_t b = 0; b < B; b++) {
        double s = 0.0;
        for (size_t j = 0; j < C; j++)
            s += exp((double)logits[b * C + j]);
        for (size_t j = 0; j < C; j++)
            probs[b * C + j] = (float)(exp((double)logits[b * C + j]) / s);
        total -= log(exp((double)logits[b * C + labels[b]]) / s);
    }
    return total / (double)B;
}

static void check_forward(size_t B, size_t C)
{
    float *logits = talloc(B * C), *probs = talloc(B * C), *want = talloc(B * C);
    int32_t *labels = talloc_bytes(B * sizeof(int32_t));
    fill_uniform(logits, B * C, -5.0f, 5.0f, 31);
    for (size_t b = 0; b < B; b++)
        labels[b] = (int32_t)((b * 5 + 3) % C);
    float loss = -1.0f;
    const double want_loss = naive_softmax_ce(want, logits, labels, B, C);
    EXPECT(ck_softmax_ce_forward(&loss, probs, logits, labels, B, C) == CK_OK, "status");
    EXPECT(fabs(loss - want_loss) <= 1e-5 * (1.0 + fabs(want_loss)), "loss %.9g want %.9g",
           (double)loss, want_loss);
    EXPECT_CLOSE("probs", probs, want, B * C, 1e-7, 1e-5);
    for (size_t b = 0; b < B; b++) {
        double s = 0.0;
        for (size_t j = 0; j < C; j++)
            s += probs[b * C + j];
        EXPECT(fabs(s - 1.0) < 1e-5, "row %zu sums to %.9g", b, s);
    }
}

static void test_softmax_ce_forward_vs_naive(void)
{
    check_forward(7, 13);
    check_forward(1, 10); /* B = 1 */
    check_forward(5, 1);  /* C = 1: p = 1, loss = 0 */
}

static void test_softmax_ce_large_logits(void)
{
    /* softmax is shift invariant: row + 1000 must equal row, with no overflow */
    const float base[4] = {0.5f, -1.0f, 2.0f, 0.0f};
    float shifted[4], p0[4], p1[4], l0, l1;
    const int32_t label = 2;
    for (int j = 0; j < 4; j++)
        shifted[j] = base[j] + 1000.0f;
    EXPECT(ck_softmax_ce_forward(&l0, p0, base, &label, 1, 4) == CK_OK, "status");
    EXPECT(ck_softmax_ce_forward(&l1, p1, shifted, &label, 1, 4) == CK_OK, "status");
    EXPECT(isfinite(l1) && fabsf(l1 - l0) < 1e-4f, "shifted loss %g vs %g", (double)l1, (double)l0);
    EXPECT_CLOSE("shifted probs", p1, p0, 4, 1e-4, 1e-4);

    /* extreme spread: probabilities saturate to one-hot, loss stays finite and exact */
    const float big[3] = {1e30f, -1e30f, 0.0f};
    float p[3], loss;
    const int32_t l_top = 0, l_mid = 2;
    EXPECT(ck_softmax_ce_forward(&loss, p, big, &l_top, 1, 3) == CK_OK, "status");
    EXPECT(loss == 0.0f && p[0] == 1.0f && p[1] == 0.0f && p[2] == 0.0f, "one-hot: loss %g",
           (double)loss);
    EXPECT(ck_softmax_ce_forward(&loss, p, big, &l_mid, 1, 3) == CK_OK, "status");
    EXPECT(loss == 1e30f, "loss of the 0 logit is 1e30, got %g", (double)loss);

    /* equal logits: uniform distribution, loss = log C */
    const float flat[5] = {88.0f, 88.0f, 88.0f, 88.0f, 88.0f};
    float p5[5];
    EXPECT(ck_softmax_ce_forward(&loss, p5, flat, &label, 1, 5) == CK_OK, "status");
    EXPECT(fabsf(loss - logf(5.0f)) < 1e-6f && p5[4] == 0.2f, "flat loss %g", (double)loss);
}

static void test_softmax_ce_backward_vs_naive(void)
{
    const size_t B = 7, C = 13;
    float *logits = talloc(B * C), *probs = talloc(B * C), *d = talloc(B * C), *want = talloc(B * C);
    int32_t labels[7] = {0, 12, 3, 3, 7, 1, 11};
    float loss;
    fill_uniform(logits, B * C, -5.0f, 5.0f, 32);
    ck_softmax_ce_forward(&loss, probs, logits, labels, B, C);
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < C; j++)
            want[b * C + j] = (float)((probs[b * C + j] - ((int32_t)j == labels[b])) / (double)B);
    EXPECT(ck_softmax_ce_backward(d, probs, labels, B, C) == CK_OK, "status");
    EXPECT_CLOSE("dlogits", d, want, B * C, 1e-7, 1e-6);
}

typedef struct {
    float *logits, *probs;
    const int32_t *labels;
    size_t B, C;
} ce_ctx;

static double ce_loss(void *p)
{
    ce_ctx *c = p;
    float loss;
    ck_softmax_ce_forward(&loss, c->probs, c->logits, c->labels, c->B, c->C);
    return loss;
}

static void check_backward_fd(size_t B, size_t C)
{
    int32_t labels[4] = {2, 0, 4, 4};
    ce_ctx c = {talloc(B * C), talloc(B * C), labels, B, C};
    float *d = talloc(B * C);
    fill_uniform(c.logits, B * C, -3.0f, 3.0f, 33);
    ce_loss(&c);
    EXPECT(ck_softmax_ce_backward(d, c.probs, labels, B, C) == CK_OK, "status");
    /* the loss is returned as float, so round-off ~6e-8 / (2h) bounds the atol */
    FD_CHECK("dlogits", c.logits, d, B * C, ce_loss, &c, 1.0f / 32, 2e-5, 2e-3);
}

static void test_softmax_ce_backward_fd(void)
{
    check_backward_fd(4, 5);
    check_backward_fd(1, 5);
}

static void test_softmax_ce_invalid(void)
{
    float logits[6] = {0}, probs[6] = {0}, loss = 42.0f;
    int32_t bad_hi[2] = {0, 3}, bad_lo[2] = {-1, 0}, ok[2] = {0, 2};
    EXPECT(ck_softmax_ce_forward(&loss, probs, logits, bad_hi, 2, 3) == CK_ERR_LABEL, "label = C");
    EXPECT(ck_softmax_ce_forward(&loss, probs, logits, bad_lo, 2, 3) == CK_ERR_LABEL, "label < 0");
    EXPECT(ck_softmax_ce_backward(probs, logits, bad_hi, 2, 3) == CK_ERR_LABEL, "backward label");
    EXPECT(ck_softmax_ce_forward(&loss, probs, logits, ok, 0, 3) == CK_ERR_SIZE, "B = 0");
    EXPECT(ck_softmax_ce_forward(&loss, probs, logits, ok, 2, 0) == CK_ERR_SIZE, "C = 0");
    EXPECT(ck_softmax_ce_forward(NULL, probs, logits, ok, 2, 3) == CK_ERR_NULL, "loss NULL");
    EXPECT(loss == 42.0f && probs[0] == 0.0f, "written on error");
}

static void test_argmax_and_accuracy(void)
{
    const float x[12] = {0.1f, 0.9f, 0.3f, /* 1 */
                         5.0f, 5.0f, 1.0f, /* tie -> first: 0 */
                         -3.0f, -2.0f, -1.0f, /* 2 */
                         7.0f, -7.0f, 6.9f /* 0 */};
    int32_t idx[4];
    const int32_t labels[4] = {1, 1, 2, 2};
    ck_argmax_rows(idx, x, 4, 3);
    EXPECT(idx[0] == 1 && idx[1] == 0 && idx[2] == 2 && idx[3] == 0, "argmax %d %d %d %d",
           idx[0], idx[1], idx[2], idx[3]);
    EXPECT(ck_count_correct(x, labels, 4, 3) == 2, "count %zu", ck_count_correct(x, labels, 4, 3));
    EXPECT(ck_count_correct(x, labels, 1, 3) == 1, "B = 1");
}

void suite_softmax_ce(void)
{
    RUN(test_softmax_ce_forward_vs_naive);
    RUN(test_softmax_ce_large_logits);
    RUN(test_softmax_ce_backward_vs_naive);
    RUN(test_softmax_ce_backward_fd);
    RUN(test_softmax_ce_invalid);
    RUN(test_argmax_and_accuracy);
}
