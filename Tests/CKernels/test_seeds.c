/* test_seeds.c — the honest seed kinds: tensor tables, deterministic initialisation, forward of
 * every variant against the naive double reference, backward against central differences (input
 * and every parameter), identity at graft time for residual kinds, accumulation, dx = NULL,
 * batch-norm and dropout modes, argument checks, and the tiled GEMM. */
#include "seed_reference.h"

typedef struct {
    const char *name;
    ck_seed_spec s;
    int residual; /* zero-initialised output: the kernel is the identity at graft time */
} seed_case;

#define K(kind_) .kind = CK_SEED_##kind_
static const seed_case cases[] = {
    {"identity", {K(IDENTITY), .d = 12}, 1},
    {"linear", {K(LINEAR), .d = 12, .scalar = 1.25f}, 0},
    {"layer_norm", {K(LAYER_NORM), .d = 12, .scalar = 1e-3f}, 0},
    {"dropout", {K(DROPOUT), .d = 12, .scalar = 0.3f, .variant = CK_VARIANT_SCALAR}, 0},
    {"activation_relu", {K(ACTIVATION), .d = 12, .activation = CK_ACT_RELU, .variant = CK_VARIANT_SCALAR}, 0},
    {"activation_gelu", {K(ACTIVATION), .d = 12, .activation = CK_ACT_GELU, .variant = CK_VARIANT_SCALAR}, 0},
    {"activation_tanh", {K(ACTIVATION), .d = 12, .activation = CK_ACT_TANH, .variant = CK_VARIANT_SCALAR}, 0},
    {"batch_norm", {K(BATCH_NORM), .d = 12, .scalar = 0.9f}, 0},
    {"max_pool_3", {K(MAX_POOL), .d = 12, .window = 3}, 0},
    {"max_pool_4", {K(MAX_POOL), .d = 12, .window = 4}, 0},
    {"layer_scale", {K(LAYER_SCALE), .d = 12, .scalar = 0.9f, .variant = CK_VARIANT_SCALAR}, 0},
    {"positional", {K(POSITIONAL), .d = 12, .scalar = 0.5f, .variant = CK_VARIANT_SCALAR}, 0},
    {"grouped_linear", {K(GROUPED_LINEAR), .d = 12, .count = 3}, 0},
    {"highway", {K(HIGHWAY), .d = 12, .scalar = -1.0f}, 0},
    {"skip_connection", {K(RESIDUAL_MLP), .d = 12}, 1},
    {"residual_mlp_gelu", {K(RESIDUAL_MLP), .d = 12, .hidden = 7, .count = 2, .activation = CK_ACT_GELU}, 1},
    {"residual_mlp_relu", {K(RESIDUAL_MLP), .d = 12, .hidden = 20, .count = 1, .activation = CK_ACT_RELU}, 1},
    {"gated_ffn", {K(GATED_FFN), .d = 12, .hidden = 9, .activation = CK_ACT_GELU}, 1},
    {"conv1d_same", {K(CONV1D), .d = 12, .hidden = 3, .window = 3, .dilation = 2, .activation = CK_ACT_TANH}, 1},
    {"conv1d_causal_even",
     {K(CONV1D), .d = 12, .hidden = 2, .window = 4, .dilation = 1, .activation = CK_ACT_GELU, .causal = 1},
     1},
    {"squeeze_excite", {K(SQUEEZE_EXCITE), .d = 12, .hidden = 4}, 1},
    {"slice_attention", {K(SLICE_ATTENTION), .d = 12, .count = 3, .rounds = 2}, 1},
    {"slice_attention_4", {K(SLICE_ATTENTION), .d = 12, .count = 4, .rounds = 1}, 1},
    {"memory_attention", {K(MEMORY_ATTENTION), .d = 12, .hidden = 5}, 1},
    {"mixture_dense", {K(MIXTURE), .d = 12, .count = 3, .top_k = 3}, 1},
    {"mixture_top2", {K(MIXTURE), .d = 12, .count = 4, .top_k = 2}, 1},
    {"pool_pyramid", {K(POOL_PROJECT), .d = 12, .hidden = 1, .count = 3}, 1},
    {"pool_single", {K(POOL_PROJECT), .d = 12, .hidden = 5, .count = 1}, 1},
    {"dense_block", {K(DENSE_BLOCK), .d = 12, .hidden = 4, .count = 3}, 1},
    {"recurrent", {K(RECURRENT), .d = 12, .hidden = 12, .count = 3, .scalar = 0.33f}, 1},
    {"nas_mixture", {K(NAS_MIXTURE), .d = 12, .scalar = 1.25f, .variant = CK_VARIANT_SCALAR}, 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

/* Every variant the kind accepts (tiled with two tile shapes, one not dividing the sizes). */
static size_t accepted_variants(const ck_seed_spec *base, ck_seed_spec out[8])
{
    static const uint32_t tiles[][3] = {{0, 0, 0}, {8, 8, 8}, {3, 5, 2}};
    size_t n = 0;
    for (uint32_t v = CK_VARIANT_NAIVE; v <= CK_VARIANT_VECTOR; v++)
        for (size_t t = 0; t < 3; t++) {
            if ((v == CK_VARIANT_TILED) != (t > 0))
                continue;
            ck_seed_spec s = *base;
            s.variant = v;
            s.tile_m = tiles[t][0];
            s.tile_n = tiles[t][1];
            s.tile_k = tiles[t][2];
            if (ck_seed_validate(&s) == CK_OK)
                out[n++] = s;
        }
    return n;
}

typedef struct {
    ck_seed_spec s;
    ck_seed_runtime rt;
    float *params, *state, *ws, *x, *y, *r;
    size_t B, np;
} kernel;

static void kernel_make(kernel *k, const ck_seed_spec *s, size_t B, uint64_t seed, int random_params)
{
    k->s = *s;
    k->B = B;
    k->np = ck_seed_param_floats(s);
    k->params = talloc(k->np);
    k->state = talloc(ck_seed_state_floats(s));
    k->ws = talloc(ck_seed_workspace_floats(s, B));
    k->x = talloc(B * s->d);
    k->y = talloc(B * s->d);
    k->r = talloc(B * s->d);
    EXPECT(ck_seed_init_params(s, k->params, seed) == CK_OK, "init");
    if (random_params)
        fill_uniform(k->params, k->np, -0.5f, 0.5f, seed + 1);
    EXPECT(ck_seed_runtime_init(&k->rt, s, k->state, seed) == CK_OK, "runtime init");
    k->rt.step = 7;
    fill_uniform(k->x, B * s->d, -1.0f, 1.0f, seed + 2);
    fill_uniform(k->r, B * s->d, -1.0f, 1.0f, seed + 3);
}

static double kernel_loss(void *p)
{
    kernel *k = p;
    if (ck_seed_forward(&k->s, k->params, &k->rt, k->ws, k->y, k->x, k->B) != CK_OK)
        return NAN;
    return dot_d(k->r, k->y, k->B * k->s.d);
}

static void test_seed_tables(void)
{
    for (size_t c = 0; c < N_CASES; c++) {
        const ck_seed_spec *s = &cases[c].s;
        EXPECT(ck_seed_validate(s) == CK_OK, "%s: validate %d", cases[c].name, ck_seed_validate(s));
        const size_t n = ck_seed_tensor_count(s);
        size_t next = 0;
        for (size_t i = 0; i < n; i++) {
            ck_seed_tensor t;
            EXPECT(ck_seed_tensor_info(s, i, &t) == CK_OK, "%s: info", cases[c].name);
            EXPECT(t.offset == next, "%s: tensor %s not contiguous", cases[c].name, t.name);
            EXPECT(t.count == (size_t)t.dims[0] * t.dims[1] * t.dims[2] * t.dims[3], "%s: count", cases[c].name);
            EXPECT(t.name[0] != '\0' && t.ndim >= 1 && t.ndim <= 4, "%s: name/ndim", cases[c].name);
            next += t.count;
        }
        EXPECT(next == ck_seed_param_floats(s), "%s: %zu floats in tensors vs %zu", cases[c].name, next,
               ck_seed_param_floats(s));
        ck_seed_tensor t;
        EXPECT(ck_seed_tensor_info(s, n, &t) == CK_ERR_SIZE, "%s: index past the end", cases[c].name);
    }
}

static void test_splitmix64_golden(void)
{
    uint64_t state = 0; /* first outputs of SplitMix64 seeded with 0 */
    EXPECT(ck_splitmix64_next(&state) == 0xE220A8397B1DCDAFULL, "first");
    EXPECT(ck_splitmix64_next(&state) == 0x6E789E6AA1B965F4ULL, "second");
}

static void test_seed_init_deterministic(void)
{
    for (size_t c = 0; c < N_CASES; c++) {
        const ck_seed_spec *s = &cases[c].s;
        const size_t np = ck_seed_param_floats(s);
        float *a = talloc(np), *b = talloc(np), *other = talloc(np);
        ck_seed_init_params(s, a, 42);
        ck_seed_init_params(s, b, 42);
        ck_seed_init_params(s, other, 43);
        EXPECT(np == 0 || memcmp(a, b, np * sizeof(float)) == 0, "%s: same seed, different weights", cases[c].name);
        int any_uniform = 0;
        for (size_t i = 0; i < ck_seed_tensor_count(s); i++) {
            ck_seed_tensor t;
            ck_seed_tensor_info(s, i, &t);
            const double bound = t.init_value / sqrt((double)(t.fan_in ? t.fan_in : 1));
            for (size_t j = 0; j < t.count; j++) {
                const float v = a[t.offset + j];
                if (t.init_rule == CK_INIT_ZERO)
                    EXPECT(v == 0.0f, "%s.%s not zero", cases[c].name, t.name);
                else if (t.init_rule == CK_INIT_CONST)
                    EXPECT(v == t.init_value, "%s.%s not constant", cases[c].name, t.name);
                else
                    EXPECT(fabs(v) <= bound, "%s.%s[%zu] = %g outside +-%g", cases[c].name, t.name, j, v, bound);
            }
            any_uniform |= t.init_rule == CK_INIT_UNIFORM_FAN;
        }
        if (any_uniform)
            EXPECT(memcmp(a, other, np * sizeof(float)) != 0, "%s: seed ignored", cases[c].name);
    }
}

static void test_seed_forward_matches_reference(void)
{
    const size_t B = 5;
    for (size_t c = 0; c < N_CASES; c++) {
        ck_seed_spec variants[8];
        const size_t nv = accepted_variants(&cases[c].s, variants);
        EXPECT(nv >= 1, "%s: no variant", cases[c].name);
        for (int random = 0; random <= 1; random++)
            for (size_t v = 0; v < nv; v++) {
                kernel k;
                kernel_make(&k, &variants[v], B, 100 + c, random);
                const size_t n = B * k.s.d;
                double *want = talloc_bytes(n * sizeof(double));
                EXPECT(seed_reference_forward(&k.s, k.params, &k.rt, k.x, B, want), "%s: no reference", cases[c].name);
                const int st = ck_seed_forward(&k.s, k.params, &k.rt, k.ws, k.y, k.x, B);
                EXPECT(st == CK_OK, "%s variant %u: status %d", cases[c].name, k.s.variant, st);
                float *wantf = talloc(n);
                for (size_t i = 0; i < n; i++)
                    wantf[i] = (float)want[i];
                char what[96];
                snprintf(what, sizeof what, "%s variant %u tile %u %s params", cases[c].name, k.s.variant, k.s.tile_m,
                         random ? "random" : "initial");
                EXPECT_CLOSE(what, k.y, wantf, n, 2e-5, 2e-4);
            }
    }
}

/* Central differences of the kernel loss w.r.t. v[i], with step h. */
static double central(kernel *k, float *v, size_t i, float h)
{
    const float v0 = v[i], vp = v0 + h, vm = v0 - h;
    v[i] = vp;
    const double lp = kernel_loss(k);
    v[i] = vm;
    const double lm = kernel_loss(k);
    v[i] = v0;
    return (lp - lm) / ((double)vp - (double)vm);
}

/* Like FD_CHECK, but a coordinate whose differences at h and h/4 disagree sits on a kink
 * (ReLU, max, top-k) within h: it is skipped, and at most a tenth may be skipped. */
static void fd_check_smooth(const char *what, float *v, const float *grad, size_t n, kernel *k, float h)
{
    size_t bad = 0, kinks = 0, worst = 0;
    double worst_excess = -INFINITY, worst_num = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double coarse = central(k, v, i, h), fine = central(k, v, i, h / 4);
        if (fabs(coarse - fine) > 1e-3 + 1e-2 * fabs(fine)) {
            kinks++;
            continue;
        }
        const double excess = fabs(coarse - grad[i]) - (1e-3 + 1e-2 * fabs(coarse));
        if (!(excess <= 0.0))
            bad++;
        if (!(excess <= worst_excess)) {
            worst_excess = excess;
            worst = i;
            worst_num = coarse;
        }
    }
    kernel_loss(k);
    EXPECT(bad == 0, "%s: %zu/%zu gradients off, worst [%zu] analytic %.9g numeric %.9g", what, bad, n, worst,
           n ? (double)grad[worst] : 0.0, worst_num);
    EXPECT(kinks <= n / 10 + 1, "%s: %zu/%zu coordinates on kinks", what, kinks, n);
}

/* Every gradient (input and parameters) against central differences, for every variant. */
static void test_seed_backward_fd(void)
{
    const size_t B = 5;
    for (size_t c = 0; c < N_CASES; c++) {
        ck_seed_spec variants[8];
        const size_t nv = accepted_variants(&cases[c].s, variants);
        for (size_t v = 0; v < nv; v++) {
            kernel k;
            kernel_make(&k, &variants[v], B, 200 + c, 1);
            const size_t n = B * k.s.d;
            float *dp = talloc(k.np), *dx = talloc(n);
            ck_init_zeros(dp, k.np);
            kernel_loss(&k);
            int st = ck_seed_backward(&k.s, k.params, &k.rt, k.ws, dp, dx, k.r, k.x, B);
            EXPECT(st == CK_OK, "%s: backward status %d", cases[c].name, st);
            char what[96];
            snprintf(what, sizeof what, "%s variant %u dx", cases[c].name, k.s.variant);
            fd_check_smooth(what, k.x, dx, n, &k, 1.0f / 256);
            snprintf(what, sizeof what, "%s variant %u dparams", cases[c].name, k.s.variant);
            fd_check_smooth(what, k.params, dp, k.np, &k, 1.0f / 256);
        }
    }
}

/* dparams accumulate; dx = NULL gives the same parameter gradients. */
static void test_seed_backward_accumulates(void)
{
    const size_t B = 4;
    for (size_t c = 0; c < N_CASES; c++) {
        kernel k;
        kernel_make(&k, &cases[c].s, B, 300 + c, 1);
        const size_t n = B * k.s.d;
        float *once = talloc(k.np), *twice = talloc(k.np), *no_dx = talloc(k.np), *dx = talloc(n);
        ck_init_zeros(once, k.np);
        ck_init_zeros(twice, k.np);
        ck_init_zeros(no_dx, k.np);
        kernel_loss(&k);
        EXPECT(ck_seed_backward(&k.s, k.params, &k.rt, k.ws, once, dx, k.r, k.x, B) == CK_OK, "%s", cases[c].name);
        EXPECT(ck_seed_backward(&k.s, k.params, &k.rt, k.ws, twice, dx, k.r, k.x, B) == CK_OK, "%s", cases[c].name);
        EXPECT(ck_seed_backward(&k.s, k.params, &k.rt, k.ws, twice, dx, k.r, k.x, B) == CK_OK, "%s", cases[c].name);
        EXPECT(ck_seed_backward(&k.s, k.params, &k.rt, k.ws, no_dx, NULL, k.r, k.x, B) == CK_OK, "%s", cases[c].name);
        for (size_t i = 0; i < k.np; i++)
            once[i] *= 2.0f;
        char what[96];
        snprintf(what, sizeof what, "%s accumulated twice", cases[c].name);
        EXPECT_CLOSE(what, twice, once, k.np, 1e-6, 1e-5);
        for (size_t i = 0; i < k.np; i++)
            once[i] *= 0.5f;
        snprintf(what, sizeof what, "%s without dx", cases[c].name);
        EXPECT_CLOSE(what, no_dx, once, k.np, 0.0, 0.0);
    }
}

static void test_seed_residual_identity_at_init(void)
{
    const size_t B = 6;
    for (size_t c = 0; c < N_CASES; c++) {
        if (!cases[c].residual)
            continue;
        kernel k;
        kernel_make(&k, &cases[c].s, B, 400 + c, 0);
        EXPECT(ck_seed_forward(&k.s, k.params, &k.rt, k.ws, k.y, k.x, B) == CK_OK, "%s", cases[c].name);
        EXPECT(memcmp(k.y, k.x, B * k.s.d * sizeof(float)) == 0, "%s: not the identity at graft time",
               cases[c].name);
    }
}

static void test_seed_backward_needs_forward(void)
{
    kernel k;
    kernel_make(&k, &cases[1].s, 3, 5, 0);
    float *dp = talloc(k.np), *dx = talloc(3 * k.s.d);
    EXPECT(ck_seed_backward(&k.s, k.params, &k.rt, k.ws, dp, dx, k.r, k.x, 3) == CK_ERR_STATE, "no forward");
    kernel_loss(&k);
    EXPECT(ck_seed_backward(&k.s, k.params, &k.rt, k.ws, dp, dx, k.r, k.x, 2) == CK_ERR_STATE, "other batch");
}

static void test_seed_invalid_specs(void)
{
    const ck_seed_spec bad[] = {
        {K(GROUPED_LINEAR), .d = 12, .count = 5},                           /* 5 does not divide 12 */
        {K(SLICE_ATTENTION), .d = 12, .count = 5, .rounds = 1},             /* same for tokens */
        {K(LINEAR), .d = 12, .scalar = 1.0f, .hidden = 3},                  /* unused field set */
        {K(LINEAR), .d = 12, .scalar = 1.0f, .variant = CK_VARIANT_VECTOR}, /* variant of another kind */
        {K(LINEAR), .d = 12, .scalar = 1.0f, .variant = CK_VARIANT_TILED},  /* tiled without tiles */
        {K(LINEAR), .d = 0, .scalar = 1.0f},
        {K(LINEAR), .d = 12, .scalar = NAN},
        {K(LAYER_NORM), .d = 12, .scalar = 0.0f},
        {K(DROPOUT), .d = 12, .scalar = 1.0f, .variant = CK_VARIANT_SCALAR},
        {K(MIXTURE), .d = 12, .count = 3, .top_k = 4},
        {K(POOL_PROJECT), .d = 12, .hidden = 4, .count = 3}, /* 16 bins > 12 features */
        {K(RESIDUAL_MLP), .d = 12, .hidden = 4, .count = 7},
        {.kind = 99, .d = 12},
        {K(ACTIVATION), .d = 12, .activation = 9, .variant = CK_VARIANT_SCALAR},
        {K(FAULT_DEADLOCK), .d = 12, .iterations = 1},
        {K(LINEAR), .d = 4096, .scalar = 1.0f},                /* fine */
    };
    const size_t n = sizeof bad / sizeof bad[0];
    for (size_t i = 0; i + 1 < n; i++) {
        EXPECT(ck_seed_validate(&bad[i]) != CK_OK, "bad spec %zu accepted", i);
        EXPECT(ck_seed_param_floats(&bad[i]) == 0 && ck_seed_workspace_floats(&bad[i], 4) == 0, "sizes of %zu", i);
    }
    EXPECT(ck_seed_validate(&bad[n - 1]) == CK_OK, "d = 4096");
    const ck_seed_spec huge = {K(RESIDUAL_MLP), .d = 16384, .hidden = 65536, .count = 6, .activation = CK_ACT_RELU};
    EXPECT(ck_seed_validate(&huge) == CK_ERR_SIZE, "parameter cap");
    EXPECT(ck_seed_validate(NULL) == CK_ERR_NULL, "NULL spec");
    float y[12], x[12] = {0};
    ck_seed_runtime rt;
    EXPECT(ck_seed_runtime_init(&rt, &cases[0].s, NULL, 1) == CK_OK, "identity runtime");
    EXPECT(ck_seed_forward(&bad[0], NULL, &rt, NULL, y, x, 1) == CK_ERR_SIZE, "forward with a bad spec");
}

static void test_seed_batch_norm_modes(void)
{
    const ck_seed_spec s = {K(BATCH_NORM), .d = 4, .scalar = 0.5f};
    kernel k;
    kernel_make(&k, &s, 6, 9, 0);
    EXPECT(k.state[0] == 0.0f && k.state[4] == 1.0f, "running stats start at 0 and 1");
    kernel_loss(&k);
    double mu = 0.0, ss = 0.0;
    for (size_t b = 0; b < 6; b++)
        mu += k.x[b * 4] / 6.0;
    for (size_t b = 0; b < 6; b++)
        ss += (k.x[b * 4] - mu) * (k.x[b * 4] - mu);
    EXPECT(fabs(k.state[0] - 0.5 * mu) < 1e-6, "running mean %g vs %g", k.state[0], 0.5 * mu);
    EXPECT(fabs(k.state[4] - (0.5 + 0.5 * ss / 5.0)) < 1e-5, "running var (unbiased)");
    k.rt.training = 0; /* evaluation: running statistics, and backward treats them as constants */
    const size_t n = 6 * 4;
    double *want = talloc_bytes(n * sizeof(double));
    seed_reference_forward(&k.s, k.params, &k.rt, k.x, 6, want);
    const float saved_mean = k.state[0];
    kernel_loss(&k);
    EXPECT(k.state[0] == saved_mean, "evaluation must not update running stats");
    float *wantf = talloc(n), *dp = talloc(k.np), *dx = talloc(n);
    for (size_t i = 0; i < n; i++)
        wantf[i] = (float)want[i];
    EXPECT_CLOSE("eval forward", k.y, wantf, n, 1e-5, 1e-4);
    ck_init_zeros(dp, k.np);
    ck_seed_backward(&k.s, k.params, &k.rt, k.ws, dp, dx, k.r, k.x, 6);
    FD_CHECK("eval dx", k.x, dx, n, kernel_loss, &k, 1.0f / 256, 1e-3, 1e-2);
}

static void test_seed_dropout_masks(void)
{
    const ck_seed_spec s = {K(DROPOUT), .d = 64, .scalar = 0.25f, .variant = CK_VARIANT_VECTOR};
    kernel k;
    kernel_make(&k, &s, 32, 11, 0);
    fill_uniform(k.x, 32 * 64, 1.0f, 2.0f, 5); /* no zeros, so dropped elements are visible */
    kernel_loss(&k);
    size_t dropped = 0;
    for (size_t i = 0; i < 32 * 64; i++)
        dropped += k.y[i] == 0.0f;
    EXPECT(dropped > 400 && dropped < 620, "dropped %zu of 2048 at p = 0.25", dropped);
    float *first = talloc(32 * 64);
    memcpy(first, k.y, sizeof(float) * 32 * 64);
    kernel_loss(&k);
    EXPECT(memcmp(first, k.y, sizeof(float) * 32 * 64) == 0, "same step, same mask");
    k.rt.step++;
    kernel_loss(&k);
    EXPECT(memcmp(first, k.y, sizeof(float) * 32 * 64) != 0, "next step, new mask");
    k.rt.training = 0;
    kernel_loss(&k);
    EXPECT(memcmp(k.x, k.y, sizeof(float) * 32 * 64) == 0, "evaluation is the identity");
}

static void test_sgemm_tiled_vs_reference(void)
{
    const size_t M = 13, N = 11, K = 17;
    float *A = talloc(M * K), *Bm = talloc(K * N), *C = talloc(M * N), *want = talloc(M * N);
    fill_uniform(A, M * K, -1.0f, 1.0f, 1);
    fill_uniform(Bm, K * N, -1.0f, 1.0f, 2);
    static const size_t tiles[][3] = {{1, 1, 1}, {4, 3, 5}, {16, 16, 64}, {64, 64, 256}};
    for (int tA = 0; tA <= 1; tA++)
        for (int tB = 0; tB <= 1; tB++)
            for (size_t t = 0; t < 4; t++) {
                fill_uniform(C, M * N, -1.0f, 1.0f, 3);
                memcpy(want, C, M * N * sizeof(float));
                ck_sgemm_reference(tA, tB, M, N, K, 0.75f, A, tA ? M : K, Bm, tB ? K : N, 0.5f, want, N);
                EXPECT(ck_sgemm_tiled(tiles[t][0], tiles[t][1], tiles[t][2], tA, tB, M, N, K, 0.75f, A, tA ? M : K, Bm,
                                      tB ? K : N, 0.5f, C, N) == CK_OK,
                       "status");
                EXPECT_CLOSE("tiled", C, want, M * N, 1e-5, 1e-5);
            }
    EXPECT(ck_sgemm_tiled(0, 1, 1, 0, 0, M, N, K, 1.0f, A, K, Bm, N, 0.0f, C, N) == CK_ERR_ARG, "zero tile");
}

void suite_seeds(void)
{
    RUN(test_seed_tables);
    RUN(test_splitmix64_golden);
    RUN(test_seed_init_deterministic);
    RUN(test_seed_forward_matches_reference);
    RUN(test_seed_backward_fd);
    RUN(test_seed_backward_accumulates);
    RUN(test_seed_residual_identity_at_init);
    RUN(test_seed_backward_needs_forward);
    RUN(test_seed_invalid_specs);
    RUN(test_seed_batch_norm_modes);
    RUN(test_seed_dropout_masks);
    RUN(test_sgemm_tiled_vs_reference);
}
