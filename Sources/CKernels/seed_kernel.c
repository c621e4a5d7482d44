/* seed_kernel.c — the public seed-kernel API: spec validation, the tensor table, buffer sizes,
 * deterministic initialisation, the runtime, and dispatch of forward/backward to the kind.
 *
 * Every entry point re-validates the spec and rebuilds its tensor table (a few dozen integer
 * operations) instead of trusting a cached handle: a spec is plain data that Swift decodes from
 * an artifact, so a corrupt or hand-made one must fail here, never index out of bounds.
 */
#include "seed_internal.h"

#include <stdlib.h>

static const seed_kind_ops *const all_kinds[] = {
    &seed_identity_ops,         &seed_linear_ops,          &seed_layer_norm_ops,
    &seed_dropout_ops,          &seed_activation_ops,      &seed_batch_norm_ops,
    &seed_max_pool_ops,         &seed_layer_scale_ops,     &seed_grouped_linear_ops,
    &seed_highway_ops,          &seed_residual_mlp_ops,    &seed_gated_ffn_ops,
    &seed_conv1d_ops,           &seed_squeeze_excite_ops,  &seed_slice_attention_ops,
    &seed_memory_attention_ops, &seed_mixture_ops,         &seed_pool_project_ops,
    &seed_dense_block_ops,      &seed_positional_ops,      &seed_recurrent_ops,
    &seed_nas_mixture_ops,      &seed_fault_exploding_ops, &seed_fault_vanishing_ops,
    &seed_fault_nan_ops,        &seed_fault_spin_ops,      &seed_fault_leak_ops,
    &seed_fault_deadlock_ops,   &seed_fault_race_ops,      &seed_fault_noise_ops,
    &seed_fault_hang_ops,
};

static const seed_kind_ops *find_kind(uint32_t kind)
{
    for (size_t i = 0; i < sizeof all_kinds / sizeof all_kinds[0]; i++)
        if (all_kinds[i]->kind == kind)
            return all_kinds[i];
    return NULL;
}

void seed_table_add(seed_table *t, const char *name, uint32_t ndim, size_t d0, size_t d1, size_t d2,
                    uint32_t init, float init_value, size_t fan_in)
{
    if (t->n >= CK_SEED_MAX_TENSORS) /* kinds are written to stay below the cap; never reached */
        return;
    ck_seed_tensor *e = &t->t[t->n++];
    memset(e, 0, sizeof *e);
    for (size_t i = 0; name[i] && i + 1 < CK_SEED_TENSOR_NAME_BYTES; i++)
        e->name[i] = name[i];
    e->ndim = ndim;
    e->dims[0] = (uint32_t)d0;
    e->dims[1] = (uint32_t)d1;
    e->dims[2] = (uint32_t)d2;
    e->dims[3] = 1;
    e->count = d0 * d1 * d2;
    e->offset = t->floats;
    e->init_rule = init;
    e->init_value = init_value;
    e->fan_in = (uint32_t)fan_in;
    t->floats += e->count;
}

void seed_no_tensors(const ck_seed_spec *s, seed_table *t) { (void)s, (void)t; }

