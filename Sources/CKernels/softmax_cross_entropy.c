/* softmax_cross_entropy.c — fused softmax + cross-entropy (forward and backward) and argmax/accuracy.
 *
 * Fused because the loss needs log-softmax anyway: one max/exp/sum pass per row yields both the
 * probabilities (kept for the backward) and a numerically stable loss, log(sum exp(x - max)) -
 * (x_label - max), without ever taking log of a probability that underflowed to zero.
 */
#include "ckernels.h"

#include <math.h>

static int check_labels(const int32_t *labels, size_t B, size_t C)
{
    for (size_t b = 0; b < B; b++)
        if (labels[b] < 0 || (size_t)labels[b] >= C)
            return CK_ERR_LABEL;
    return CK_OK;
}

int ck_softmax_ce_forward(float *loss, float *restrict probs, const float *restrict logits,
                          const int32_t *restrict labels, size_t B, size_t C)
{
    if (!loss || !probs || !logits || !labels)
        return CK_ERR_NULL;
    if (B == 0 || C == 0)
        return CK_ERR_SIZE;
    if (check_labels(labels, B, C) != CK_OK)
        return CK_ERR_LABEL;
    double total = 0.0;
    for (size_t b = 0; b < B; b++) {
        const float *restrict x = logits + b * C;
        float *restrict p = probs + b * C;
        float mx = x[0];
        for (size_t j = 1; j < C; j++)
            mx = x[j] > mx ? x[j] : mx;
        float sum = 0.0f;
        for (size_t j = 0; j < C; j++) {
            p[j] = expf(x[j] - mx);
            sum += p[j];
        }
        const float inv = 1.0f / sum;
        for (size_t j = 0; j < C; j++)
            p[j] *= inv;
        total += (double)logf(sum) - (double)(x[labels[b]] - mx);
    }
    *loss = (float)(total / (double)B);
    return CK_OK;
}

int ck_softmax_ce_backward(float *restrict dlogits, const float *restrict probs,
                           const int32_t *restrict labels, size_t B, size_t C)
{
    if (!dlogits || !probs || !labels)
        return CK_ERR_NULL;
    if (B == 0 || C == 0)
        return CK_ERR_SIZE;
    if (check_labels(labels, B, C) != CK_OK)
        return CK_ERR_LABEL;
    const float invB = 1.0f / (float)B;
    for (size_t b = 0; b < B; b++) {
        const float *restrict p = probs + b * C;
        float *restrict d = dlogits + b * C;
        for (size_t j = 0; j < C; j++)
            d[j] = p[j] * invB;
        d[labels[b]] -= invB;
    }
    return CK_OK;
}

static int32_t argmax(const float *x, size_t C)
{
    size_t best = 0;
    for (size_t j = 1; j < C; j++)
        if (x[j] > x[best])
            best = j;
    return (int32_t)best;
}

void ck_argmax_rows(int32_t *restrict idx, const float *restrict x, size_t B, size_t C)
{
    for (size_t b = 0; b < B; b++)
        idx[b] = argmax(x + b * C, C);
}

size_t ck_count_correct(const float *scores, const int32_t *labels, size_t B, size_t C)
{
    size_t correct = 0;
    for (size_t b = 0; b < B; b++)
        correct += argmax(scores + b * C, C) == labels[b];
    return correct;
}
