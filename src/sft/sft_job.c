/* sft_job.c — the `sft` job: ϕ-SfT reconstruction of one sequence (see sft.h).
 *
 * Every iteration: simulate the active window from Φ (every rank of the group runs the same
 * deterministic rollout, so no positions travel), render and differentiate the window's frames
 * round-robin over the ranks, take each rank's share of ∂L/∂x back through the simulator's
 * adjoint (the adjoint is linear in ∂L/∂x, so the shares sum to the whole), all-reduce ∂L/∂Φ,
 * guard against non-finite values, and step Adam.  The adaptive window (REFERENCE.md §1) then
 * grows by one frame when the window's last frame has come down to the first iteration's
 * reference loss, or after window.max_iterations iterations without growth.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "phive/errors.h"
#include "phive/eval.h"
#include "phive/log.h"
#include "phive/opt.h"
#include "phive/render.h"
#include "phive/sft.h"

static const cfg_spec sft_schema[] = {
    {"data.root", CFG_STRING, NULL, 0, -1, NULL, "ϕ-SfT sequence directory (rgbs/, masks/, templates/, camera.json)"},
    {"data.collection", CFG_STRING, "", 0, -1, NULL, "directory a relative data.root is taken from (empty: the working directory)"},
    {"data.downscale", CFG_INT, "1", 1, 64, NULL, "integer image downscale (box average)"},
    {"data.first_frame", CFG_INT, "0", 0, 1e6, NULL, "first frame of the sequence used"},
    {"data.frames", CFG_INT, "0", 0, 1e6, NULL, "frames used (0: every frame there is)"},
    {"data.crop", CFG_BOOL, "true", 0, -1, NULL, "work on the masks' region of interest (losses stay full-frame means)"},
    {"data.crop_margin", CFG_INT, "64", 0, 1e5, NULL, "full-resolution pixels kept around the masks' union (+ 3σ of the blur)"},
    {"data.template", CFG_STRING, "", 0, -1, NULL, "template OBJ inside templates/ (empty: the only one)"},
    {"template.uv_scale", CFG_REAL, "0", 0, 1e6, NULL, "metres per UV unit (0: match the template's area)"},
    {"model.deformation", CFG_CHOICE, "physics", 0, -1, "physics|offsets",
     "physics: fit the simulator's Φ; offsets: per-frame vertex offsets, no simulation (\"Only F\")"},
    {"model.correctives", CFG_BOOL, "true", 0, -1, NULL, "physics: corrective velocities in Φ (false: \"w/o F\")"},
    {"model.material", CFG_STRING, "configs/materials/phisft-init.json", 0, -1, NULL,
     "initial material (ARCSim JSON; ϕ-SfT's init_mat.json by default)"},
    {"sim.frame_time", CFG_REAL, "0.04", 1e-6, 10, NULL, "seconds per video frame"},
    {"sim.substeps", CFG_INT, "2", 1, 1000, NULL, "implicit steps per frame"},
    {"sim.gravity", CFG_STRING, "0,0,0", 0, -1, NULL, "gravity x,y,z (m/s²; ϕ-SfT: off, the correctives absorb it)"},
    {"sim.handles", CFG_STRING, "", 0, -1, NULL, "vertex indices held at the template (space-separated; ϕ-SfT: none)"},
    {"sim.damping", CFG_REAL, "0", 0, 10, NULL, "stiffness-proportional damping (s)"},
    {"sim.stretch", CFG_CHOICE, "direct", 0, -1, "direct|table", "stretching stiffness: the model, or ARCSim's 30³ table"},
    {"sim.petsc", CFG_STRING, "", 0, -1, NULL,
     "PETSc options of the simulator's linear solver (after the cloth module's CG + point-block Jacobi)"},
    {"loss.silhouette_weight", CFG_REAL, "0.5", 0, 1e6, NULL, "λ of the blurred-silhouette term (0: \"w/o E_s\")"},
    {"loss.blur_sigma", CFG_REAL, "7", 0.1, 1e3, NULL, "σ of the silhouette blur in full-resolution pixels"},
    {"render.shading", CFG_CHOICE, "ambient", 0, -1, "ambient|phong",
     "ambient (real data), or Phong with a point light at the camera as `phive synth cloth` renders (synth.h)"},
    {"render.background", CFG_STRING, "0,0,0", 0, -1, NULL, "background colour r,g,b in [0, 1]"},
    {"render.sigma", CFG_REAL, "1e-4", 1e-9, 1, NULL, "soft rasterizer σ"},
    {"render.gamma", CFG_REAL, "1e-4", 1e-9, 1, NULL, "soft rasterizer γ"},
    {"train.iterations", CFG_INT, "500", 0, 1e7, NULL, "maximum Adam iterations"},
    {"train.lr", CFG_REAL, "1e-3", 0, 10, NULL, "learning rate of every Φ group without its own"},
    {"train.lr_density", CFG_REAL, "-1", -1, 10, NULL, "density's learning rate (-1: train.lr)"},
    {"train.lr_stretching", CFG_REAL, "-1", -1, 10, NULL, "stretching's learning rate (-1: train.lr)"},
    {"train.lr_bending", CFG_REAL, "-1", -1, 10, NULL, "bending's learning rate (-1: train.lr)"},
    {"train.lr_wind", CFG_REAL, "-1", -1, 10, NULL, "wind's learning rate (-1: train.lr)"},
    {"train.lr_correctives", CFG_REAL, "-1", -1, 10, NULL, "correctives' learning rate (-1: train.lr)"},
    {"train.lr_offsets", CFG_REAL, "-1", -1, 10, NULL, "offsets' learning rate (-1: train.lr)"},
    {"train.converge_tol", CFG_REAL, "1e-3", 0, 1, NULL,
     "stop once the whole sequence is active and the best loss of the last converge_patience iterations "
     "improved on the best before them by less than this fraction (0: never)"},
    {"train.converge_patience", CFG_INT, "30", 1, 1e6, NULL, "iterations compared by the convergence test"},
    {"train.nan_retries", CFG_INT, "3", 0, 100, NULL,
     "restarts from the last good state after a non-finite loss or a diverged simulation"},
    {"train.nan_lr_factor", CFG_REAL, "0.5", 1e-6, 1, NULL, "learning-rate factor applied at each such restart"},
    {"window.adaptive", CFG_BOOL, "true", 0, -1, NULL, "adaptive temporal window (false: every frame from the start)"},
    {"window.initial", CFG_INT, "5", 2, 1e6, NULL, "t_a: frames active at the start"},
    {"window.max_iterations", CFG_INT, "5", 1, 1e6, NULL, "i_max: iterations after which the window grows anyway"},
    {"window.threshold", CFG_REAL, "1e-5", 0, 1, NULL, "growth when the last frame's RGB loss ≤ reference + this"},
    {"output.format", CFG_CHOICE, "obj", 0, -1, "obj|ply", "per-frame mesh format"},
    {"output.preview_every", CFG_INT, "10", 0, 1e6, NULL, "previews of every N-th frame and the last (0: none)"},
    {"eval.samples", CFG_INT, "0", 0, 1e9, NULL, "Chamfer: points sampled per mesh (0: as many as the ground truth)"},
    {"eval.icp", CFG_BOOL, "false", 0, -1, NULL, "Chamfer: rigid ICP per frame first (S3)"},
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

/* ---- the optimisation ------------------------------------------------------------ */

