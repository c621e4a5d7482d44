/* test_conv1d.c — conv1d forward against a naive double-precision convolution, backward against
 * central differences, 'same'/'valid' output lengths, argument checks. */
#include "test_util.h"

#include "../../Sources/CKernels/conv1d_internal.h" /* ck_conv1d_direct_force: every direct ISA */

/* y[b,t,o] = act(bias[o] + Σ_k Σ_c W[o,k,c] x[b, t·s + k − pl, c]) in double, zero padding. */
static void reference(float *y, const float *x, const float *W, const float *bias, ck_activation act,
                      const ck_conv1d_dims *d)
{
    const size_t out = ck_conv1d_out_length(d->length, d->kernel, d->stride, d->pad_left, d->pad_right);
    for (size_t b = 0; b < d->batch; b++)
        for (size_t t = 0; t < out; t++)
            for (size_t o = 0; o < d->out_channels; o++) {
                double acc = bias ? bias[o] : 0.0;
                for (size_t k = 0; k < d->kernel; k++) {
                    const long p = (long)(t * d->stride + k) - (long)d->pad_left;
                    if (p < 0 || p >= (long)d->length)
                        continue;
                    for (size_t c = 0; c < d->in_channels; c++)
                        acc += (double)W[(o * d->kernel + k) * d->in_channels + c] *
                               x[(b * d->length + (size_t)p) * d->in_channels + c];
                }
                switch (act) {
                case CK_ACT_RELU: acc = acc > 0 ? acc : 0; break;
                case CK_ACT_TANH: acc = tanh(acc); break;
                case CK_ACT_GELU:
                    acc = 0.5 * acc * (1 + tanh(0.7978845608028654 * (acc + 0.044715 * acc * acc * acc)));
                    break;
                default: break;
                }
                y[(b * out + t) * d->out_channels + o] = (float)acc;
            }
}

struct shape {
    size_t batch, cin, length, cout, kernel, stride, pl, pr;
};

static const struct shape shapes[] = {
    {3, 1, 40, 5, 5, 2, 1, 1},  /* the MNIST-1D CNN's first layer (padding 1) */
    {2, 4, 19, 3, 3, 2, 1, 1},  /* its later layers, fewer channels */
    {2, 3, 11, 4, 3, 1, 0, 0},  /* valid, stride 1 */
    {1, 2, 7, 2, 7, 1, 3, 3},   /* kernel as long as the signal, 'same' at stride 1 */
    {4, 2, 9, 3, 4, 3, 1, 2},   /* uneven padding, stride 3 */
    {2, 3, 5, 2, 1, 1, 0, 0},   /* 1x1 convolution */
    {2, 2, 4, 3, 2, 1, 3, 3},   /* padding wider than the kernel: edge rows read only zeros */
};

static ck_conv1d_dims dims_of(const struct shape *s)
{
    ck_conv1d_dims d = {s->batch, s->cin, s->length, s->cout, s->kernel, s->stride, s->pl, s->pr};
    return d;
}

static void conv1d_matches_double_reference(void)
{
    const ck_activation acts[] = {CK_ACT_IDENTITY, CK_ACT_RELU, CK_ACT_GELU, CK_ACT_TANH};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const ck_conv1d_dims d = dims_of(&shapes[i]);
        const size_t out = ck_conv1d_out_length(d.length, d.kernel, d.stride, d.pad_left, d.pad_right);
        const size_t nx = d.batch * d.length * d.in_channels, nw = d.out_channels * d.kernel * d.in_channels;
        const size_t ny = d.batch * out * d.out_channels;
        EXPECT(ck_conv1d_cols_count(&d) == d.batch * out * d.kernel * d.in_channels, "cols count");
        float *x = talloc(nx), *W = talloc(nw), *bias = talloc(d.out_channels);
        float *y = talloc(ny), *z = talloc(ny), *want = talloc(ny), *cols = talloc(ck_conv1d_cols_count(&d));
        fill_uniform(x, nx, -1, 1, 10 + i);
        fill_uniform(W, nw, -1, 1, 20 + i);
        fill_uniform(bias, d.out_channels, -0.5f, 0.5f, 30 + i);
        for (size_t a = 0; a < 4; a++) {
            EXPECT(ck_conv1d_forward(y, z, cols, x, W, bias, acts[a], &d) == CK_OK, "forward shape %zu", i);
            reference(want, x, W, bias, acts[a], &d);
            EXPECT_CLOSE("y", y, want, ny, 1e-5, 1e-5);
        }
        /* z keeps the pre-activation; no bias is no bias. */
        EXPECT(ck_conv1d_forward(y, z, cols, x, W, NULL, CK_ACT_IDENTITY, &d) == CK_OK, "forward");
        reference(want, x, W, NULL, CK_ACT_IDENTITY, &d);
        EXPECT_CLOSE("z", z, want, ny, 1e-5, 1e-5);
    }
}