/* Generic checks, then the kind's own; on success fills *ops and *tab. */
static int prepare(const ck_seed_spec *s, const seed_kind_ops **ops, seed_table *tab)
{
    if (!s)
        return CK_ERR_NULL;
    const seed_kind_ops *k = find_kind(s->kind);
    if (!k)
        return CK_ERR_ARG;
    if (s->d == 0 || s->d > CK_SEED_MAX_WIDTH)
        return CK_ERR_SIZE;
    if (s->variant > CK_VARIANT_VECTOR || !(k->variants & (1u << s->variant)))
        return CK_ERR_ARG;
    if (s->variant == CK_VARIANT_TILED) {
        if (s->tile_m == 0 || s->tile_n == 0 || s->tile_k == 0 || s->tile_m > 4096 ||
            s->tile_n > 4096 || s->tile_k > 4096)
            return CK_ERR_ARG;
    } else if (s->tile_m || s->tile_n || s->tile_k) {
        return CK_ERR_ARG;
    }
    const uint32_t u = k->uses;
    if ((!(u & USES_HIDDEN) && s->hidden) || (!(u & USES_COUNT) && s->count) ||
        (!(u & USES_ROUNDS) && s->rounds) || (!(u & USES_WINDOW) && s->window) ||
        (!(u & USES_DILATION) && s->dilation) || (!(u & USES_TOP_K) && s->top_k) ||
        (!(u & USES_ACTIVATION) && s->activation) || (!(u & USES_CAUSAL) && s->causal) ||
        (!(u & USES_ITERATIONS) && s->iterations) || (!(u & USES_SCALAR) && s->scalar != 0.0f))
        return CK_ERR_ARG;
    if (!isfinite(s->scalar) || s->causal > 1)
        return CK_ERR_ARG;
    if ((u & USES_ACTIVATION) && !seed_activation_ok(s->activation))
        return CK_ERR_ARG;
    int st = k->check ? k->check(s) : CK_OK;
    if (st != CK_OK)
        return st;
    memset(tab, 0, sizeof *tab);
    k->table(s, tab);
    if (tab->floats > CK_SEED_MAX_PARAM_FLOATS)
        return CK_ERR_SIZE;
    *ops = k;
    return CK_OK;
}

int ck_seed_validate(const ck_seed_spec *s)
{
    const seed_kind_ops *k;
    seed_table tab;
    return prepare(s, &k, &tab);
}

size_t ck_seed_param_floats(const ck_seed_spec *s)
{
    const seed_kind_ops *k;
    seed_table tab;
    return prepare(s, &k, &tab) == CK_OK ? tab.floats : 0;
}

size_t ck_seed_tensor_count(const ck_seed_spec *s)
{
    const seed_kind_ops *k;
    seed_table tab;
    return prepare(s, &k, &tab) == CK_OK ? tab.n : 0;
}

int ck_seed_tensor_info(const ck_seed_spec *s, size_t index, ck_seed_tensor *out)
{
    const seed_kind_ops *k;
    seed_table tab;
    int st = prepare(s, &k, &tab);
    if (st != CK_OK)
        return st;
    if (!out)
        return CK_ERR_NULL;
    if (index >= tab.n)
        return CK_ERR_SIZE;
    *out = tab.t[index];
    return CK_OK;
}

size_t ck_seed_workspace_floats(const ck_seed_spec *s, size_t B)
{
    const seed_kind_ops *k;
    seed_table tab;
    if (B > SEED_MAX_BATCH || prepare(s, &k, &tab) != CK_OK)
        return 0;
    return k->workspace ? k->workspace(s, B) : 0;
}

size_t ck_seed_state_floats(const ck_seed_spec *s)
{
    const seed_kind_ops *k;
    seed_table tab;
    if (prepare(s, &k, &tab) != CK_OK)
        return 0;
    return k->state ? k->state(s) : 0;
}

double ck_seed_forward_flops(const ck_seed_spec *s, size_t B)
{
    const seed_kind_ops *k;
    seed_table tab;
    if (prepare(s, &k, &tab) != CK_OK)
        return 0.0;
    return k->flops ? k->flops(s, B) : (double)B * s->d;
}

uint64_t seed_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t ck_splitmix64_next(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ULL;
    return seed_mix64(*state);
}

