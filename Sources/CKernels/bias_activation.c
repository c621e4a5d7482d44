/* bias_activation.c — fused bias add + activation (forward) and activation backward + bias-grad
 * reduction (backward), over a [B,N] batch.
 *
 * Fused because unfused they are two full passes over the [B,N] activations each way; here each
 * row is processed completely (bias add then activation, or activation grad then column sum) while
 * it is still in L1, so the batch is streamed through memory once.
 */
#include "ckernels.h"

#include <string.h>

int ck_bias_act_forward(ck_activation act, float *restrict y, float *restrict z,
                        const float *restrict bias, size_t B, size_t N)
{
    if (act != CK_ACT_IDENTITY && act != CK_ACT_RELU && act != CK_ACT_GELU && act != CK_ACT_TANH)
        return CK_ERR_ARG;
    if (B && N && (!y || !z))
        return CK_ERR_NULL;
    for (size_t b = 0; b < B; b++) {
        float *restrict zr = z + b * N;
        float *restrict yr = y + b * N;
        if (bias)
            for (size_t j = 0; j < N; j++)
                zr[j] += bias[j];
        switch (act) {
        case CK_ACT_IDENTITY: memcpy(yr, zr, N * sizeof(float)); break;
        case CK_ACT_RELU: ck_relu_forward(yr, zr, N); break;
        case CK_ACT_GELU: ck_gelu_forward(yr, zr, N); break;
        case CK_ACT_TANH: ck_tanh_forward(yr, zr, N); break;
        }
    }
    return CK_OK;
}

int ck_bias_act_backward(ck_activation act, float *restrict dz, float *restrict dbias,
                         const float *restrict dy, const float *restrict z,
                         const float *restrict y, size_t B, size_t N)
{
    if (act != CK_ACT_IDENTITY && act != CK_ACT_RELU && act != CK_ACT_GELU && act != CK_ACT_TANH)
        return CK_ERR_ARG;
    if (B && N && (!dz || !dy || (act == CK_ACT_TANH && !y) ||
                   ((act == CK_ACT_RELU || act == CK_ACT_GELU) && !z)))
        return CK_ERR_NULL;
    for (size_t b = 0; b < B; b++) {
        const size_t off = b * N;
        float *restrict dzr = dz + off;
        switch (act) {
        case CK_ACT_IDENTITY: memcpy(dzr, dy + off, N * sizeof(float)); break;
        case CK_ACT_RELU: ck_relu_backward(dzr, dy + off, z + off, N); break;
        case CK_ACT_GELU: ck_gelu_backward(dzr, dy + off, z + off, N); break;
        case CK_ACT_TANH: ck_tanh_backward(dzr, dy + off, y + off, N); break;
        }
        if (dbias)
            for (size_t j = 0; j < N; j++)
                dbias[j] += dzr[j];
    }
    return CK_OK;
}