static void conv1d_output_lengths(void)
{
    size_t pl = 9, pr = 9;
    EXPECT(ck_conv1d_out_length(40, 5, 2, 1, 1) == 19, "40, k5 s2 p1");
    EXPECT(ck_conv1d_out_length(19, 3, 2, 1, 1) == 10, "19, k3 s2 p1");
    EXPECT(ck_conv1d_out_length(10, 3, 2, 1, 1) == 5, "10, k3 s2 p1");
    EXPECT(ck_conv1d_out_length(40, 5, 2, 0, 0) == 18, "valid");
    EXPECT(ck_conv1d_out_length(4, 5, 1, 0, 0) == 0, "kernel longer than the signal leaves nothing");
    EXPECT(ck_conv1d_out_length(4, 5, 0, 2, 2) == 0, "stride 0");
    EXPECT(ck_conv1d_same_padding(40, 5, 2, &pl, &pr) == CK_OK && pl == 1 && pr == 2, "same 40 k5 s2: %zu %zu", pl, pr);
    EXPECT(ck_conv1d_out_length(40, 5, 2, pl, pr) == 20, "same keeps ceil(L/s)");
    EXPECT(ck_conv1d_same_padding(7, 3, 1, &pl, &pr) == CK_OK && pl == 1 && pr == 1, "same k3 s1");
    EXPECT(ck_conv1d_same_padding(10, 1, 4, &pl, &pr) == CK_OK && pl == 0 && pr == 0, "same k1 s4");
    EXPECT(ck_conv1d_same_padding(0, 3, 1, &pl, &pr) == CK_ERR_SIZE, "empty signal");
}

struct ctx {
    ck_conv1d_dims d;
    ck_activation act;
    float *x, *W, *bias, *y, *z, *cols, *w;
    size_t ny;
};

/* L = Σ w ⊙ y, so ∂L/∂y = w. */
static double loss(void *opaque)
{
    struct ctx *c = opaque;
    ck_conv1d_forward(c->y, c->z, c->cols, c->x, c->W, c->bias, c->act, &c->d);
    return dot_d(c->y, c->w, c->ny);
}

