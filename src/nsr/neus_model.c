/* neus_model.c — NeuS encodings, networks and parameters (see neus.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mlp.h"
#include "phive/errors.h"

#define PAR_THREADS mlp_elementwise_threads()
#include "phive/neus.h"

/* ---- positional encoding -------------------------------------------------------------------- */

static int pe_n_out(const nsr_encoding *e) { return positional_encoding_width(e->n_in, e->n_freqs); }

static void pe_forward(const nsr_encoding *e, const param_set *p, const real *x, int rows, real *out)
{
    (void)p;
    const int width = pe_n_out(e), n_freqs = e->n_freqs, D = e->n_in;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 4096))
    for (int r = 0; r < rows; ++r) positional_encoding(x + (size_t)D * r, D, n_freqs, out + (size_t)r * width);
}

static void pe_backward(const nsr_encoding *e, param_set *p, const real *x, const real *out, int rows,
                        const real *grad_out, real *grad_x, int accumulate_params)
{
    (void)p, (void)x, (void)accumulate_params;
    if (!grad_x) return;
    const int width = pe_n_out(e), n_freqs = e->n_freqs, D = e->n_in;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 4096))
    for (int r = 0; r < rows; ++r)
        positional_encoding_vjp(out + (size_t)r * width, D, n_freqs, grad_out + (size_t)r * width,
                                grad_x + (size_t)D * r);
}

static void pe_jvp(const nsr_encoding *e, const param_set *p, const real *x, const real *out, int rows, const real *dx,
                   real *dout)
{
    (void)p, (void)x;
    const int width = pe_n_out(e), n_freqs = e->n_freqs, D = e->n_in;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 4096))
    for (int r = 0; r < rows; ++r)
        positional_encoding_jvp(out + (size_t)r * width, D, n_freqs, dx + (size_t)D * r, dout + (size_t)r * width);
}

static const nsr_encoding_ops positional_ops = {
    .name = "positional", .n_out = pe_n_out, .forward = pe_forward, .backward = pe_backward, .jvp = pe_jvp,
    .has_params = 0,
};

int nsr_encoding_positional(nsr_encoding *e, int n_in, int n_freqs)
{
    if (n_freqs < 0 || n_freqs > 24) return err_set("positional encoding: %d frequencies outside 0..24", n_freqs);
    if (n_in < 1 || n_in > 16) return err_set("positional encoding: %d inputs outside 1..16", n_in);
    memset(e, 0, sizeof *e);
    e->ops = &positional_ops;
    e->n_in = n_in;
    e->n_freqs = n_freqs;
    return 0;
}

/* ---- model ---------------------------------------------------------------------------------- */

void neus_model_config_default(neus_model_config *c)
{
    *c = (neus_model_config){
        .sdf_hidden_layers = 8, .sdf_width = 256, .sdf_skip = 4, .sdf_beta = 100, .sdf_features = 256,
        .pe_xyz = 6, .init_radius = 0.5, .color_hidden_layers = 4, .color_width = 256, .pe_dir = 4,
        .weight_norm = 1, .variance_init = 0.3, .background = 0, .bg_layers = 8, .bg_width = 256, .bg_skip = 5,
        .pe_bg = 10, .pe_bg_dir = 4, .encoding = NSR_ENCODING_POSITIONAL,
    };
    nsr_volume_config_default(&c->volumes);
    nsr_hash_config_default(&c->hash);
}

/* NeuS's NeRF: PE(q) → bg_layers ReLU layers (skip at bg_skip) → [σ, feature (bg_width)];
 * [feature, PE(d)] → one ReLU layer of bg_width / 2 → rgb logits.  No weight normalisation. */
