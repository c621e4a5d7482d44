/* test_clip.c — global L2 norm and clip-by-global-norm. */
#include "test_util.h"

static double naive_norm(float *const *bufs, const size_t *lens, size_t count)
{
    double s = 0.0;
    for (size_t k = 0; k < count; k++)
        for (size_t i = 0; i < lens[k]; i++)
            s += (double)bufs[k][i] * bufs[k][i];
    return sqrt(s);
}

static void test_global_norm_vs_naive(void)
{
    float *b0 = talloc(7), *b2 = talloc(13), *b3 = talloc(1);
    fill_uniform(b0, 7, -1.0f, 1.0f, 81);
    fill_uniform(b2, 13, -3.0f, 3.0f, 82);
    b3[0] = -4.0f;
    float *bufs[4] = {b0, NULL, b2, b3};
    const size_t lens[4] = {7, 0, 13, 1};
    const double want = naive_norm(bufs, lens, 4);
    const float got = ck_global_l2_norm((const float *const *)bufs, lens, 4);
    EXPECT(fabs(got - want) <= 1e-6 * want, "norm %.9g want %.9g", (double)got, want);
    EXPECT(ck_global_l2_norm(NULL, NULL, 0) == 0.0f, "empty list");
    const float three_four[2] = {3.0f, 4.0f};
    const float *one[1] = {three_four};
    const size_t two[1] = {2};
    EXPECT(ck_global_l2_norm(one, two, 1) == 5.0f, "3-4-5");
}

/* Buffers of every length around the vector widths (and a layer's worth): the norm, summed in
 * 4, 16 or 32 double lanes by CPU, is the float nearest the exact one or a neighbour of it. */
static void test_global_norm_of_long_buffers(void)
{
    for (size_t n = 1; n <= 200003; n = n < 70 ? n + 1 : n * 3 + 1) {
        float *a = talloc(n), *b = talloc(n / 3 + 1);
        fill_uniform(a, n, -2.0f, 2.0f, 90 + n);
        fill_uniform(b, n / 3 + 1, -0.5f, 0.5f, 91 + n);
        float *bufs[2] = {a, b};
        const size_t lens[2] = {n, n / 3 + 1};
        const double want = naive_norm(bufs, lens, 2);
        const float got = ck_global_l2_norm((const float *const *)bufs, lens, 2);
        EXPECT(fabs(got - want) <= 0x1p-23 * want, "n=%zu (%s): norm %.9g want %.12g", n,
               ck_gemm_kernel_name(ck_gemm_selected_kernel()), (double)got, want);
    }
}

static void test_clip_below_max_is_noop(void)
{
    float a[5], b[3], a0[5], b0[3];
    fill_uniform(a, 5, -0.1f, 0.1f, 83);
    fill_uniform(b, 3, -0.1f, 0.1f, 84);
    memcpy(a0, a, sizeof a);
    memcpy(b0, b, sizeof b);
    float *bufs[2] = {a, b};
    const size_t lens[2] = {5, 3};
    const double want = naive_norm(bufs, lens, 2);
    const float norm = ck_clip_by_global_norm(bufs, lens, 2, 1.0f);
    EXPECT(fabs(norm - want) <= 1e-6 * want, "returned norm %g want %g", (double)norm, want);
    EXPECT(memcmp(a, a0, sizeof a) == 0 && memcmp(b, b0, sizeof b) == 0, "buffers changed");
}

static void test_clip_above_max_rescales(void)
{
    float a[7], b[4], a0[7], b0[4];
    fill_uniform(a, 7, -3.0f, 3.0f, 85);
    fill_uniform(b, 4, -3.0f, 3.0f, 86);
    memcpy(a0, a, sizeof a);
    memcpy(b0, b, sizeof b);
    float *bufs[2] = {a, b};
    const size_t lens[2] = {7, 4};
    const double before = naive_norm(bufs, lens, 2);
    const float norm = ck_clip_by_global_norm(bufs, lens, 2, 0.5f);
    EXPECT(fabs(norm - before) <= 1e-6 * before, "returned pre-clip norm %g want %g", (double)norm,
           before);
    const double after = naive_norm(bufs, lens, 2);
    EXPECT(fabs(after - 0.5) < 1e-6, "norm after clip %.9g", after);
    for (int i = 0; i < 7; i++)
        EXPECT(fabs(a[i] - a0[i] * 0.5 / before) < 1e-6, "direction a[%d]", i);
    for (int i = 0; i < 4; i++)
        EXPECT(fabs(b[i] - b0[i] * 0.5 / before) < 1e-6, "direction b[%d]", i);
}

static void test_clip_scale_and_nonfinite(void)
{
    EXPECT(ck_clip_scale(5.0f, 1.0f) == 0.2f, "5 -> 1");
    EXPECT(ck_clip_scale(1.0f, 1.0f) == 1.0f, "at max");
    EXPECT(ck_clip_scale(0.5f, 1.0f) == 1.0f, "below max");
    EXPECT(ck_clip_scale(0.0f, 0.0f) == 1.0f, "zero");
    EXPECT(ck_clip_scale(INFINITY, 1.0f) == 1.0f && ck_clip_scale(NAN, 1.0f) == 1.0f, "non-finite");
    float a[3] = {1.0f, INFINITY, 2.0f};
    float *bufs[1] = {a};
    const size_t lens[1] = {3};
    EXPECT(isinf(ck_clip_by_global_norm(bufs, lens, 1, 1.0f)), "inf norm reported");
    EXPECT(a[0] == 1.0f && a[2] == 2.0f, "non-finite norm must not scale");
}

void suite_clip(void)
{
    RUN(test_global_norm_vs_naive);
    RUN(test_global_norm_of_long_buffers);
    RUN(test_clip_below_max_is_noop);
    RUN(test_clip_above_max_rescales);
    RUN(test_clip_scale_and_nonfinite);
}