static void conv1d_gradients_match_finite_differences(void)
{
    /* GELU and TANH are smooth; RELU is checked too, with inputs away from its kink by the data. */
    const ck_activation acts[] = {CK_ACT_IDENTITY, CK_ACT_GELU, CK_ACT_TANH, CK_ACT_RELU};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (size_t a = 0; a < 4; a++) {
            struct ctx c = {dims_of(&shapes[i]), acts[a], 0, 0, 0, 0, 0, 0, 0, 0};
            const ck_conv1d_dims *d = &c.d;
            const size_t out = ck_conv1d_out_length(d->length, d->kernel, d->stride, d->pad_left, d->pad_right);
            const size_t nx = d->batch * d->length * d->in_channels, nw = d->out_channels * d->kernel * d->in_channels;
            const size_t ncols = ck_conv1d_cols_count(d);
            c.ny = d->batch * out * d->out_channels;
            c.x = talloc(nx), c.W = talloc(nw), c.bias = talloc(d->out_channels);
            c.y = talloc(c.ny), c.z = talloc(c.ny), c.cols = talloc(ncols), c.w = talloc(c.ny);
            float *dx = talloc(nx), *dW = talloc(nw), *db = talloc(d->out_channels), *dz = talloc(c.ny),
                  *dcols = talloc(ncols);
            fill_uniform(c.x, nx, -1, 1, 40 + i);
            fill_uniform(c.W, nw, -1, 1, 50 + i);
            fill_uniform(c.bias, d->out_channels, -0.5f, 0.5f, 60 + i);
            fill_uniform(c.w, c.ny, -1, 1, 70 + i);
            memset(dW, 0, nw * sizeof(float));
            memset(db, 0, d->out_channels * sizeof(float));
            loss(&c);
            EXPECT(ck_conv1d_backward(dx, dW, db, dz, dcols, c.w, c.z, c.y, c.cols, c.W, c.act, d) == CK_OK,
                   "backward shape %zu act %zu", i, a);
            /* A ReLU pre-activation within h of 0 makes its central difference meaningless. */
            int near_kink = 0;
            for (size_t j = 0; j < c.ny && c.act == CK_ACT_RELU; j++)
                near_kink |= fabsf(c.z[j]) < 2e-2f;
            if (near_kink)
                continue;
            FD_CHECK("dx", c.x, dx, nx, loss, &c, 1e-3f, 2e-3, 2e-2);
            FD_CHECK("dW", c.W, dW, nw, loss, &c, 1e-3f, 2e-3, 2e-2);
            FD_CHECK("dbias", c.bias, db, d->out_channels, loss, &c, 1e-3f, 2e-3, 2e-2);
        }
}

static void conv1d_backward_accumulates_and_skips_dx(void)
{
    const ck_conv1d_dims d = dims_of(&shapes[1]);
    const size_t out = ck_conv1d_out_length(d.length, d.kernel, d.stride, d.pad_left, d.pad_right);
    const size_t nx = d.batch * d.length * d.in_channels, nw = d.out_channels * d.kernel * d.in_channels;
    const size_t ny = d.batch * out * d.out_channels, ncols = ck_conv1d_cols_count(&d);
    float *x = talloc(nx), *W = talloc(nw), *y = talloc(ny), *z = talloc(ny), *cols = talloc(ncols);
    float *dy = talloc(ny), *dz = talloc(ny), *dW1 = talloc(nw), *dW2 = talloc(nw), *db = talloc(d.out_channels);
    fill_uniform(x, nx, -1, 1, 80);
    fill_uniform(W, nw, -1, 1, 81);
    fill_uniform(dy, ny, -1, 1, 82);
    memset(dW1, 0, nw * sizeof(float));
    memset(db, 0, d.out_channels * sizeof(float));
    ck_conv1d_forward(y, z, cols, x, W, NULL, CK_ACT_TANH, &d);
    EXPECT(ck_conv1d_backward(NULL, dW1, db, dz, NULL, dy, z, y, cols, W, CK_ACT_TANH, &d) == CK_OK, "no dx");
    memcpy(dW2, dW1, nw * sizeof(float));
    EXPECT(ck_conv1d_backward(NULL, dW2, NULL, dz, NULL, dy, z, y, cols, W, CK_ACT_TANH, &d) == CK_OK, "again");
    for (size_t i = 0; i < nw; i++)
        EXPECT(fabsf(dW2[i] - 2 * dW1[i]) <= 1e-5f * (1 + fabsf(dW1[i])), "dW[%zu] accumulates", i);
}

