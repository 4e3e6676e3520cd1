/* problem.c — the ϕ-SfT problem of one sft job: sequence, template, Φ and the loss (see sft.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/fileio.h"
#include "phive/log.h"
#include "phive/sft.h"
#include "phive/synth.h"

static const char *const tensor_names[N_TENSORS] = {"density", "stretching", "bending", "wind", "correctives", "offsets"};


/* ---- setup ---------------------------------------------------------------------- */

static int parse_handles(sft_problem *s, const char *text)
{
    int count = 0, cap = 0;
    for (const char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) return err_set("sim.handles = '%s': expected vertex indices", text);
        if (v < 0 || v >= s->n) return err_set("sim.handles: vertex %ld is not in [0, %d)", v, s->n);
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            int *grown = realloc(s->handles, (size_t)cap * sizeof *grown);
            if (!grown) return err_set("out of memory");
            s->handles = grown;
        }
        s->handles[count++] = (int)v;
        for (p = end; *p == ' ' || *p == ','; ++p) {}
    }
    s->settings.n_handles = count;
    s->settings.handle_verts = s->handles;
    return 0;
}

static int setup_render(sft_problem *s, const config *cfg, int threads)
{
    raster_settings *r = &s->loss.raster;
    raster_settings_default(r);
    if (!strcmp(config_str(cfg, "render.shading"), "phong")) { /* the synthetic sequences' contract (synth.h) */
        const raster_camera *c = &s->seq.camera;
        double centre[3]; /* −Rᵀt */
        for (int k = 0; k < 3; ++k) centre[k] = -(c->R[k] * c->t[0] + c->R[3 + k] * c->t[1] + c->R[6 + k] * c->t[2]);
        synth_render_settings(r, centre);
    }
    r->sigma = config_real(cfg, "render.sigma");
    r->gamma = config_real(cfg, "render.gamma");
    r->silhouette_radius = raster_blur_radius_for(r->sigma);
    if (config_reals(cfg, "render.background", 3, r->background)) return -1;
    s->loss.silhouette_weight = config_real(cfg, "loss.silhouette_weight");
    s->loss.blur_sigma_px = config_real(cfg, "loss.blur_sigma") / s->seq.downscale;
    s->loss.threads = threads;
    return raster_settings_check(r);
}

static int setup_physics(sft_problem *s, const config *cfg, int threads, cloth_material *mat)
{
    cloth_settings *st = &s->settings;
    cloth_settings_default(st);
    st->frames = s->F - 1;
    st->frame_time = config_real(cfg, "sim.frame_time");
    st->substeps = (int)config_int(cfg, "sim.substeps");
    st->damping = config_real(cfg, "sim.damping");
    st->stretch_mode = !strcmp(config_str(cfg, "sim.stretch"), "table") ? CLOTH_STRETCH_TABLE : CLOTH_STRETCH_DIRECT;
    st->petsc_options = config_str(cfg, "sim.petsc");
    st->threads = threads;
    if (config_reals(cfg, "sim.gravity", 3, st->gravity) || parse_handles(s, config_str(cfg, "sim.handles"))) return -1;
    const int corr = config_bool(cfg, "model.correctives");
    if (cloth_params_alloc(&s->cp, s->n, st->frames, st->n_handles, corr) ||
        cloth_params_alloc(&s->cg, s->n, st->frames, st->n_handles, corr))
        return -1;
    cloth_params_set_material(&s->cp, mat);
    memcpy(s->cp.x0, s->tpl.x0, 3 * (size_t)s->n * sizeof(double));
    for (int f = 0; f <= st->frames; ++f) /* handles stay where the template has them */
        for (int k = 0; k < st->n_handles; ++k)
            memcpy(s->cp.handles + 3 * ((size_t)f * st->n_handles + k), s->tpl.x0 + 3 * s->handles[k], 3 * sizeof(double));
    s->grad_x = calloc((size_t)s->F * s->n * 3, sizeof *s->grad_x);
    if (!s->grad_x) return err_set("out of memory");
    return cloth_sim_create(&s->sim, &s->tpl.cloth, st);
}