int ck_seed_init_params(const ck_seed_spec *s, float *params, uint64_t seed)
{
    const seed_kind_ops *k;
    seed_table tab;
    int st = prepare(s, &k, &tab);
    if (st != CK_OK)
        return st;
    if (tab.floats && !params)
        return CK_ERR_NULL;
    for (size_t i = 0; i < tab.n; i++) {
        const ck_seed_tensor *e = &tab.t[i];
        float *w = params + e->offset;
        uint64_t stream = seed ^ ((uint64_t)i * 0x9E3779B97F4A7C15ULL);
        switch (e->init_rule) {
        case CK_INIT_ZERO:
            for (size_t j = 0; j < e->count; j++)
                w[j] = 0.0f;
            break;
        case CK_INIT_CONST:
            for (size_t j = 0; j < e->count; j++)
                w[j] = e->init_value;
            break;
        default: {
            /* sqrt is correctly rounded (IEEE 754), so the bound is the same everywhere. */
            const double a = (double)e->init_value / sqrt((double)(e->fan_in ? e->fan_in : 1));
            for (size_t j = 0; j < e->count; j++) {
                const double u = (double)(ck_splitmix64_next(&stream) >> 40) * 0x1.0p-24;
                w[j] = (float)(a * (2.0 * u - 1.0));
            }
        }
        }
    }
    return CK_OK;
}

int ck_seed_runtime_init(ck_seed_runtime *rt, const ck_seed_spec *s, float *state, uint64_t seed)
{
    const seed_kind_ops *k;
    seed_table tab;
    if (!rt)
        return CK_ERR_NULL;
    int st = prepare(s, &k, &tab);
    if (st != CK_OK)
        return st;
    const size_t nstate = k->state ? k->state(s) : 0;
    if (nstate && !state)
        return CK_ERR_NULL;
    memset(rt, 0, sizeof *rt);
    rt->state = state;
    rt->seed = seed;
    rt->prng = seed ^ 0xA0761D6478BD642FULL;
    rt->training = 1;
    if (s->kind == CK_SEED_BATCH_NORM) { /* running mean 0, running variance 1 */
        for (size_t j = 0; j < s->d; j++) {
            state[j] = 0.0f;
            state[s->d + j] = 1.0f;
        }
    }
    return CK_OK;
}

void ck_seed_runtime_release(ck_seed_runtime *rt)
{
    if (!rt)
        return;
    free(rt->arena);
    rt->arena = NULL;
    rt->arena_bytes = 0;
}

int ck_seed_forward(const ck_seed_spec *s, const float *params, ck_seed_runtime *rt, float *ws,
                    float *y, const float *x, size_t B)
{
    const seed_kind_ops *k;
    seed_table tab;
    int st = prepare(s, &k, &tab);
    if (st != CK_OK)
        return st;
    if (B > SEED_MAX_BATCH)
        return CK_ERR_SIZE;
    if (!rt || (tab.floats && !params) || (B && (!x || !y)))
        return CK_ERR_NULL;
    if (k->state && k->state(s) && !rt->state)
        return CK_ERR_STATE;
    const size_t nws = k->workspace ? k->workspace(s, B) : 0;
    if (nws && !ws)
        return CK_ERR_NULL;
    rt->forwarded = 0;
    if (B == 0)
        return CK_OK;
    seed_ctx c = {s, &tab, params, rt, ws, B};
    st = k->forward(&c, y, x);
    if (st == CK_OK) {
        rt->forwarded = 1;
        rt->last_batch = (uint32_t)B;
    }
    return st;
}

int ck_seed_backward(const ck_seed_spec *s, const float *params, ck_seed_runtime *rt, float *ws,
                     float *dparams, float *dx, const float *dy, const float *x, size_t B)
{
    const seed_kind_ops *k;
    seed_table tab;
    int st = prepare(s, &k, &tab);
    if (st != CK_OK)
        return st;
    if (!rt)
        return CK_ERR_NULL;
    if (!rt->forwarded || rt->last_batch != B || B == 0)
        return CK_ERR_STATE;
    if ((tab.floats && (!params || !dparams)) || !dy || !x)
        return CK_ERR_NULL;
    const size_t nws = k->workspace ? k->workspace(s, B) : 0;
    if (nws && !ws)
        return CK_ERR_NULL;
    seed_ctx c = {s, &tab, params, rt, ws, B};
    return k->backward(&c, dparams, dx, dy, x);
}
