/* test_optimizer.c — Adam/AdamW/SGD against naive double implementations (PyTorch formulas), a
 * hand-computed first Adam step, convergence on a quadratic, and argument checks. */
#include "test_util.h"

#define N_OPT 11

typedef enum { OPT_ADAM, OPT_ADAMW, OPT_SGD } opt_kind;

/* One step of the optimizer written the obvious way, in double. */
static void naive_step(opt_kind kind, double *p, double *m, double *v, const double *g, size_t n,
                       double lr, double b1, double b2, double eps, double wd, double mom, int t)
{
    for (size_t i = 0; i < n; i++) {
        if (kind == OPT_SGD) {
            const double gi = g[i] + wd * p[i];
            m[i] = mom * m[i] + gi;
            p[i] -= lr * m[i];
            continue;
        }
        double gi = g[i];
        if (kind == OPT_ADAM)
            gi += wd * p[i];
        else
            p[i] *= 1.0 - lr * wd;
        m[i] = b1 * m[i] + (1.0 - b1) * gi;
        v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
        const double mhat = m[i] / (1.0 - pow(b1, t)), vhat = v[i] / (1.0 - pow(b2, t));
        p[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
}

static int opt_step(opt_kind kind, float *p, float *m, float *v, const float *g, size_t n,
                    float lr, float wd, float mom, int64_t t)
{
    switch (kind) {
    case OPT_ADAM: return ck_adam_step(p, m, v, g, n, lr, 0.9f, 0.999f, 1e-8f, wd, t);
    case OPT_ADAMW: return ck_adamw_step(p, m, v, g, n, lr, 0.9f, 0.999f, 1e-8f, wd, t);
    default: return ck_sgd_step(p, mom == 0.0f ? NULL : m, g, n, lr, mom, wd);
    }
}

/* Hand-computed: at t = 1 with zero state, mhat = g and vhat = g^2, so p1 = p0 - lr g/(|g| + eps). */
static void test_adam_first_step_by_hand(void)
{
    float p[4] = {1.0f, -2.0f, 0.5f, 3.0f}, m[4] = {0}, v[4] = {0};
    const float g[4] = {0.5f, -3.0f, 0.0f, 1e-3f};
    EXPECT(ck_adam_step(p, m, v, g, 4, 0.1f, 0.9f, 0.999f, 1e-8f, 0.0f, 1) == CK_OK, "status");
    /* 3 - 0.1 * 1e-3 / (1e-3 + 1e-8) = 2.90000099999... */
    const float want_p[4] = {0.9f, -1.9f, 0.5f, 2.900001f};
    /* m = (1 - beta1) g, v = (1 - beta2) g^2 with the float betas: 1 - 0.999f = 0.00099998713 */
    const double one_m_b1 = 1.0 - (double)0.9f, one_m_b2 = 1.0 - (double)0.999f;
    float want_m[4], want_v[4];
    for (int i = 0; i < 4; i++) {
        want_m[i] = (float)(one_m_b1 * g[i]);
        want_v[i] = (float)(one_m_b2 * g[i] * g[i]);
    }
    EXPECT_CLOSE("p after step 1", p, want_p, 4, 0.0, 1.5e-7);
    EXPECT_CLOSE("m after step 1", m, want_m, 4, 0.0, 1.5e-7);
    EXPECT_CLOSE("v after step 1", v, want_v, 4, 0.0, 3e-7);
    EXPECT(p[2] == 0.5f, "zero gradient must leave the parameter untouched");
}

static void check_vs_naive(opt_kind kind, float lr, float wd, float mom, const char *what)
{
    float p[N_OPT], m[N_OPT] = {0}, v[N_OPT] = {0}, g[N_OPT], pf[N_OPT];
    double pd[N_OPT], md[N_OPT] = {0}, vd[N_OPT] = {0}, gd[N_OPT];
    fill_uniform(p, N_OPT, -2.0f, 2.0f, 61);
    for (size_t i = 0; i < N_OPT; i++)
        pd[i] = p[i];
    for (int t = 1; t <= 6; t++) {
        fill_uniform(g, N_OPT, -1.0f, 1.0f, 62 + (uint64_t)t);
        for (size_t i = 0; i < N_OPT; i++)
            gd[i] = g[i];
        EXPECT(opt_step(kind, p, m, v, g, N_OPT, lr, wd, mom, t) == CK_OK, "%s status", what);
        naive_step(kind, pd, md, vd, gd, N_OPT, lr, 0.9, 0.999, 1e-8, wd, mom, t);
    }
    for (size_t i = 0; i < N_OPT; i++)
        pf[i] = (float)pd[i];
    EXPECT_CLOSE(what, p, pf, N_OPT, 1e-6, 1e-5);
}

static void test_adam_vs_naive(void)
{
    check_vs_naive(OPT_ADAM, 0.01f, 0.0f, 0.0f, "adam");
    check_vs_naive(OPT_ADAM, 0.01f, 0.1f, 0.0f, "adam + L2");
}

static void test_adamw_vs_naive(void) { check_vs_naive(OPT_ADAMW, 0.01f, 0.1f, 0.0f, "adamw"); }

static void test_sgd_vs_naive(void)
{
    check_vs_naive(OPT_SGD, 0.1f, 0.0f, 0.0f, "sgd");
    check_vs_naive(OPT_SGD, 0.1f, 0.01f, 0.9f, "sgd momentum + wd");
}

/* f(p) = 0.5 sum a_i (p_i - c_i)^2 */
static double quad_loss(const float *p, const float *a, const float *c, float *grad)
{
    double f = 0.0;
    for (size_t i = 0; i < N_OPT; i++) {
        grad[i] = a[i] * (p[i] - c[i]);
        f += 0.5 * a[i] * ((double)p[i] - c[i]) * ((double)p[i] - c[i]);
    }
    return f;
}

static void check_quadratic(opt_kind kind, float lr, float mom, const char *what)
{
    float p[N_OPT], a[N_OPT], c[N_OPT], g[N_OPT], m[N_OPT] = {0}, v[N_OPT] = {0};
    fill_uniform(p, N_OPT, -3.0f, 3.0f, 71);
    fill_uniform(a, N_OPT, 0.5f, 2.0f, 72);
    fill_uniform(c, N_OPT, -1.0f, 1.0f, 73);
    const double f0 = quad_loss(p, a, c, g);
    double prev = f0, f = f0;
    for (int t = 1; t <= 200; t++) {
        EXPECT(opt_step(kind, p, m, v, g, N_OPT, lr, 0.0f, mom, t) == CK_OK, "status");
        f = quad_loss(p, a, c, g);
        if (t <= 5)
            EXPECT(f < prev, "%s: loss rose at step %d: %g -> %g", what, t, prev, f);
        prev = f;
    }
    EXPECT(f < 1e-3 * f0, "%s: loss %g -> %g after 200 steps", what, f0, f);
}

static void test_optimizers_decrease_quadratic(void)
{
    check_quadratic(OPT_SGD, 0.1f, 0.0f, "sgd");
    check_quadratic(OPT_SGD, 0.05f, 0.9f, "sgd momentum");
    check_quadratic(OPT_ADAM, 0.05f, 0.0f, "adam");
    check_quadratic(OPT_ADAMW, 0.05f, 0.0f, "adamw");
}

static void test_optimizer_invalid(void)
{
    float p[2] = {1, 2}, m[2] = {0}, v[2] = {0}, g[2] = {1, 1};
    EXPECT(ck_adam_step(p, m, v, g, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 0) == CK_ERR_ARG, "step 0");
    EXPECT(ck_adamw_step(p, m, v, g, 2, 0.1f, 1.0f, 0.999f, 1e-8f, 0, 1) == CK_ERR_ARG, "beta1 1");
    EXPECT(ck_adam_step(p, m, v, g, 2, 0.1f, 0.9f, -0.1f, 1e-8f, 0, 1) == CK_ERR_ARG, "beta2 < 0");
    EXPECT(ck_adam_step(p, NULL, v, g, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 1) == CK_ERR_NULL, "m NULL");
    EXPECT(ck_sgd_step(p, NULL, g, 2, 0.1f, 0.9f, 0.0f) == CK_ERR_NULL, "velocity NULL");
    EXPECT(ck_sgd_step(p, m, g, 2, 0.1f, -0.5f, 0.0f) == CK_ERR_ARG, "momentum < 0");
    EXPECT(p[0] == 1.0f && p[1] == 2.0f && m[0] == 0.0f, "written on error");
}

/* With more than one thread, large Adam/AdamW sweeps are split across the pool: the result must
 * be bit-identical to one thread's (elements are independent), odd length included. */
static void test_adam_threaded_matches_one_thread(void)
{
    const size_t n = 100003;
    const int before = ck_blas_get_threads();
    for (int opt = OPT_ADAM; opt <= OPT_ADAMW; opt++)
        for (int threads = 2; threads <= 3; threads++) {
            float *p1 = talloc(n), *m1 = talloc(n), *v1 = talloc(n), *g = talloc(n);
            float *p2 = talloc(n), *m2 = talloc(n), *v2 = talloc(n);
            fill_uniform(p1, n, -1.0f, 1.0f, 5);
            fill_uniform(g, n, -1.0f, 1.0f, 6);
            fill_uniform(m1, n, -0.1f, 0.1f, 7);
            fill_uniform(v1, n, 0.0f, 0.1f, 8);
            memcpy(p2, p1, n * sizeof(float));
            memcpy(m2, m1, n * sizeof(float));
            memcpy(v2, v1, n * sizeof(float));
            ck_blas_set_threads(1);
            EXPECT(opt_step((opt_kind)opt, p1, m1, v1, g, n, 0.01f, 0.1f, 0.0f, 3) == CK_OK, "one thread");
            ck_blas_set_threads(threads);
            EXPECT(opt_step((opt_kind)opt, p2, m2, v2, g, n, 0.01f, 0.1f, 0.0f, 3) == CK_OK, "%d threads", threads);
            EXPECT(memcmp(p1, p2, n * sizeof(float)) == 0 && memcmp(m1, m2, n * sizeof(float)) == 0 &&
                       memcmp(v1, v2, n * sizeof(float)) == 0,
                   "opt %d with %d threads differs from one thread", opt, threads);
        }
    ck_blas_set_threads(before);
}

/* Adam/AdamW as the kernel computes it, element by element in float: one rounded mul, add, sqrt or
 * div at a time, in the kernel's order. The kernel's vector sweeps (AVX-512, AVX, chosen by CPUID)
 * must give exactly these bits, tails included, so results do not depend on the CPU's width. */
static void float_adam(float *p, float *m, float *v, const float *g, size_t n, float lr, float wd,
                       int adamw, int64_t t)
{
    const float step_size = (float)(lr / (1.0 - pow(0.9f, (double)t)));
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow(0.999f, (double)t)));
    const float l2 = adamw ? 0.0f : wd, decay = adamw ? 1.0f - lr * wd : 1.0f;
    for (size_t i = 0; i < n; i++) {
        volatile float l2p = l2 * p[i];
        const float gi = g[i] + l2p;
        volatile float a = 0.9f * m[i], b = (1.0f - 0.9f) * gi;
        const float mi = a + b;
        volatile float c = 0.999f * v[i], d = (1.0f - 0.999f) * gi;
        volatile float dd = d * gi;
        const float vi = c + dd;
        m[i] = mi;
        v[i] = vi;
        volatile float root = sqrtf(vi), scaled = root * inv_sqrt_bc2;
        const float denominator = scaled + 1e-8f;
        volatile float numerator = step_size * mi, decayed = p[i] * decay;
        const float update = numerator / denominator;
        p[i] = decayed - update;
    }
}

