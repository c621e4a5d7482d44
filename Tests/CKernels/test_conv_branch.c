/* test_conv_branch.c — the conv-branch seed against a naive double-precision reference (convs,
 * ReLU, flatten, linear), its gradients against central differences, V = 0 adds nothing, shapes
 * that leave nothing are refused. */
#include "test_util.h"

/* The paper's CNN shape, smaller: 3 layers k 5,3,3, stride 2, padding 1 over 19 positions. */
static ck_conv_branch_shape small_shape(size_t batch, size_t layers)
{
    ck_conv_branch_shape s = {batch, 19, 2, 3, layers, 2, 1, 4, {5, 3, 3}};
    return s;
}

/* Double-precision reference: conv (zero padding), ReLU, …, flatten (channels-last), V. */
static void reference(float *out, const float *x, const float *p, const ck_conv_branch_shape *s)
{
    double a[64 * 8], b[64 * 8];
    for (size_t n = 0; n < s->batch; n++) {
        size_t length = s->length, cin = s->in_channels;
        for (size_t i = 0; i < length * cin; i++)
            a[i] = x[n * length * cin + i];
        const float *q = p;
        for (size_t l = 0; l < s->layers; l++) {
            const size_t k = s->kernels[l];
            const size_t out = (length + 2 * s->padding - k) / s->stride + 1;
            const float *W = q, *bias = q + s->channels * k * cin;
            for (size_t t = 0; t < out; t++)
                for (size_t o = 0; o < s->channels; o++) {
                    double acc = bias[o];
                    for (size_t j = 0; j < k; j++) {
                        const long pos = (long)(t * s->stride + j) - (long)s->padding;
                        if (pos < 0 || pos >= (long)length)
                            continue;
                        for (size_t c = 0; c < cin; c++)
                            acc += (double)W[(o * k + j) * cin + c] * a[(size_t)pos * cin + c];
                    }
                    b[t * s->channels + o] = acc > 0 ? acc : 0;
                }
            q = bias + s->channels;
            length = out;
            cin = s->channels;
            for (size_t i = 0; i < length * cin; i++)
                a[i] = b[i];
        }
        const size_t flat = length * cin;
        for (size_t o = 0; o < s->outputs; o++) {
            double acc = 0;
            for (size_t i = 0; i < flat; i++)
                acc += (double)q[o * flat + i] * a[i];
            out[n * s->outputs + o] = (float)acc;
        }
    }
}

static void conv_branch_counts(void)
{
    ck_conv_branch_shape s = small_shape(2, 3);
    /* 19 → 9 → 5 → 3 positions; 3·5·2+3 + 3·3·3+3 + 3·3·3+3 + 4·(3·3) */
    EXPECT(ck_conv_branch_flat_width(&s) == 9, "flat %zu", ck_conv_branch_flat_width(&s));
    EXPECT(ck_conv_branch_param_count(&s) == 33 + 30 + 30 + 36, "params %zu", ck_conv_branch_param_count(&s));
    /* The paper's CNN on MNIST-1D as a branch to 10 logits: 40 → 19 → 10 → 5, 25 channels. */
    ck_conv_branch_shape paper = {1, 40, 1, 25, 3, 2, 1, 10, {5, 3, 3}};
    EXPECT(ck_conv_branch_param_count(&paper) == 150 + 1900 + 1900 + 1250, "paper %zu", ck_conv_branch_param_count(&paper));
    /* Too short for the kernel: the first layer has nothing left to read. */
    ck_conv_branch_shape shortish = {1, 2, 1, 2, 3, 2, 1, 3, {5, 3, 3}};
    EXPECT(ck_conv_branch_param_count(&shortish) == 0, "short signal accepted");
    EXPECT(ck_conv_branch_work_count(&shortish) == 0, "short signal work");
    ck_conv_branch_shape none = small_shape(1, 0);
    EXPECT(ck_conv_branch_param_count(&none) == 0, "zero layers accepted");
    ck_conv_branch_shape four = small_shape(1, CK_CONV_BRANCH_MAX_LAYERS + 1);
    EXPECT(ck_conv_branch_param_count(&four) == 0, "too many layers accepted");
}

static void conv_branch_matches_reference(void)
{
    for (size_t layers = 1; layers <= 3; layers++) {
        ck_conv_branch_shape s = small_shape(3, layers);
        const size_t n = ck_conv_branch_param_count(&s), nx = s.batch * s.length * s.in_channels;
        float *x = talloc(nx), *p = talloc(n), *out = talloc(s.batch * s.outputs), *want = talloc(s.batch * s.outputs);
        float *work = talloc(ck_conv_branch_work_count(&s));
        fill_uniform(x, nx, -1, 1, 40 + layers);
        fill_uniform(p, n, -0.5f, 0.5f, 50 + layers);
        EXPECT(ck_conv_branch_forward(out, work, x, p, &s) == CK_OK, "forward %zu layers", layers);
        reference(want, x, p, &s);
        EXPECT_CLOSE("out", out, want, s.batch * s.outputs, 1e-5, 1e-5);
    }
}