static void conv1d_rejects_bad_arguments(void)
{
    ck_conv1d_dims d = dims_of(&shapes[2]);
    float buf[4096] = {0};
    EXPECT(ck_conv1d_forward(buf, buf + 1024, buf + 2048, buf + 3072, buf, NULL, (ck_activation)9, &d) == CK_ERR_ARG, "act");
    EXPECT(ck_conv1d_forward(buf, buf, buf, NULL, buf, NULL, CK_ACT_RELU, &d) == CK_ERR_NULL, "null x");
    EXPECT(ck_conv1d_forward(buf, buf, buf, buf, buf, NULL, CK_ACT_RELU, NULL) == CK_ERR_NULL, "null dims");
    d.stride = 0;
    EXPECT(ck_conv1d_forward(buf, buf, buf, buf, buf, NULL, CK_ACT_RELU, &d) == CK_ERR_SIZE, "stride 0");
    d = dims_of(&shapes[2]);
    d.kernel = 12;
    EXPECT(ck_conv1d_forward(buf, buf, buf, buf, buf, NULL, CK_ACT_RELU, &d) == CK_ERR_SIZE, "nothing left");
    EXPECT(ck_conv1d_cols_count(&d) == 0, "no cols for an invalid shape");
    d = dims_of(&shapes[2]);
    d.batch = SIZE_MAX / 2;
    EXPECT(ck_conv1d_cols_count(&d) == 0, "overflow");
    d = dims_of(&shapes[2]);
    EXPECT(ck_conv1d_backward(buf, buf, NULL, buf, NULL, buf, buf, buf, buf, buf, CK_ACT_RELU, &d) == CK_ERR_NULL,
           "dx without dcols");
}

/* dL/dx, dL/dW, dL/dbias in double for L = Σ dy ⊙ act(z) (act IDENTITY or RELU, z from the
 * reference forward): the exact gradients both paths must reproduce. */
static void reference_backward(double *dx, double *dW, double *db, const float *dy, const float *x,
                               const float *W, const float *bias, ck_activation act, const ck_conv1d_dims *d)
{
    const size_t out = ck_conv1d_out_length(d->length, d->kernel, d->stride, d->pad_left, d->pad_right);
    const size_t C = d->in_channels, K = d->kernel;
    memset(dx, 0, d->batch * d->length * C * sizeof(double));
    memset(dW, 0, d->out_channels * K * C * sizeof(double));
    memset(db, 0, d->out_channels * sizeof(double));
    for (size_t b = 0; b < d->batch; b++)
        for (size_t t = 0; t < out; t++)
            for (size_t o = 0; o < d->out_channels; o++) {
                double z = bias ? bias[o] : 0.0;
                for (size_t k = 0; k < K; k++) {
                    const long p = (long)(t * d->stride + k) - (long)d->pad_left;
                    for (size_t c = 0; p >= 0 && p < (long)d->length && c < C; c++)
                        z += (double)W[(o * K + k) * C + c] * x[(b * d->length + (size_t)p) * C + c];
                }
                const double g = act == CK_ACT_RELU && z <= 0 ? 0.0 : dy[(b * out + t) * d->out_channels + o];
                db[o] += g;
                for (size_t k = 0; k < K; k++) {
                    const long p = (long)(t * d->stride + k) - (long)d->pad_left;
                    for (size_t c = 0; p >= 0 && p < (long)d->length && c < C; c++) {
                        dW[(o * K + k) * C + c] += g * x[(b * d->length + (size_t)p) * C + c];
                        dx[(b * d->length + (size_t)p) * C + c] += g * W[(o * K + k) * C + c];
                    }
                }
            }
}

static void expect_close_d(const char *what, const float *got, const double *want, size_t n, size_t shape, int path)
{
    for (size_t i = 0; i < n; i++)
        EXPECT(fabs(got[i] - want[i]) <= 1e-4 * (1 + fabs(want[i])), "%s[%zu] shape %zu path %d: %g vs %g", what, i,
               shape, path, got[i], want[i]);
}

/* Both paths (GEMM everywhere; DIRECT on the instruction set forced by the caller) against the
 * double reference, on shapes around the direct kernels' tiles: 1, 8, 9, 16, 17, 24, 25 and 32
 * output channels (one to four 8-float or one or two 16-float vectors, masked edges), taps
 * (K·C_in) of 1 to 90 (at most 8: the AVX-512 few-taps weight gradient; 24 and 80: the AVX2 and
 * AVX-512 input-gradient chunks, more: a second chunk), rows not a multiple of the tiles' 3, 4, 6
 * or 8, stride 1 to 3, 'same' / 'valid' / wide padding, batch 1, C_in 1. */
