/* activation.c — elementwise activations (ReLU, GELU tanh-approximation, tanh), forward and backward.
 *
 * Simple restrict-qualified loops so -O3 vectorises them (ReLU fully; GELU/tanh are bounded by the
 * scalar tanhf call). tanh's backward takes the forward output y, since 1 - y^2 needs no tanhf.
 */
#include "ckernels.h"

#include <math.h>

#define GELU_C 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_A 0.044715f

void ck_relu_forward(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ck_relu_backward(float *restrict dx, const float *restrict dy, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float g = dy[i]; /* unconditional load so the select vectorises */
        dx[i] = x[i] > 0.0f ? g : 0.0f;
    }
}

void ck_gelu_forward(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(GELU_C * (v + GELU_A * v * v * v)));
    }
}

void ck_gelu_backward(float *restrict dx, const float *restrict dy, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* Beyond |x| = 10, tanh(u) rounds to +-1 and gelu' to exactly 1 or 0; clamping keeps
         * x^2 finite so huge inputs give 0 * finite instead of 0 * inf = NaN. */
        const float v = x[i] > 10.0f ? 10.0f : (x[i] < -10.0f ? -10.0f : x[i]);
        const float t = tanhf(GELU_C * (v + GELU_A * v * v * v));
        const float du = GELU_C * (1.0f + 3.0f * GELU_A * v * v);
        dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du);
    }
}

void ck_tanh_forward(float *restrict y, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

void ck_tanh_backward(float *restrict dx, const float *restrict dy, const float *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}
