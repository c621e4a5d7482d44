/* test_activation.c — ReLU, GELU (tanh approximation) and tanh against naive double formulas and
 * central differences. */
#include "test_util.h"

#define N_ACT 43

static double gelu_d(double x)
{
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

static double gelu_grad_d(double x)
{
    const double t = tanh(0.7978845608028654 * (x + 0.044715 * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);
}

/* Random values in [-5, 5] pushed at least 0.1 away from the ReLU kink, plus extremes at the end. */
static float *test_inputs(void)
{
    float *x = talloc(N_ACT);
    fill_uniform(x, N_ACT - 6, -5.0f, 5.0f, 11);
    for (size_t i = 0; i < N_ACT - 6; i++)
        if (fabsf(x[i]) < 0.1f)
            x[i] += x[i] < 0.0f ? -0.1f : 0.1f;
    const float extremes[6] = {30.0f, -30.0f, 1e20f, -1e20f, 1e-3f, -1e-3f};
    memcpy(x + N_ACT - 6, extremes, sizeof extremes);
    return x;
}

static void test_activation_forward_vs_naive(void)
{
    const float *x = test_inputs();
    float *y = talloc(N_ACT), *want = talloc(N_ACT);
    ck_relu_forward(y, x, N_ACT);
    for (size_t i = 0; i < N_ACT; i++)
        want[i] = x[i] > 0.0f ? x[i] : 0.0f;
    EXPECT_CLOSE("relu", y, want, N_ACT, 0.0, 0.0);
    ck_gelu_forward(y, x, N_ACT);
    for (size_t i = 0; i < N_ACT; i++)
        want[i] = (float)gelu_d(x[i]);
    EXPECT_CLOSE("gelu", y, want, N_ACT, 1e-6, 1e-6);
    ck_tanh_forward(y, x, N_ACT);
    for (size_t i = 0; i < N_ACT; i++)
        want[i] = (float)tanh(x[i]);
    EXPECT_CLOSE("tanh", y, want, N_ACT, 1e-6, 1e-6);
}

static void test_activation_backward_vs_naive(void)
{
    const float *x = test_inputs();
    float *dy = talloc(N_ACT), *y = talloc(N_ACT), *dx = talloc(N_ACT), *want = talloc(N_ACT);
    fill_uniform(dy, N_ACT, -1.0f, 1.0f, 12);
    ck_relu_backward(dx, dy, x, N_ACT);
    for (size_t i = 0; i < N_ACT; i++)
        want[i] = x[i] > 0.0f ? dy[i] : 0.0f;
    EXPECT_CLOSE("relu'", dx, want, N_ACT, 0.0, 0.0);
    ck_gelu_backward(dx, dy, x, N_ACT);
    for (size_t i = 0; i < N_ACT; i++)
        want[i] = (float)(dy[i] * gelu_grad_d(fabsf(x[i]) > 1e3f ? (x[i] > 0 ? 1e3 : -1e3) : x[i]));
    EXPECT_CLOSE("gelu'", dx, want, N_ACT, 1e-6, 1e-5);
    ck_tanh_forward(y, x, N_ACT);
    ck_tanh_backward(dx, dy, y, N_ACT);
    for (size_t i = 0; i < N_ACT; i++)
        want[i] = (float)(dy[i] * (1.0 - tanh(x[i]) * tanh(x[i])));
    EXPECT_CLOSE("tanh'", dx, want, N_ACT, 1e-6, 1e-5);
}

typedef struct {
    void (*fwd)(float *, const float *, size_t);
    float *x, *y, *r;
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    c->fwd(c->y, c->x, N_ACT - 6);
    return dot_d(c->r, c->y, N_ACT - 6);
}

/* FD over the random (non-extreme) inputs; loss = sum r * act(x), so dL/dx = backward(dy = r). */
static void fd_activation(const char *what, void (*fwd)(float *, const float *, size_t), int act)
{
    act_ctx c = {fwd, test_inputs(), talloc(N_ACT), talloc(N_ACT)};
    float *dx = talloc(N_ACT);
    const size_t n = N_ACT - 6;
    fill_uniform(c.r, n, -1.0f, 1.0f, 13);
    fwd(c.y, c.x, n);
    if (act == CK_ACT_RELU)
        ck_relu_backward(dx, c.r, c.x, n);
    else if (act == CK_ACT_GELU)
        ck_gelu_backward(dx, c.r, c.x, n);
    else
        ck_tanh_backward(dx, c.r, c.y, n);
    FD_CHECK(what, c.x, dx, n, act_loss, &c, 1.0f / 64, 1e-4, 1e-3);
}

static void test_relu_backward_fd(void) { fd_activation("relu fd", ck_relu_forward, CK_ACT_RELU); }
static void test_gelu_backward_fd(void) { fd_activation("gelu fd", ck_gelu_forward, CK_ACT_GELU); }
static void test_tanh_backward_fd(void) { fd_activation("tanh fd", ck_tanh_forward, CK_ACT_TANH); }

/* Saturated inputs: exact limits, no NaN. */
static void test_activation_extremes(void)
{
    const float x[4] = {1e20f, -1e20f, 40.0f, -40.0f};
    const float one[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    float y[4], dx[4];
    ck_gelu_forward(y, x, 4);
    EXPECT(y[0] == 1e20f && y[1] == 0.0f && y[2] == 40.0f && y[3] == 0.0f, "gelu limits %g %g %g %g",
           y[0], y[1], y[2], y[3]);
    ck_gelu_backward(dx, one, x, 4);
    EXPECT(dx[0] == 1.0f && dx[1] == 0.0f && dx[2] == 1.0f && dx[3] == 0.0f,
           "gelu' limits %g %g %g %g", dx[0], dx[1], dx[2], dx[3]);
    ck_tanh_forward(y, x, 4);
    ck_tanh_backward(dx, one, y, 4);
    EXPECT(y[0] == 1.0f && y[1] == -1.0f && dx[0] == 0.0f && dx[1] == 0.0f, "tanh limits");
}

void suite_activation(void)
{
    RUN(test_activation_forward_vs_naive);
    RUN(test_activation_backward_vs_naive);
    RUN(test_relu_backward_fd);
    RUN(test_gelu_backward_fd);
    RUN(test_tanh_backward_fd);
    RUN(test_activation_extremes);
}