typedef struct {
    int w;             /* active frames */
    double ref;        /* the first iteration's RGB loss of the window's last frame (NAN before it) */
    long last_growth;  /* iteration of the last growth */
    double lr_scale;   /* product of the NaN guard's factors */
} window_state;

static double last_value(const job_ctx *ctx, const char *name, double fallback)
{
    const metric_series *m = metrics_find(&ctx->series, name);
    return m && m->n ? m->values[m->n - 1] : fallback;
}

/* The window after the iterations the series hold (they travel in the checkpoint). */
static void window_from_series(const job_ctx *ctx, const sft_problem *s, window_state *ws)
{
    const int initial = config_bool(ctx->cfg, "window.adaptive") ? (int)config_int(ctx->cfg, "window.initial") : s->F;
    ws->w = (int)last_value(ctx, "window", initial < s->F ? initial : s->F);
    ws->ref = last_value(ctx, "window_ref", NAN);
    ws->last_growth = (long)last_value(ctx, "window_last_growth", 0);
    ws->lr_scale = last_value(ctx, "lr_scale", 1.0);
}

static void window_update(const job_ctx *ctx, const sft_problem *s, long it, window_state *ws)
{
    const double last = s->frame_rgb[ws->w - 1];
    if (isnan(ws->ref)) ws->ref = last;
    else if (ws->w < s->F && (last <= ws->ref + config_real(ctx->cfg, "window.threshold") ||
                              it - ws->last_growth >= config_int(ctx->cfg, "window.max_iterations"))) {
        ws->w++;
        ws->last_growth = it;
    }
}