/* Φ's tensors with their groups (one group per tensor), initial values and learning rates. */
static int setup_params(sft_problem *s, const config *cfg, const cloth_material *mat)
{
    static const char *const lr_keys[N_TENSORS] = {"train.lr_density",  "train.lr_stretching", "train.lr_bending",
                                                   "train.lr_wind",     "train.lr_correctives", "train.lr_offsets"};
    const size_t shapes[N_TENSORS][3] = {{1}, {CLOTH_STRETCH_ROWS, CLOTH_STRETCH_K}, {CLOTH_BEND_ANGLES, CLOTH_BEND_CURVATURES},
                                         {3}, {(size_t)s->F - 1, (size_t)s->n, 3}, {(size_t)s->F, (size_t)s->n, 3}};
    const int ndims[N_TENSORS] = {1, 2, 2, 1, 3, 3};
    params_init(&s->params);
    for (int k = 0; k < N_TENSORS; ++k) {
        int wanted = s->physics ? k != T_OFFSETS && (k != T_CORRECTIVES || s->cp.correctives) : k == T_OFFSETS;
        s->tensor[k] = wanted ? params_declare(&s->params, tensor_names[k], ndims[k], shapes[k], k) : -1;
        if (wanted && s->tensor[k] < 0) return err_set("declaring Φ's %s failed", tensor_names[k]);
        double lr = config_real(cfg, lr_keys[k]);
        s->lr[k] = lr < 0 ? config_real(cfg, "train.lr") : lr;
    }
    if (params_allocate(&s->params) || adam_init(&s->opt, &s->params, 0.9, 0.999, 1e-8)) return -1;
    if (s->physics) {
        params_values(&s->params, s->tensor[T_DENSITY])[0] = (real)mat->density;
        real *st = params_values(&s->params, s->tensor[T_STRETCHING]), *bd = params_values(&s->params, s->tensor[T_BENDING]);
        for (int i = 0; i < CLOTH_STRETCH_ENTRIES; ++i) st[i] = (real)(s->cp.stretching[i] / CLOTH_PHISFT_STRETCHING_TO_SI);
        for (int i = 0; i < CLOTH_BEND_ENTRIES; ++i) bd[i] = (real)(s->cp.bending[i] / CLOTH_PHISFT_BENDING_TO_SI);
    }
    return 0;
}

int sft_problem_set_lr_scale(sft_problem *s, double scale)
{
    for (int k = 0; k < N_TENSORS; ++k)
        if (s->tensor[k] >= 0 &&
            adam_set_group(&s->opt, k, (lr_schedule){.kind = SCHEDULE_CONSTANT, .lr = s->lr[k] * scale, .final_fraction = 1}))
            return -1;
    return 0;
}

/* Render settings first: the crop's outside sums need the background. */
static int load_sequence(sft_problem *s, const config *cfg)
{
    sft_load_options o = {
        .downscale = (int)config_int(cfg, "data.downscale"),
        .first_frame = (int)config_int(cfg, "data.first_frame"),
        .frames = (int)config_int(cfg, "data.frames"),
        .template_name = config_str(cfg, "data.template"),
        .crop = config_bool(cfg, "data.crop"),
    };
    const double sigma = config_real(cfg, "loss.blur_sigma") / o.downscale;
    /* room for the blur's reach (3σ) and for the surface to stray beyond the masks */
    o.crop_margin = (int)ceil(3 * sigma) + (int)config_int(cfg, "data.crop_margin") / o.downscale;
    if (config_reals(cfg, "render.background", 3, o.background)) return -1;
    const char *root = config_str(cfg, "data.root"), *collection = config_str(cfg, "data.collection");
    char path[4096];
    if (file_resolve(collection, root, "data.root", path, sizeof path)) return -1;
    return sft_sequence_load(&s->seq, path, &o);
}

