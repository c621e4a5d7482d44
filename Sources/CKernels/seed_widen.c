/* seed_widen.c — the widening seed: k new hidden units beside a host layer. It reads the
 * layer's (detached) input x [B, n_in], computes u = relu(x U^T + c) [B, k] and returns
 * s = u V^T [B, n_out], the contribution to the next layer's pre-activation. Parameters are
 * one buffer laid out like the host's dense layers: U [k, n_in], c [k], V [n_out, k].
 * Fossilised, U and c become k new rows of the host layer and V k new columns of the next. */
#include "ckernels.h"

#include <stddef.h>

size_t ck_widen_param_count(size_t n_in, size_t k, size_t n_out) { return k * n_in + k + n_out * k; }

int ck_widen_forward(float *s, float *u, const float *x, const float *params, size_t B, size_t n_in,
                     size_t k, size_t n_out)
{
    if (!s || !u || !x || !params)
        return CK_ERR_NULL;
    if (!B || !n_in || !k || !n_out)
        return CK_ERR_SIZE;
    const float *U = params, *c = params + k * n_in, *V = c + k;
    int st = ck_linear_forward(u, x, U, c, B, n_in, k);
    if (st != CK_OK)
        return st;
    for (size_t i = 0; i < B * k; i++)
        u[i] = u[i] > 0.0f ? u[i] : 0.0f;
    return ck_linear_forward(s, u, V, NULL, B, k, n_out);
}

/* After ck_widen_forward on the same x: dparams += ∂L/∂θ given ds = ∂L/∂s; dx = ∂L/∂x when
 * non-NULL (never for an isolated seed: the detach). `du` is scratch of B * k floats. */
int ck_widen_backward(float *dparams, float *dx, float *du, const float *ds, const float *x, const float *u,
                      const float *params, size_t B, size_t n_in, size_t k, size_t n_out)
{
    if (!dparams || !du || !ds || !x || !u || !params)
        return CK_ERR_NULL;
    if (!B || !n_in || !k || !n_out)
        return CK_ERR_SIZE;
    const float *U = params, *V = params + k * n_in + k;
    float *dU = dparams, *dc = dparams + k * n_in, *dV = dc + k;
    int st = ck_linear_backward(du, dV, NULL, ds, u, V, B, k, n_out);
    if (st != CK_OK)
        return st;
    for (size_t i = 0; i < B * k; i++)
        du[i] = u[i] > 0.0f ? du[i] : 0.0f;
    return ck_linear_backward(dx, dU, dc, du, x, U, B, n_in, k);
}
