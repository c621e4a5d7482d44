/* policy_gradient.c — the policy-gradient pieces of PPO (Simic): a masked log-softmax with
 * per-row entropy, the clipped surrogate objective, and the gradient of
 * sum_b coef[b] log p[b, a_b] + ent_w sum_b H_b with respect to the logits. Actions outside a
 * row's mask have probability 0, log-probability 0 (by convention) and zero gradient. */
#include "ckernels.h"

#include <math.h>

#define ALLOWED(mask, j) (((mask) >> (j)) & 1u)

int ck_masked_log_softmax(float *logp, float *probs, float *entropy, const float *logits,
                          const uint32_t *mask, size_t B, size_t C)
{
    if (!logp || !probs || !entropy || !logits || !mask)
        return CK_ERR_NULL;
    if (B == 0 || C == 0 || C > 32)
        return CK_ERR_SIZE;
    for (size_t b = 0; b < B; b++) {
        const uint32_t m = C == 32 ? mask[b] : mask[b] & ((1u << C) - 1u);
        if (m == 0)
            return CK_ERR_ARG;
    }
    for (size_t b = 0; b < B; b++) {
        const float *z = logits + b * C;
        float *lp = logp + b * C, *p = probs + b * C;
        float top = -INFINITY;
        for (size_t j = 0; j < C; j++)
            if (ALLOWED(mask[b], j) && z[j] > top)
                top = z[j];
        double sum = 0.0;
        for (size_t j = 0; j < C; j++)
            if (ALLOWED(mask[b], j))
                sum += exp((double)z[j] - top);
        const double lse = (double)top + log(sum);
        double h = 0.0;
        for (size_t j = 0; j < C; j++) {
            if (ALLOWED(mask[b], j)) {
                const double l = (double)z[j] - lse;
                lp[j] = (float)l;
                p[j] = (float)exp(l);
                h -= exp(l) * l;
            } else {
                lp[j] = 0.0f;
                p[j] = 0.0f;
            }
        }
        entropy[b] = (float)h;
    }
    return CK_OK;
}

int ck_ppo_surrogate(float *loss, float *coef, size_t *clipped, const float *logp_new,
                     const float *logp_old, const float *advantage, float epsilon, size_t B)
{
    if (!loss || !coef || !logp_new || !logp_old || !advantage)
        return CK_ERR_NULL;
    if (B == 0)
        return CK_ERR_SIZE;
    if (!(epsilon >= 0.0f) || !isfinite(epsilon))
        return CK_ERR_ARG;
    double total = 0.0;
    size_t n_clipped = 0;
    for (size_t b = 0; b < B; b++) {
        const double r = exp((double)logp_new[b] - (double)logp_old[b]);
        const double a = advantage[b];
        const double rc = fmin(fmax(r, 1.0 - epsilon), 1.0 + epsilon);
        const double s1 = r * a, s2 = rc * a;
        if (s1 <= s2) {
            total += s1;
            coef[b] = (float)(-r * a / (double)B);
        } else {
            total += s2;
            coef[b] = 0.0f;
            n_clipped++;
        }
    }
    *loss = (float)(-total / (double)B);
    if (clipped)
        *clipped = n_clipped;
    return CK_OK;
}

int ck_policy_logits_backward(float *dlogits, const float *probs, const float *logp,
                              const float *entropy, const int32_t *actions, const float *coef,
                              float ent_w, const uint32_t *mask, size_t B, size_t C)
{
    if (!dlogits || !probs || !logp || !entropy || !actions || !coef || !mask)
        return CK_ERR_NULL;
    if (B == 0 || C == 0 || C > 32)
        return CK_ERR_SIZE;
    for (size_t b = 0; b < B; b++)
        if (actions[b] < 0 || (size_t)actions[b] >= C || !ALLOWED(mask[b], (uint32_t)actions[b]))
            return CK_ERR_LABEL;
    for (size_t b = 0; b < B; b++) {
        const float *p = probs + b * C, *lp = logp + b * C;
        float *d = dlogits + b * C;
        for (size_t j = 0; j < C; j++) {
            if (!ALLOWED(mask[b], j)) {
                d[j] = 0.0f;
                continue;
            }
            const double onehot = (size_t)actions[b] == j ? 1.0 : 0.0;
            const double g = (double)coef[b] * (onehot - p[j])
                             - (double)ent_w * p[j] * ((double)lp[j] + entropy[b]);
            d[j] = (float)g;
        }
    }
    return CK_OK;
}