int sft_problem_setup(sft_problem *s, const job_ctx *ctx)
{
    const config *cfg = ctx->cfg;
    memset(s, 0, sizeof *s);
    s->physics = !strcmp(config_str(cfg, "model.deformation"), "physics");
    const int threads = ctx->backend->threads;
    cloth_material mat;
    if (load_sequence(s, cfg) ||
        sft_template_prepare(&s->tpl, &s->seq, config_real(cfg, "template.uv_scale")) ||
        cloth_material_load(config_str(cfg, "model.material"), NULL, &mat))
        return -1;
    s->F = s->seq.frames, s->n = s->tpl.cloth.n_verts;
    if (s->F < 2) return err_set("%s: a reconstruction needs at least 2 frames", s->seq.root);
    if (setup_render(s, cfg, threads) || sft_frame_blur_masks(&s->seq, s->loss.blur_sigma_px) ||
        sft_frame_work_create(&s->work, &s->seq) || (s->physics && setup_physics(s, cfg, threads, &mat)) ||
        setup_params(s, cfg, &mat) || sft_problem_set_lr_scale(s, 1.0))
        return -1;
    const size_t n3F = (size_t)s->F * s->n * 3;
    s->positions = malloc(n3F * sizeof *s->positions);
    s->grad_positions = malloc(n3F * sizeof *s->grad_positions);
    s->frame_rgb = calloc((size_t)s->F, sizeof *s->frame_rgb);
    s->frame_sil = calloc((size_t)s->F, sizeof *s->frame_sil);
    if (!s->positions || !s->grad_positions || !s->frame_rgb || !s->frame_sil)
        return err_set("out of memory");
    if (ctx->dist->group_rank == 0)
        log_info("%s: %d frames of %d x %d (region %d x %d at %d, %d), template %d vertices / %d faces (%s material space, %s colours), "
                 "Φ %zu values (%s)",
                 ctx->id, s->F, s->seq.full_width, s->seq.full_height, s->seq.width, s->seq.height, s->seq.crop_x,
                 s->seq.crop_y, s->n, s->tpl.cloth.n_faces,
                 s->tpl.flattened ? "flattened" : "UV", s->tpl.projected_texture ? "frame-0" : "texture",
                 s->params.count, s->physics ? (s->cp.correctives ? "physics + correctives" : "physics") : "offsets");
    return 0;
}

void sft_problem_free(sft_problem *s)
{
    sft_frame_work_free(s->work);
    cloth_sim_free(s->sim);
    cloth_params_free(&s->cp);
    cloth_params_free(&s->cg);
    adam_free(&s->opt);
    params_free(&s->params);
    sft_template_free(&s->tpl);
    sft_sequence_free(&s->seq);
    free(s->handles);
    free(s->grad_x);
    free(s->positions);
    free(s->grad_positions);
    free(s->frame_rgb);
    free(s->frame_sil);
}

/* ---- one evaluation of L and ∂L/∂Φ ---------------------------------------------- */

/* Φ (ϕ-SfT units) into the simulator's parameters (SI). */
static void phi_to_cloth(sft_problem *s)
{
    const param_set *p = &s->params;
    s->cp.density = params_values(p, s->tensor[T_DENSITY])[0];
    const real *st = params_values(p, s->tensor[T_STRETCHING]), *bd = params_values(p, s->tensor[T_BENDING]);
    const real *wind = params_values(p, s->tensor[T_WIND]);
    for (int i = 0; i < CLOTH_STRETCH_ENTRIES; ++i) s->cp.stretching[i] = st[i] * CLOTH_PHISFT_STRETCHING_TO_SI;
    for (int i = 0; i < CLOTH_BEND_ENTRIES; ++i) s->cp.bending[i] = bd[i] * CLOTH_PHISFT_BENDING_TO_SI;
    for (int k = 0; k < 3; ++k) s->cp.wind[k] = wind[k];
    if (s->cp.correctives) {
        const real *c = params_values(p, s->tensor[T_CORRECTIVES]);
        for (size_t i = 0; i < (size_t)(s->F - 1) * s->n * 3; ++i) s->cp.correctives[i] = c[i];
    }
}

/* ∂L/∂(simulator parameters) into ∂L/∂Φ (adds). */
static void cloth_grad_to_phi(sft_problem *s)
{
    param_set *p = &s->params;
    params_grads(p, s->tensor[T_DENSITY])[0] += (real)s->cg.density;
    real *st = params_grads(p, s->tensor[T_STRETCHING]), *bd = params_grads(p, s->tensor[T_BENDING]);
    real *wind = params_grads(p, s->tensor[T_WIND]);
    for (int i = 0; i < CLOTH_STRETCH_ENTRIES; ++i) st[i] += (real)(s->cg.stretching[i] * CLOTH_PHISFT_STRETCHING_TO_SI);
    for (int i = 0; i < CLOTH_BEND_ENTRIES; ++i) bd[i] += (real)(s->cg.bending[i] * CLOTH_PHISFT_BENDING_TO_SI);
    for (int k = 0; k < 3; ++k) wind[k] += (real)s->cg.wind[k];
    if (s->cp.correctives) {
        real *c = params_grads(p, s->tensor[T_CORRECTIVES]);
        for (size_t i = 0; i < (size_t)(s->F - 1) * s->n * 3; ++i) c[i] += (real)s->cg.correctives[i];
    }
}