static void test_adam_sweeps_match_the_float_loop_bit_for_bit(void)
{
    const size_t sizes[] = {1, 7, 8, 15, 16, 17, 31, 33, 100, 1000, 100003};
    const int before = ck_blas_get_threads();
    for (int threads = 1; threads <= 2; threads++) {
        ck_blas_set_threads(threads);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int adamw = 0; adamw <= 1; adamw++) {
                const size_t n = sizes[s];
                float *p1 = talloc(n), *m1 = talloc(n), *v1 = talloc(n), *g = talloc(n);
                float *p2 = talloc(n), *m2 = talloc(n), *v2 = talloc(n);
                fill_uniform(p1, n, -1.0f, 1.0f, 15 + s);
                fill_uniform(m1, n, -0.1f, 0.1f, 16 + s);
                fill_uniform(v1, n, 0.0f, 0.1f, 17 + s);
                memcpy(p2, p1, n * sizeof(float));
                memcpy(m2, m1, n * sizeof(float));
                memcpy(v2, v1, n * sizeof(float));
                for (int64_t t = 1; t <= 3; t++) {
                    fill_uniform(g, n, -1.0f, 1.0f, 18 + s + (uint64_t)t);
                    EXPECT(opt_step(adamw ? OPT_ADAMW : OPT_ADAM, p1, m1, v1, g, n, 0.01f, 0.1f, 0.0f, t) == CK_OK,
                           "status");
                    float_adam(p2, m2, v2, g, n, 0.01f, 0.1f, adamw, t);
                }
                size_t differ = 0;
                for (size_t i = 0; i < n; i++)
                    differ += memcmp(&p1[i], &p2[i], sizeof(float)) != 0 || memcmp(&m1[i], &m2[i], sizeof(float)) != 0 ||
                              memcmp(&v1[i], &v2[i], sizeof(float)) != 0;
                EXPECT(differ == 0, "%s n=%zu threads=%d (%s): %zu elements differ from the float loop",
                       adamw ? "adamw" : "adam", n, threads, ck_gemm_kernel_name(ck_gemm_selected_kernel()), differ);
            }
    }
    ck_blas_set_threads(before);
}

void suite_optimizer(void)
{
    RUN(test_adam_sweeps_match_the_float_loop_bit_for_bit);
    RUN(test_adam_threaded_matches_one_thread);
    RUN(test_adam_first_step_by_hand);
    RUN(test_adam_vs_naive);
    RUN(test_adamw_vs_naive);
    RUN(test_sgd_vs_naive);
    RUN(test_optimizers_decrease_quadratic);
    RUN(test_optimizer_invalid);
}
