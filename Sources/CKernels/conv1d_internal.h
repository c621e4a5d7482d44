/* conv1d_internal.h — what conv1d.c shares with the direct (AVX-512) conv1d kernels. */
#ifndef CK_CONV1D_INTERNAL_H
#define CK_CONV1D_INTERNAL_H

#include "ckernels.h"

/* Taps [*k0, *k1) of output position t read real positions (the rest read padding); the
 * positions they read, t·stride + k − pad_left, are contiguous, and so are their channels. */
void ck_conv1d_tap_range(const ck_conv1d_dims *d, size_t t, size_t *k0, size_t *k1);

/* 1 when the direct kernels can run d with act on this CPU (AVX-512F, at most 32 output channels,
 * IDENTITY or RELU). */
int ck_conv1d_direct_supported(const ck_conv1d_dims *d, ck_activation act);

/* d validated, out = its output length, cols = the im2col matrix, buffers sized as in ckernels.h.
 * Forward: z = cols W^T + bias, y = act(z); CK_ERR_SIZE if the packed W^T cannot be allocated. */
int ck_conv1d_direct_forward(float *y, float *z, const float *cols, const float *W,
                             const float *bias, ck_activation act, const ck_conv1d_dims *d,
                             size_t out);
/* dz = dy act'(z) (overwritten), dbias += colsum(dz) (nullable). */
void ck_conv1d_direct_act_grad(float *dz, float *dbias, const float *dy, const float *z,
                               ck_activation act, const ck_conv1d_dims *d, size_t out);
/* dW += dz^T cols. */
void ck_conv1d_direct_weight_grad(float *dW, const float *dz, const float *cols,
                                  const ck_conv1d_dims *d, size_t out);
/* dx = col2im(dz W) (overwritten). */
void ck_conv1d_direct_input_grad(float *dx, const float *dz, const float *W,
                                 const ck_conv1d_dims *d, size_t out);

#endif