/* Surfaces of frames 0 … w−1 into s->positions. */
static int surfaces(sft_problem *s, int w)
{
    const size_t n3 = (size_t)s->n * 3;
    if (!s->physics) {
        const real *off = params_values(&s->params, s->tensor[T_OFFSETS]);
        for (size_t f = 0; f < (size_t)w; ++f)
            for (size_t i = 0; i < n3; ++i) s->positions[f * n3 + i] = (real)(s->tpl.x0[i] + off[f * n3 + i]);
        return 0;
    }
    phi_to_cloth(s);
    if (cloth_rollout_forward(s->sim, &s->cp, w - 1)) return -1;
    for (int f = 0; f < w; ++f) {
        const double *x = cloth_sim_positions(s->sim, f);
        for (size_t i = 0; i < n3; ++i) s->positions[f * n3 + i] = (real)x[i];
    }
    return 0;
}


/* L over the window 0 … w−1 and, with grads, ∂L/∂Φ summed over the group into params.grads. */
int sft_problem_evaluate(sft_problem *s, const job_ctx *ctx, int w, int grads, sft_step *r)
{
    const size_t n3 = (size_t)s->n * 3;
    const int rank = ctx->dist->group_rank, size = ctx->dist->group_size;
    double t0 = wall_time();
    memset(r, 0, sizeof *r);
    enum { OK, FAILED, DIVERGED } failed = surfaces(s, w) ? DIVERGED : OK; /* the rollout fails only numerically */
    double t1 = wall_time();
    memset(s->frame_rgb, 0, (size_t)s->F * sizeof *s->frame_rgb);
    memset(s->frame_sil, 0, (size_t)s->F * sizeof *s->frame_sil);
    if (grads) memset(s->grad_positions, 0, (size_t)w * n3 * sizeof *s->grad_positions);
    for (int f = rank; f < w && !failed; f += size)
        failed = sft_frame_loss(s->work, &s->loss, &s->seq, &s->tpl, f, s->positions + f * n3, 1.0 / w,
                                grads ? s->grad_positions + f * n3 : NULL, &s->frame_rgb[f], &s->frame_sil[f])
                     ? FAILED
                     : OK;
    double t2 = wall_time();
    sft_frame_work_times(s->work, &r->render_s, &r->render_backward_s, &s->edge_frames);
    if (grads && !failed) {
        params_zero_grads(&s->params);
        if (s->physics) {
            memset(s->grad_x, 0, (size_t)w * n3 * sizeof *s->grad_x);
            for (int f = rank; f < w; f += size)
                for (size_t i = 0; i < n3; ++i) s->grad_x[f * n3 + i] = s->grad_positions[f * n3 + i];
            cloth_params_zero(&s->cg);
            failed = cloth_rollout_backward(s->sim, &s->cp, s->grad_x, NULL, &s->cg) ? DIVERGED : OK;
            if (!failed) cloth_grad_to_phi(s);
        } else {
            real *g = params_grads(&s->params, s->tensor[T_OFFSETS]);
            for (int f = rank; f < w; f += size) memcpy(g + f * n3, s->grad_positions + f * n3, n3 * sizeof *g);
        }
    }
    const int worst = dist_group_max(ctx->dist, failed);
    if (worst == DIVERGED && failed != DIVERGED) err_set("the simulation diverged on another rank of the group");
    if (worst) return worst == DIVERGED ? SFT_DIVERGED : failed ? -1 : err_set("another rank of the group failed");
    double edge = s->edge_frames;
    if (dist_allreduce_double(ctx->dist, &edge, 1) || dist_allreduce_double(ctx->dist, s->frame_rgb, w) ||
        dist_allreduce_double(ctx->dist, s->frame_sil, w) ||
        (grads && dist_allreduce(ctx->dist, s->params.grads, s->params.count, 0)))
        return -1;
    s->edge_frames = (int)edge;
    for (int f = 0; f < w; ++f) r->rgb += s->frame_rgb[f] / w, r->sil += s->frame_sil[f] / w;
    r->loss = r->rgb + s->loss.silhouette_weight * r->sil;
    r->simulate_s = t1 - t0, r->adjoint_s = wall_time() - t2;
    return 0;
}

