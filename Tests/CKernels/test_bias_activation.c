/* test_bias_activation.c — fused bias + activation against the unfused naive composition and
 * central differences, for every activation. */
#include "test_util.h"

static const ck_activation ACTS[4] = {CK_ACT_IDENTITY, CK_ACT_RELU, CK_ACT_GELU, CK_ACT_TANH};
static const char *const ACT_NAMES[4] = {"identity", "relu", "gelu", "tanh"};

static double act_d(ck_activation act, double x)
{
    switch (act) {
    case CK_ACT_RELU: return x > 0.0 ? x : 0.0;
    case CK_ACT_GELU: return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case CK_ACT_TANH: return tanh(x);
    default: return x;
    }
}

static double act_grad_d(ck_activation act, double x)
{
    switch (act) {
    case CK_ACT_RELU: return x > 0.0 ? 1.0 : 0.0;
    case CK_ACT_GELU: {
        const double t = tanh(0.7978845608028654 * (x + 0.044715 * x * x * x));
        return 0.5 * (1.0 + t) +
               0.5 * x * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);
    }
    case CK_ACT_TANH: return 1.0 - tanh(x) * tanh(x);
    default: return 1.0;
    }
}

/* Pre-activations in [-3, 3] (after bias) kept 0.1 away from the ReLU kink. */
static void make_inputs(float *x, float *bias, size_t B, size_t N)
{
    fill_uniform(x, B * N, -2.0f, 2.0f, 21);
    fill_uniform(bias, N, -1.0f, 1.0f, 22);
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < N; j++) {
            const float s = x[b * N + j] + bias[j];
            if (fabsf(s) < 0.1f)
                x[b * N + j] += s < 0.0f ? -0.1f : 0.1f;
        }
}

static void check_forward(size_t B, size_t N)
{
    float *x = talloc(B * N), *bias = talloc(N), *z = talloc(B * N), *y = talloc(B * N);
    float *wz = talloc(B * N), *wy = talloc(B * N);
    make_inputs(x, bias, B, N);
    for (int a = 0; a < 4; a++)
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            memcpy(z, x, B * N * sizeof(float));
            for (size_t b = 0; b < B; b++)
                for (size_t j = 0; j < N; j++) {
                    wz[b * N + j] = x[b * N + j] + (with_bias ? bias[j] : 0.0f);
                    wy[b * N + j] = (float)act_d(ACTS[a], wz[b * N + j]);
                }
            EXPECT(ck_bias_act_forward(ACTS[a], y, z, with_bias ? bias : NULL, B, N) == CK_OK,
                   "status");
            EXPECT_CLOSE(ACT_NAMES[a], z, wz, B * N, 0.0, 0.0);
            EXPECT_CLOSE(ACT_NAMES[a], y, wy, B * N, 1e-6, 1e-6);
        }
}

static void test_bias_act_forward_vs_naive(void)
{
    check_forward(7, 13);
    check_forward(1, 5);
}

static void test_bias_act_backward_vs_naive(void)
{
    const size_t B = 7, N = 13;
    float *x = talloc(B * N), *bias = talloc(N), *y = talloc(B * N), *dy = talloc(B * N);
    float *dz = talloc(B * N), *dbias = talloc(N), *dbias0 = talloc(N);
    float *wdz = talloc(B * N), *wdb = talloc(N);
    make_inputs(x, bias, B, N);
    fill_uniform(dy, B * N, -1.0f, 1.0f, 23);
    fill_uniform(dbias0, N, -1.0f, 1.0f, 24);
    for (int a = 0; a < 4; a++) {
        ck_bias_act_forward(ACTS[a], y, x, NULL, B, N); /* bias folded into x: z = x */
        memcpy(dbias, dbias0, N * sizeof(float));
        for (size_t j = 0; j < N; j++) {
            double s = dbias0[j];
            for (size_t b = 0; b < B; b++) {
                const double g = dy[b * N + j] * act_grad_d(ACTS[a], x[b * N + j]);
                wdz[b * N + j] = (float)g;
                s += g;
            }
            wdb[j] = (float)s;
        }
        EXPECT(ck_bias_act_backward(ACTS[a], dz, dbias, dy, x, y, B, N) == CK_OK, "status");
        EXPECT_CLOSE(ACT_NAMES[a], dz, wdz, B * N, 1e-6, 1e-5);
        EXPECT_CLOSE(ACT_NAMES[a], dbias, wdb, N, 1e-5, 1e-5);
    }
}

typedef struct {
    ck_activation act;
    float *x, *bias, *z, *y, *r;
    size_t B, N;
} bias_act_ctx;

static double bias_act_loss(void *p)
{
    bias_act_ctx *c = p;
    memcpy(c->z, c->x, c->B * c->N * sizeof(float));
    ck_bias_act_forward(c->act, c->y, c->z, c->bias, c->B, c->N);
    return dot_d(c->r, c->y, c->B * c->N);
}

static void test_bias_act_backward_fd(void)
{
    const size_t B = 3, N = 7;
    bias_act_ctx c = {CK_ACT_IDENTITY, talloc(B * N), talloc(N), talloc(B * N), talloc(B * N),
                      talloc(B * N), B, N};
    float *dz = talloc(B * N), *dbias = talloc(N);
    make_inputs(c.x, c.bias, B, N);
    fill_uniform(c.r, B * N, -1.0f, 1.0f, 25);
    for (int a = 0; a < 4; a++) {
        c.act = ACTS[a];
        bias_act_loss(&c);
        ck_init_zeros(dbias, N);
        /* TANH reads only y, RELU/GELU only z: pass NULL for the other to check that contract */
        EXPECT(ck_bias_act_backward(c.act, dz, dbias, c.r, c.act == CK_ACT_TANH ? NULL : c.z,
                                    c.act == CK_ACT_TANH ? c.y : NULL, B, N) == CK_OK,
               "status");
        FD_CHECK(ACT_NAMES[a], c.x, dz, B * N, bias_act_loss, &c, 1.0f / 64, 1e-4, 1e-3);
        FD_CHECK(ACT_NAMES[a], c.bias, dbias, N, bias_act_loss, &c, 1.0f / 64, 1e-4, 1e-3);
    }
}

static void test_bias_act_invalid(void)
{
    float z[2] = {1.0f, -1.0f}, y[2], dz[2];
    EXPECT(ck_bias_act_forward((ck_activation)7, y, z, NULL, 1, 2) == CK_ERR_ARG, "bad act");
    EXPECT(ck_bias_act_backward((ck_activation)-1, dz, NULL, z, z, y, 1, 2) == CK_ERR_ARG, "bad act");
    EXPECT(ck_bias_act_forward(CK_ACT_RELU, NULL, z, NULL, 1, 2) == CK_ERR_NULL, "null y");
    EXPECT(ck_bias_act_backward(CK_ACT_RELU, dz, NULL, z, NULL, y, 1, 2) == CK_ERR_NULL, "null z");
    EXPECT(ck_bias_act_backward(CK_ACT_TANH, dz, NULL, z, z, NULL, 1, 2) == CK_ERR_NULL, "null y");
    EXPECT(z[0] == 1.0f && z[1] == -1.0f, "z modified on error");
}

void suite_bias_activation(void)
{
    RUN(test_bias_act_forward_vs_naive);
    RUN(test_bias_act_backward_vs_naive);
    RUN(test_bias_act_backward_fd);
    RUN(test_bias_act_invalid);
}