static int declare_background(neus_model *m, param_set *p, const neus_model_config *c, int lr_group)
{
    if (c->bg_width < 2) return err_set("neus: background width %d < 2", c->bg_width);
    if (nsr_encoding_positional(&m->enc_bg, 4, c->pe_bg) || nsr_encoding_positional(&m->enc_bg_dir, 3, c->pe_bg_dir))
        return -1;
    m->n_enc_bg = nsr_encoding_n_out(&m->enc_bg);
    m->n_enc_bg_dir = nsr_encoding_n_out(&m->enc_bg_dir);
    m->bg_out = 1 + c->bg_width;
    m->bg_color_in = c->bg_width + m->n_enc_bg_dir;
    mlp_shape density = {.n_in = m->n_enc_bg, .width = c->bg_width, .hidden_layers = c->bg_layers, .n_out = m->bg_out,
                         .beta = 0, .skip = c->bg_skip, .weight_norm = 0, .lr_group = lr_group};
    mlp_shape color = {.n_in = m->bg_color_in, .width = c->bg_width / 2, .hidden_layers = 1, .n_out = 3, .beta = 0,
                       .skip = 0, .weight_norm = 0, .lr_group = lr_group};
    return mlp_declare_ex(&m->bg, p, "bg", &density) || mlp_declare_ex(&m->bg_color, p, "bg_color", &color) ? -1 : 0;
}

int neus_model_declare(neus_model *m, param_set *p, const neus_model_config *c, int lr_group)
{
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    if (c->sdf_features < 0) return err_set("neus: sdf_features %d < 0", c->sdf_features);
    if (c->sdf_beta < 0) return err_set("neus: Softplus beta %g < 0", c->sdf_beta);
    int enc = c->encoding == NSR_ENCODING_VOLUMES ? nsr_encoding_volumes(&m->enc_xyz, p, &c->volumes, lr_group + 1)
              : c->encoding == NSR_ENCODING_HASH  ? nsr_encoding_hash(&m->enc_xyz, p, &c->hash, lr_group + 1)
                                                  : nsr_encoding_positional(&m->enc_xyz, 3, c->pe_xyz);
    if (enc || nsr_encoding_positional(&m->enc_dir, 3, c->pe_dir)) return -1;
    m->n_enc_xyz = nsr_encoding_n_out(&m->enc_xyz);
    m->n_enc_dir = nsr_encoding_n_out(&m->enc_dir);
    m->sdf_out = 1 + c->sdf_features;
    m->color_in = 3 + m->n_enc_dir + 3 + c->sdf_features;
    mlp_shape sdf = {.n_in = m->n_enc_xyz, .width = c->sdf_width, .hidden_layers = c->sdf_hidden_layers,
                     .n_out = m->sdf_out, .beta = c->sdf_beta, .skip = c->sdf_skip, .weight_norm = c->weight_norm,
                     .lr_group = lr_group};
    mlp_shape color = {.n_in = m->color_in, .width = c->color_width, .hidden_layers = c->color_hidden_layers,
                       .n_out = 3, .beta = 0, .skip = 0, .weight_norm = c->weight_norm, .lr_group = lr_group};
    if (mlp_declare_ex(&m->sdf, p, "sdf", &sdf) || mlp_declare_ex(&m->color, p, "color", &color)) return -1;
    size_t one[1] = {1};
    if ((m->variance = params_declare(p, "variance", 1, one, lr_group + 4)) < 0) return -1;
    return c->background ? declare_background(m, p, c, lr_group) : 0;
}

void neus_model_init(const neus_model *m, param_set *p, rng_t *rng)
{
    mlp_init_geometric(&m->sdf, p, rng, m->cfg.init_radius, 3);
    mlp_init_uniform(&m->color, p, rng);
    *params_values(p, m->variance) = (real)m->cfg.variance_init;
    if (m->cfg.background) {
        mlp_init_uniform(&m->bg, p, rng);
        mlp_init_uniform(&m->bg_color, p, rng);
    }
    nsr_encoding_init(&m->enc_xyz, p, rng);
}

void neus_model_free(neus_model *m)
{
    nsr_encoding_free(&m->enc_xyz);
}

double neus_inv_s(const neus_model *m, const param_set *p)
{
    double s = exp(10.0 * (double)*params_values(p, m->variance));
    return s < 1e-6 ? 1e-6 : (s > 1e6 ? 1e6 : s);
}