/* Converged: the whole sequence active for 2·patience iterations, and the best loss of the
 * last `patience` improved on the best before them by less than tol. */
static int converged(const job_ctx *ctx, const sft_problem *s)
{
    const double tol = config_real(ctx->cfg, "train.converge_tol");
    const size_t patience = (size_t)config_int(ctx->cfg, "train.converge_patience");
    const metric_series *loss = metrics_find(&ctx->series, "loss"), *win = metrics_find(&ctx->series, "window");
    if (tol <= 0 || !loss || loss->n < 2 * patience) return 0;
    double recent = INFINITY, before = INFINITY;
    for (size_t i = loss->n - 2 * patience; i < loss->n; ++i) {
        if (win->values[i] < s->F) return 0;
        double *best = i < loss->n - patience ? &before : &recent;
        *best = fmin(*best, loss->values[i]);
    }
    return recent > before * (1 - tol);
}

static int all_finite(const real *v, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* The NaN guard's last good state: Φ, Adam's moments and step at the start of the last iteration
 * whose evaluation was finite (iteration −1: none yet). */
typedef struct {
    real *values, *m, *v;
    long step, iteration;
} good_state;

static int good_state_alloc(good_state *g, size_t count)
{
    g->values = malloc(count * sizeof *g->values);
    g->m = malloc(count * sizeof *g->m);
    g->v = malloc(count * sizeof *g->v);
    return g->values && g->m && g->v ? 0 : err_set("out of memory");
}

static void good_state_free(good_state *g)
{
    free(g->values);
    free(g->m);
    free(g->v);
}

static void keep_good_state(good_state *g, const sft_problem *s, long iteration)
{
    const size_t bytes = s->params.count * sizeof(real);
    memcpy(g->values, s->params.values, bytes);
    memcpy(g->m, s->opt.m, bytes);
    memcpy(g->v, s->opt.v, bytes);
    g->step = s->opt.step;
    g->iteration = iteration;
}

/* Back to the last good state: Φ, Adam and the series as they were then. */
static long restore_good_state(const good_state *g, sft_problem *s, job_ctx *ctx)
{
    const size_t bytes = s->params.count * sizeof(real);
    memcpy(s->params.values, g->values, bytes);
    memcpy(s->opt.m, g->m, bytes);
    memcpy(s->opt.v, g->v, bytes);
    s->opt.step = g->step;
    for (int i = 0; i < ctx->series.n; ++i)
        if (ctx->series.series[i].n > (size_t)g->iteration) ctx->series.series[i].n = (size_t)g->iteration;
    return g->iteration;
}

static int record(job_ctx *ctx, const sft_problem *s, const sft_step *r, const window_state *ws, int w_used)
{
    const param_set *p = &s->params;
    int rc = metrics_append(&ctx->series, "loss", r->loss) || metrics_append(&ctx->series, "loss_rgb", r->rgb) ||
             metrics_append(&ctx->series, "loss_silhouette", r->sil) ||
             metrics_append(&ctx->series, "window_used", w_used) || metrics_append(&ctx->series, "window", ws->w) ||
             metrics_append(&ctx->series, "window_ref", ws->ref) ||
             metrics_append(&ctx->series, "window_last_growth", (double)ws->last_growth) ||
             metrics_append(&ctx->series, "lr_scale", ws->lr_scale) ||
             metrics_append(&ctx->series, "crop_edge_frames", s->edge_frames) ||
             metrics_append(&ctx->series, "time_simulate", r->simulate_s) ||
             metrics_append(&ctx->series, "time_render", r->render_s) ||
             metrics_append(&ctx->series, "time_render_backward", r->render_backward_s) ||
             metrics_append(&ctx->series, "time_adjoint", r->adjoint_s);
    if (!rc && s->physics) {
        const real *wind = params_values(p, s->tensor[T_WIND]);
        rc = metrics_append(&ctx->series, "phi_density", params_values(p, s->tensor[T_DENSITY])[0]) ||
             metrics_append(&ctx->series, "phi_wind_x", wind[0]) || metrics_append(&ctx->series, "phi_wind_y", wind[1]) ||
             metrics_append(&ctx->series, "phi_wind_z", wind[2]);
        for (int k = T_STRETCHING; !rc && k <= T_BENDING; ++k) {
            const param_tensor *t = &p->tensors[s->tensor[k]];
            double mean = 0;
            for (size_t i = 0; i < t->count; ++i) mean += p->values[t->offset + i] / (double)t->count;
            rc = metrics_append(&ctx->series, k == T_STRETCHING ? "phi_stretching_mean" : "phi_bending_mean", mean);
        }
    }
    return rc ? -1 : 0;
}

static int optimise_from(sft_problem *s, job_ctx *ctx, good_state *good)
{
    const long iterations = config_int(ctx->cfg, "train.iterations");
    const long checkpoint_every = config_int(ctx->cfg, "run.checkpoint_every");
    const int leader = ctx->dist->group_rank == 0;
    long it = job_checkpoint_resume(ctx, &s->params, &s->opt, NULL);
    if (it < 0) return -1;
    window_state ws;
    window_from_series(ctx, s, &ws);
    if (sft_problem_set_lr_scale(s, ws.lr_scale)) return -1;
    good->iteration = -1;
    int retries = 0, edge_warned = 0;
    progress bar;
    progress_begin(&bar, ctx->id, it, iterations, config_int(ctx->cfg, "run.log_every"));
    for (; it < iterations; ++it) {
        if (job_should_stop(ctx)) {
            progress_end(&bar);
            if (leader) log_info("%s: stop requested, checkpointing at iteration %ld", ctx->id, it);
            return job_checkpoint_save(ctx, &s->params, &s->opt, NULL, it) ? -1 : JOB_INTERRUPTED;
        }
        sft_step r;
        const int w_used = ws.w;
        const int rc = sft_problem_evaluate(s, ctx, ws.w, 1, &r);
        if (rc < 0) return -1;
        if (rc == SFT_DIVERGED || !isfinite(r.loss) || !all_finite(s->params.grads, s->params.count)) {
            char why[512];
            snprintf(why, sizeof why, "%s", rc == SFT_DIVERGED ? err_message() : "the loss or its gradient is not finite");
            const long nan_retries = config_int(ctx->cfg, "train.nan_retries");
            if (good->iteration < 0 || retries >= nan_retries)
                return err_set("iteration %ld: %s (after %d restart(s) from the last good state with lower learning "
                               "rates; lower train.lr or check the data)", it, why, retries);
            ++retries;
            const double lowered = ws.lr_scale * config_real(ctx->cfg, "train.nan_lr_factor");
            it = restore_good_state(good, s, ctx) - 1;
            window_from_series(ctx, s, &ws);
            ws.lr_scale = lowered;
            if (sft_problem_set_lr_scale(s, ws.lr_scale)) return -1;
            if (leader)
                log_warn("%s: %s; back to iteration %ld with learning rates × %g", ctx->id, why, it + 1, ws.lr_scale);
            continue;
        }
        if (s->edge_frames && !edge_warned && leader) {
            log_warn("%s: iteration %ld: the surface reaches the edge of the region of interest in %d frame(s); the "
                     "losses there are not the full frame's (raise data.crop_margin)", ctx->id, it, s->edge_frames);
            edge_warned = 1;
        }
        keep_good_state(good, s, it);
        if (adam_step(&s->opt, &s->params)) return -1;
        window_update(ctx, s, it, &ws);
        if (record(ctx, s, &r, &ws, w_used)) return -1;
        if (leader) progress_update(&bar, it, r.loss);
        if (converged(ctx, s)) {
            if (leader) log_info("%s: converged at iteration %ld", ctx->id, it + 1);
            break;
        }
        if (checkpoint_every && (it + 1) % checkpoint_every == 0 && it + 1 < iterations &&
            job_checkpoint_save(ctx, &s->params, &s->opt, NULL, it + 1))
            return -1;
    }
    progress_end(&bar);
    return job_checkpoint_save(ctx, &s->params, &s->opt, NULL, it < iterations ? it + 1 : iterations) ? -1 : JOB_COMPLETE;
}

static int optimise(sft_problem *s, job_ctx *ctx)
{
    good_state good = {0};
    int status = good_state_alloc(&good, s->params.count) ? -1 : optimise_from(s, ctx, &good);
    good_state_free(&good);
    return status;
}

/* ---- outputs ------------------------------------------------------------------------ */

static int make_dir(const job_ctx *ctx, const char *name, char *dir, size_t size)
{
    job_path(ctx, name, dir, size);
    if (mkdir(dir, 0777) && errno != EEXIST) return err_set("%s: cannot create the directory", dir);
    return 0;
}

/* Side by side: the input frame | the rendering of the reconstruction. */
static int write_comparison(const char *path, const real *input, const raster_frame *fr)
{
    const int W = fr->width, H = fr->height;
    image im;
    image_init(&im);
    if (image_alloc(&im, 2 * W, H, 3, 8)) return -1;
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
            for (int c = 0; c < 3; ++c) {
                const size_t i = 3 * ((size_t)y * W + x) + c;
                const double a = input[i], b = fr->rgb[i];
                im.u8[3 * ((size_t)y * 2 * W + x) + c] = (uint8_t)lrint(255 * fmin(fmax(a, 0), 1));
                im.u8[3 * ((size_t)y * 2 * W + W + x) + c] = (uint8_t)lrint(255 * fmin(fmax(b, 0), 1));
            }
    int rc = image_write_png(path, &im);
    image_free(&im);
    return rc;
}

static int write_frame_files(sft_problem *s, job_ctx *ctx)
{
    char meshes[4200], previews[4200], path[4400];
    const size_t n3 = (size_t)s->n * 3, pixels = (size_t)s->seq.width * s->seq.height;
    const int every = (int)config_int(ctx->cfg, "output.preview_every");
    const char *ext = config_str(ctx->cfg, "output.format");
    if (make_dir(ctx, "meshes", meshes, sizeof meshes) || (every && make_dir(ctx, "previews", previews, sizeof previews)))
        return -1;
    double *x = malloc(n3 * sizeof *x);
    if (!x) return err_set("out of memory");
    int rc = 0;
    for (int f = 0; f < s->F && !rc; ++f) {
        const int frame = s->seq.first_frame + f;
        mesh m;
        for (size_t i = 0; i < n3; ++i) x[i] = s->positions[f * n3 + i];
        if ((rc = cloth_mesh_to_mesh(&s->tpl.cloth, x, &m))) break;
        snprintf(path, sizeof path, "%s/mesh_%03d.%s", meshes, frame, ext);
        rc = mesh_write(path, &m);
        mesh_free(&m);
        if (rc || !every || (f % every && f != s->F - 1)) continue;
        double rgb, sil;
        const raster_frame *fr = sft_frame_work_frame(s->work);
        rc = sft_frame_loss(s->work, &s->loss, &s->seq, &s->tpl, f, s->positions + f * n3, 1, NULL, &rgb, &sil);
        snprintf(path, sizeof path, "%s/compare_%03d.png", previews, frame);
        rc = rc || write_comparison(path, s->seq.rgb + f * pixels * 3, fr);
        snprintf(path, sizeof path, "%s/depth_%03d.png", previews, frame);
        rc = rc || render_write_depth(path, fr);
    }
    free(x);
    return rc ? -1 : 0;
}

/* Frame f's IoU of the hard silhouette with the binarised mask. */
static int frame_iou(sft_problem *s, int f, double *iou)
{
    const size_t pixels = (size_t)s->seq.width * s->seq.height;
    uint8_t *mask = malloc(pixels);
    if (!mask) return err_set("out of memory");
    for (size_t p = 0; p < pixels; ++p) mask[p] = s->seq.mask[f * pixels + p] >= 0.5f;
    int rc = render_silhouette_iou(sft_frame_work_frame(s->work), mask, iou, NULL, NULL);
    free(mask);
    return rc;
}

/* A per-frame series as an output array. */
static int output_f64(job_ctx *ctx, const char *name, const double *v, int n)
{
    float *copy = malloc((size_t)n * sizeof *copy);
    if (!copy) return err_set("out of memory");
    for (int i = 0; i < n; ++i) copy[i] = (float)v[i];
    size_t dims[1] = {(size_t)n};
    int rc = job_output_f32(ctx, name, copy, 1, dims);
    free(copy);
    return rc;
}

/* e_3D / normal angle against surfaces/, Chamfer against point_clouds/, per frame. */
static int ground_truth_metrics(sft_problem *s, job_ctx *ctx)
{
    const int synthetic = s->seq.has_surfaces, real = s->seq.has_point_clouds;
    if (!synthetic && !real) return 0;
    double *e3d = calloc((size_t)s->F, sizeof *e3d), *angle = calloc((size_t)s->F, sizeof *angle),
           *chamfer = calloc((size_t)s->F, sizeof *chamfer);
    int rc = !e3d || !angle || !chamfer ? err_set("out of memory") : 0;
    char meshes[4200], mesh_path[4400], gt_path[4400];
    job_path(ctx, "meshes", meshes, sizeof meshes);
    for (int f = 0; f < s->F && !rc; ++f) {
        const int frame = s->seq.first_frame + f;
        mesh rec, gt;
        mesh_init(&rec), mesh_init(&gt);
        snprintf(mesh_path, sizeof mesh_path, "%s/mesh_%03d.%s", meshes, frame, config_str(ctx->cfg, "output.format"));
        rc = mesh_read(mesh_path, &rec);
        if (!rc && synthetic) {
            snprintf(gt_path, sizeof gt_path, "%s/surfaces/%04d_00.obj", s->seq.root, frame);
            double m[2];
            rc = mesh_read(gt_path, &gt) || eval_sft_synthetic_frame(&rec, &gt, mesh_path, m);
            e3d[f] = m[0], angle[f] = m[1];
            mesh_free(&gt);
        }
        if (!rc && real) {
            snprintf(gt_path, sizeof gt_path, "%s/point_clouds/point_cloud_%03d.obj", s->seq.root, frame);
            uint64_t seed = (uint64_t)config_int(ctx->cfg, "job.seed") * 1000003u + (uint64_t)frame;
            rc = mesh_read(gt_path, &gt) || eval_sft_chamfer_frame(&rec, &gt, (size_t)config_int(ctx->cfg, "eval.samples"),
                                                                   seed, config_bool(ctx->cfg, "eval.icp"), mesh_path,
                                                                   gt_path, &chamfer[f]);
            mesh_free(&gt);
        }
        mesh_free(&rec);
    }
    double mean[3] = {0};
    for (int f = 0; f < s->F; ++f) mean[0] += e3d[f] / s->F, mean[1] += angle[f] / s->F, mean[2] += chamfer[f] / s->F;
    if (!rc && synthetic)
        rc = output_f64(ctx, "frame_e3d", e3d, s->F) || output_f64(ctx, "frame_normal_angle_deg", angle, s->F) ||
             metrics_set(&ctx->final, "e3d_mean", mean[0]) || metrics_set(&ctx->final, "normal_angle_deg_mean", mean[1]);
    if (!rc && real)
        rc = output_f64(ctx, "frame_chamfer_x1e4", chamfer, s->F) ||
             metrics_set(&ctx->final, "chamfer_x1e4_mean", mean[2]);
    if (!rc) log_info("%s: ground truth: e_3D %.4f, normal angle %.2f°, Chamfer ×1e4 %.3f", ctx->id, mean[0], mean[1], mean[2]);
    free(e3d), free(angle), free(chamfer);
    return rc ? -1 : 0;
}

static int output_f32(job_ctx *ctx, const char *name, const real *v, int ndim, const size_t *dims)
{
    size_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= dims[d];
    float *copy = malloc(n * sizeof *copy);
    if (!copy) return err_set("out of memory");
    for (size_t i = 0; i < n; ++i) copy[i] = (float)v[i];
    int rc = job_output_f32(ctx, name, copy, ndim, dims);
    free(copy);
    return rc;
}

/* Final surfaces of every frame, their losses, meshes, previews, Φ and ground-truth metrics. */
static int write_outputs(sft_problem *s, job_ctx *ctx)
{
    sft_step r;
    if (sft_problem_evaluate(s, ctx, s->F, 0, &r)) return -1;
    if (ctx->dist->group_rank != 0) return 0;
    log_info("%s: final loss %.5f (RGB %.5f, silhouette %.5f) over %d frames", ctx->id, r.loss, r.rgb, r.sil, s->F);
    double *iou = calloc((size_t)s->F, sizeof *iou);
    if (!iou) return err_set("out of memory");
    const size_t n3 = (size_t)s->n * 3;
    double mean_iou = 0, rgb, sil;
    int rc = 0;
    for (int f = 0; f < s->F && !rc; ++f) {
        rc = sft_frame_loss(s->work, &s->loss, &s->seq, &s->tpl, f, s->positions + f * n3, 1, NULL, &rgb, &sil) ||
             frame_iou(s, f, &iou[f]);
        mean_iou += iou[f] / s->F;
    }
    rc = rc || output_f64(ctx, "frame_loss_rgb", s->frame_rgb, s->F) ||
         output_f64(ctx, "frame_loss_silhouette", s->frame_sil, s->F) || output_f64(ctx, "frame_iou", iou, s->F) ||
         metrics_set(&ctx->final, "loss", r.loss) ||
         metrics_set(&ctx->final, "loss_rgb", r.rgb) || metrics_set(&ctx->final, "loss_silhouette", r.sil) ||
         metrics_set(&ctx->final, "iou_mean", mean_iou);
    free(iou);
    size_t pdims[3] = {(size_t)s->F, (size_t)s->n, 3}, fdims[2] = {(size_t)s->tpl.cloth.n_faces, 3};
    rc = rc || output_f32(ctx, "positions", s->positions, 3, pdims);
    float *faces = malloc(3 * (size_t)s->tpl.cloth.n_faces * sizeof *faces);
    if (!rc && !faces) rc = err_set("out of memory");
    for (int i = 0; !rc && i < 3 * s->tpl.cloth.n_faces; ++i) faces[i] = (float)s->tpl.faces[i];
    rc = rc || job_output_f32(ctx, "faces", faces, 2, fdims);
    free(faces);
    for (int k = 0; k < N_TENSORS && !rc; ++k) {
        if (s->tensor[k] < 0) continue;
        const param_tensor *t = &s->params.tensors[s->tensor[k]];
        char name[80];
        snprintf(name, sizeof name, "phi_%s", t->name);
        rc = output_f32(ctx, name, s->params.values + t->offset, t->ndim, t->shape);
    }
    if (!rc && s->physics) {
        char path[4200];
        cloth_material fitted;
        fitted.density = s->cp.density;
        memcpy(fitted.stretching, s->cp.stretching, sizeof fitted.stretching);
        memcpy(fitted.bending, s->cp.bending, sizeof fitted.bending);
        job_path(ctx, "material.json", path, sizeof path);
        rc = cloth_material_save(path, &fitted);
    }
    rc = rc || write_frame_files(s, ctx) || ground_truth_metrics(s, ctx);
    return rc ? -1 : 0;
}

static int sft_run(job_ctx *ctx)
{
    sft_problem s;
    int status = sft_problem_setup(&s, ctx);
    if (!status) status = optimise(&s, ctx);
    int failed = status == JOB_COMPLETE && write_outputs(&s, ctx) != 0;
    if (status == JOB_COMPLETE && dist_group_max(ctx->dist, failed))
        status = failed ? -1 : err_set("rank 0 failed to write the outputs");
    sft_problem_free(&s);
    return status;
}

const job_type sft_job = {
    .name = "sft",
    .summary = "phi-SfT: cloth from a monocular video by fitting a differentiable simulator through a soft rasterizer",
    .schema = sft_schema,
    .run = sft_run,
};