static void conv_branch_zero_map_adds_nothing(void)
{
    ck_conv_branch_shape s = small_shape(2, 3);
    const size_t n = ck_conv_branch_param_count(&s), nx = s.batch * s.length * s.in_channels;
    float *x = talloc(nx), *p = talloc(n), *out = talloc(s.batch * s.outputs), *work = talloc(ck_conv_branch_work_count(&s));
    fill_uniform(x, nx, -1, 1, 60);
    fill_uniform(p, n, -1, 1, 61);
    memset(p + n - s.outputs * 9, 0, s.outputs * 9 * sizeof(float));
    EXPECT(ck_conv_branch_forward(out, work, x, p, &s) == CK_OK, "forward");
    for (size_t i = 0; i < s.batch * s.outputs; i++)
        EXPECT(out[i] == 0.0f && !signbit(out[i]), "out[%zu] = %g with V = 0", i, out[i]);
}

struct ctx {
    ck_conv_branch_shape s;
    float *x, *p, *w, *out, *work;
};

/* L = Σ w ⊙ out, so ∂L/∂out = w. */
static double loss(void *opaque)
{
    struct ctx *c = opaque;
    ck_conv_branch_forward(c->out, c->work, c->x, c->p, &c->s);
    return dot_d(c->out, c->w, c->s.batch * c->s.outputs);
}

static void conv_branch_gradients_match_finite_differences(void)
{
    for (size_t layers = 1; layers <= 3; layers += 2) {
        struct ctx c;
        c.s = small_shape(2, layers);
        const size_t n = ck_conv_branch_param_count(&c.s), nx = c.s.batch * c.s.length * c.s.in_channels;
        const size_t no = c.s.batch * c.s.outputs;
        c.x = talloc(nx);
        c.p = talloc(n);
        c.w = talloc(no);
        c.out = talloc(no);
        c.work = talloc(ck_conv_branch_work_count(&c.s));
        float *dp = talloc(n), *dx = talloc(nx);
        fill_uniform(c.x, nx, -1, 1, 70 + layers);
        fill_uniform(c.p, n, -0.5f, 0.5f, 80 + layers);
        fill_uniform(c.w, no, -1, 1, 90 + layers);
        memset(dp, 0, n * sizeof(float));
        ck_conv_branch_forward(c.out, c.work, c.x, c.p, &c.s);
        EXPECT(ck_conv_branch_backward(dp, dx, c.work, c.w, c.x, c.p, &c.s) == CK_OK, "backward");
        FD_CHECK("dθ", c.p, dp, n, loss, &c, 1e-3f, 3e-3, 3e-2);
        ck_conv_branch_forward(c.out, c.work, c.x, c.p, &c.s);
        EXPECT(ck_conv_branch_backward(dp, dx, c.work, c.w, c.x, c.p, &c.s) == CK_OK, "backward");
        FD_CHECK("dx", c.x, dx, nx, loss, &c, 1e-3f, 3e-3, 3e-2);
        /* Accumulates, and dx is optional (the detach). */
        float *dp2 = talloc(n);
        memset(dp, 0, n * sizeof(float));
        ck_conv_branch_forward(c.out, c.work, c.x, c.p, &c.s);
        ck_conv_branch_backward(dp, NULL, c.work, c.w, c.x, c.p, &c.s);
        memcpy(dp2, dp, n * sizeof(float));
        EXPECT(ck_conv_branch_backward(dp2, NULL, c.work, c.w, c.x, c.p, &c.s) == CK_OK, "backward without dx");
        for (size_t i = 0; i < n; i++)
            EXPECT(fabsf(dp2[i] - 2 * dp[i]) <= 1e-5f + 1e-5f * fabsf(dp[i]), "dθ[%zu] not accumulated", i);
    }
}

static void conv_branch_rejects_bad_arguments(void)
{
    float buf[4096] = {0};
    ck_conv_branch_shape s = small_shape(1, 1);
    EXPECT(ck_conv_branch_forward(NULL, buf, buf, buf, &s) == CK_ERR_NULL, "null out");
    EXPECT(ck_conv_branch_forward(buf, buf, buf, buf, NULL) == CK_ERR_NULL, "null shape");
    EXPECT(ck_conv_branch_backward(buf, NULL, buf, buf, buf, buf, NULL) == CK_ERR_NULL, "null shape");
    ck_conv_branch_shape empty = small_shape(0, 1);
    EXPECT(ck_conv_branch_forward(buf, buf, buf, buf, &empty) == CK_ERR_SIZE, "zero batch");
    ck_conv_branch_shape wide_pad = small_shape(1, 1);
    wide_pad.padding = 5;
    EXPECT(ck_conv_branch_forward(buf, buf, buf, buf, &wide_pad) == CK_ERR_SIZE, "padding as wide as the kernel");
    ck_conv_branch_shape no_stride = small_shape(1, 1);
    no_stride.stride = 0;
    EXPECT(ck_conv_branch_backward(buf, NULL, buf, buf, buf, buf, &no_stride) == CK_ERR_SIZE, "zero stride");
}

void suite_conv_branch(void)
{
    RUN(conv_branch_counts);
    RUN(conv_branch_matches_reference);
    RUN(conv_branch_zero_map_adds_nothing);
    RUN(conv_branch_gradients_match_finite_differences);
    RUN(conv_branch_rejects_bad_arguments);
}