static void paths_match_double_reference(void)
{
    static const struct shape cases[] = {
        {100, 1, 40, 25, 5, 2, 1, 1}, /* the MNIST-1D CNN, exactly */
        {100, 25, 19, 25, 3, 2, 1, 1},
        {100, 25, 10, 25, 3, 2, 1, 1},
        {1, 1, 40, 25, 5, 2, 1, 1},   /* batch 1 */
        {3, 1, 13, 1, 3, 1, 1, 1},    /* one output channel, 'same' at stride 1 */
        {2, 5, 17, 16, 3, 1, 0, 0},   /* exactly one vector, valid */
        {2, 5, 17, 17, 3, 2, 1, 2},   /* one lane into the second vector, 'same' at stride 2 */
        {3, 8, 9, 32, 4, 3, 1, 2},    /* two full vectors, stride 3 */
        {2, 30, 12, 7, 3, 1, 1, 1},   /* 90 taps: a second chunk of taps */
        {2, 21, 11, 9, 3, 2, 0, 0},   /* 63 taps: four vectors, the last masked */
        {2, 2, 4, 3, 2, 1, 3, 3},     /* rows that read only padding */
        {2, 4, 9, 17, 2, 2, 0, 1},    /* 8 taps: the few-taps weight gradient's widest */
        {2, 3, 9, 20, 3, 1, 1, 1},    /* 9 taps: just past it */
        {3, 1, 6, 32, 1, 1, 0, 0},    /* 1 tap (1x1, C_in 1), 32 output channels */
        {1, 3, 5, 33, 1, 1, 0, 0},    /* 33 output channels: GEMM only */
        {2, 3, 9, 24, 3, 1, 1, 1},    /* three full 8-float vectors */
        {2, 2, 9, 8, 3, 1, 1, 1},     /* one full 8-float vector */
        {3, 9, 8, 9, 3, 1, 1, 1},     /* one lane into the second 8-float vector, 27 taps */
    };
    const ck_conv1d_path paths[] = {CK_CONV1D_GEMM, CK_CONV1D_DIRECT, CK_CONV1D_AUTO};
    const ck_activation acts[] = {CK_ACT_IDENTITY, CK_ACT_RELU};
    int direct_ran = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ck_conv1d_dims d = dims_of(&cases[i]);
        const size_t out = ck_conv1d_out_length(d.length, d.kernel, d.stride, d.pad_left, d.pad_right);
        const size_t nx = d.batch * d.length * d.in_channels, nw = d.out_channels * d.kernel * d.in_channels;
        const size_t ny = d.batch * out * d.out_channels, ncols = ck_conv1d_cols_count(&d);
        float *x = talloc(nx), *W = talloc(nw), *bias = talloc(d.out_channels), *dy = talloc(ny);
        float *y = talloc(ny), *z = talloc(ny), *want = talloc(ny), *cols = talloc(ncols), *dcols = talloc(ncols);
        float *dx = talloc(nx), *dW = talloc(nw), *db = talloc(d.out_channels), *dz = talloc(ny);
        double *rdx = calloc(nx, sizeof(double)), *rdW = calloc(nw, sizeof(double)),
               *rdb = calloc(d.out_channels, sizeof(double));
        fill_uniform(x, nx, -1, 1, 110 + i);
        fill_uniform(W, nw, -1, 1, 120 + i);
        fill_uniform(bias, d.out_channels, -0.5f, 0.5f, 130 + i);
        fill_uniform(dy, ny, -1, 1, 140 + i);
        for (size_t a = 0; a < 2; a++) {
            reference(want, x, W, bias, acts[a], &d);
            reference_backward(rdx, rdW, rdb, dy, x, W, bias, acts[a], &d);
            for (size_t p = 0; p < 3; p++) {
                if (!ck_conv1d_path_supported(paths[p], &d, acts[a])) {
                    EXPECT(ck_conv1d_forward_with(paths[p], y, z, cols, x, W, bias, acts[a], &d) == CK_ERR_ARG,
                           "unsupported path %d is refused", (int)paths[p]);
                    continue;
                }
                direct_ran |= paths[p] == CK_CONV1D_DIRECT;
                fill_uniform(y, ny, 7, 8, 1); /* stale values must be overwritten */
                fill_uniform(dx, nx, 7, 8, 2);
                EXPECT(ck_conv1d_forward_with(paths[p], y, z, cols, x, W, bias, acts[a], &d) == CK_OK, "forward");
                EXPECT_CLOSE("y", y, want, ny, 1e-5, 1e-5);
                /* dW and dbias accumulate: start them at 1 and compare with 1 + gradient */
                for (size_t j = 0; j < nw; j++)
                    dW[j] = 1.0f;
                for (size_t j = 0; j < d.out_channels; j++)
                    db[j] = 1.0f;
                EXPECT(ck_conv1d_backward_with(paths[p], dx, dW, db, dz, dcols, dy, z, y, cols, W, acts[a], &d) ==
                           CK_OK,
                       "backward");
                for (size_t j = 0; j < nw; j++)
                    dW[j] -= 1.0f;
                for (size_t j = 0; j < d.out_channels; j++)
                    db[j] -= 1.0f;
                expect_close_d("dx", dx, rdx, nx, i, (int)paths[p]);
                expect_close_d("dW", dW, rdW, nw, i, (int)paths[p]);
                expect_close_d("dbias", db, rdb, d.out_channels, i, (int)paths[p]);
            }
        }
        free(rdx), free(rdW), free(rdb);
    }
    EXPECT(ck_conv1d_path_supported(CK_CONV1D_DIRECT, NULL, CK_ACT_RELU) == 0, "no dims, no direct path");
    EXPECT(ck_conv1d_path_supported((ck_conv1d_path)7, &(ck_conv1d_dims){1, 1, 4, 1, 1, 1, 0, 0}, CK_ACT_RELU) == 0,
           "unknown path");
    EXPECT(!ck_conv1d_path_supported(CK_CONV1D_DIRECT, &(ck_conv1d_dims){1, 1, 4, 1, 1, 1, 0, 0}, CK_ACT_TANH),
           "tanh is not fused");
    if (!direct_ran)
        printf("  (no direct conv1d kernels on this CPU: only the GEMM path ran)\n");
}

/* paths_match_double_reference with the direct kernels on CPUID's choice, then forced onto each
 * instruction set this CPU has (AVX-512F, AVX2): every direct path is checked on a CPU that runs
 * it, whichever AUTO picks. */
static void conv1d_paths_match_double_reference(void)
{
    paths_match_double_reference();
    const ck_gemm_kernel isas[] = {CK_GEMM_AVX512, CK_GEMM_AVX2};
    for (size_t i = 0; i < 2; i++) {
        if (ck_conv1d_direct_force(isas[i]) != CK_OK) {
            EXPECT(!ck_gemm_kernel_supported(isas[i]), "a supported isa can be forced");
            printf("  (direct conv1d on %s: not on this CPU)\n", ck_gemm_kernel_name(isas[i]));
            continue;
        }
        EXPECT(ck_conv1d_direct_isa() == isas[i], "forced isa %s", ck_gemm_kernel_name(isas[i]));
        paths_match_double_reference();
    }
    EXPECT(ck_conv1d_direct_force(CK_GEMM_AUTO) == CK_OK, "back to CPUID's choice");
    EXPECT(ck_conv1d_direct_force(CK_GEMM_BLAS) == CK_ERR_ARG, "BLAS is no direct isa");
    EXPECT(ck_conv1d_direct_force(CK_GEMM_REFERENCE) == CK_ERR_ARG, "nor the reference");
    const ck_gemm_kernel isa = ck_conv1d_direct_isa();
    EXPECT(isa == (ck_gemm_kernel_supported(CK_GEMM_AVX512) ? CK_GEMM_AVX512
                   : ck_gemm_kernel_supported(CK_GEMM_AVX2) ? CK_GEMM_AVX2
                                                            : CK_GEMM_AUTO),
           "CPUID picks the widest, got %s", ck_gemm_kernel_name(isa));
}

void suite_conv1d(void)
{
    RUN(conv1d_paths_match_double_reference);
    RUN(conv1d_matches_double_reference);
    RUN(conv1d_output_lengths);
    RUN(conv1d_gradients_match_finite_differences);
    RUN(conv1d_backward_accumulates_and_skips_dx);
    RUN(conv1d_rejects_bad_arguments);
}
