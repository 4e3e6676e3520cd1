/* neus_job.c — the `neus` job: train NeuS on a NeuS/DTU-layout data set (see nsr.h, neus.h).
 *
 * Iteration t picks one training view (the held-out every-7th views are never
 * used for training) with Philox (stream VIEW_STREAM, index t) and `batch`
 * random pixels of it (stream 2t); rank r of a group of R takes rays
 * [r·B/R, (r+1)·B/R) with their global indices as `first`, so the rays and
 * the sampler's random numbers (stream 2t + 1) are those one rank would draw.
 * The loss normalisers are summed over the group before the fused
 * forward/backward, the gradients all-reduced, then one Adam step (linear
 * warm-up, cosine decay to final_fraction: NeuS's schedule).
 *
 * Every eval.every iterations (and at the end) the held-out views are
 * rendered at eval.rays random pixels each (fixed stream, no perturbation):
 * psnr_test (all pixels, black background as NeuS without background) and
 * psnr_test_masked (pixels of the object mask).  The first eval.render_views
 * held-out views are also rendered in full at eval.render_downscale times the
 * data set's downscale (rows split across the group): psnr_render over all
 * their pixels, and <job dir>/renders/view_VVV_it_NNNNNNN.png (VVV the view
 * number, NNNNNNN the iteration) showing ground truth | colour | normals, the
 * normals Σ w_i ∇f_i normalised, in the camera frame (x right, y down, z
 * forward) as (n + 1)/2, black where Σ w_i < 0.5.  At the end,
 * marching cubes of the SDF (neus_sdf_mesh, neus_mesh.c) at mesh.resolution
 * is written to <job dir>/mesh.ply.
 *
 * HIVE's stages (train.stages with sparse.resolutions): stage 1 trains the dense volumes (the
 * sparse ones read their shared row); at the first iteration of stage k + 2 the SDF is sampled
 * on a sparse.build_resolution³ grid (z-slabs split across the group, the brick marks summed),
 * and sparse volume k activates the bricks within sparse.band of the marching-cubes cells that
 * hold the surface (neus.h, nsr_sparse_activate).  Checkpoints store each sparse volume's active
 * bricks (/structure/sparse<k>_bricks), so a resumed job (and `phive mesh`) rebuilds the tables
 * before reading them, mid-stage included.  With render.fd_eps = 0 the FD step follows the
 * finest active grid's cell.
 *
 * With model.background, NeuS's NeRF++ background (neus.h, BACKGROUND) renders what lies
 * beyond the unit sphere from render.n_outside more samples per ray: for scenes without
 * masks (train.mask_weight = 0, NeuS's womask setting).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phive/errors.h"
#include "phive/eval.h"
#include "phive/fileio.h"
#include "phive/image.h"
#include "phive/log.h"
#include "phive/mesh.h"
#include "phive/mesh_clean.h"
#include "phive/neus.h"
#include "phive/nsr.h"
#include "phive/nsr_data.h"
#include "phive/opt.h"

static const cfg_spec neus_schema[] = {
    {"data.root", CFG_STRING, NULL, 0, -1, NULL, "NeuS-layout data directory (image/, mask/, cameras_sphere.npz)"},
    {"data.collection", CFG_STRING, "", 0, -1, NULL, "directory a relative data.root is taken from (empty: the working directory)"},
    {"data.format", CFG_CHOICE, "neus", 0, -1, "neus|strecha",
     "NeuS/IDR layout, or Strecha's (EPFL: *.png with <image>.camera, no masks; needs data.region)"},
    {"data.region", CFG_STRING, "", 0, -1, NULL,
     "strecha: world box x0,y0,z0,x1,y1,z1 of the object, inscribed in the unit sphere, or a text file inside "
     "data.root holding those six numbers (one box per scene of a sweep)"},
    {"data.cameras", CFG_STRING, NSR_CAMERAS_DEFAULT, 0, -1, NULL, "camera npz inside data.root"},
    {"data.downscale", CFG_INT, "1", 1, 64, NULL, "integer image downscale (box average)"},
    {"data.test_every", CFG_INT, "7", 0, 1000, NULL, "views i % test_every == 0 are held out (0: none)"},
    {"model.sdf_layers", CFG_INT, "8", 1, MLP_MAX_LAYERS - 2, NULL, "hidden layers of the SDF MLP"},
    {"model.sdf_width", CFG_INT, "256", 1, 4096, NULL, "units per SDF hidden layer"},
    {"model.sdf_skip", CFG_INT, "4", 0, MLP_MAX_LAYERS, NULL, "skip-connection layer (0: none)"},
    {"model.sdf_features", CFG_INT, "256", 0, 4096, NULL, "feature outputs of the SDF MLP"},
    {"model.pe_xyz", CFG_INT, "6", 0, 12, NULL, "positional-encoding frequencies of x"},
    {"model.beta", CFG_REAL, "100", 0, 1000, NULL, "Softplus sharpness of the SDF MLP"},
    {"model.init_radius", CFG_REAL, "0.5", 0.01, 1, NULL, "geometric-init sphere radius"},
    {"model.color_layers", CFG_INT, "4", 1, MLP_MAX_LAYERS - 2, NULL, "hidden layers of the colour MLP"},
    {"model.color_width", CFG_INT, "256", 1, 4096, NULL, "units per colour hidden layer"},
    {"model.pe_dir", CFG_INT, "4", 0, 12, NULL, "positional-encoding frequencies of the view direction"},
    {"model.weight_norm", CFG_BOOL, "true", 0, -1, NULL, "weight-normalised MLPs"},
    {"model.variance_init", CFG_REAL, "0.3", -10, 10, NULL, "initial v (inv_s = exp(10 v))"},
    {"model.encoding", CFG_CHOICE, "positional", 0, -1, "positional|volumes|hash",
     "SDF input: NeuS's positional encoding, HIVE's feature volumes or Instant-NGP's hash grid (both need an FD "
     "render.gradient)"},
    {"volumes.count", CFG_INT, "8", 1, NSR_MAX_VOLUMES, NULL, "hierarchical dense volumes"},
    {"volumes.res_min", CFG_INT, "2", 2, 2048, NULL, "resolution of the coarsest volume"},
    {"volumes.res_max", CFG_INT, "256", 2, 2048, NULL, "resolution of the finest volume"},
    {"volumes.channels", CFG_INT, "4", 1, 64, NULL, "feature channels per volume"},
    {"volumes.pe", CFG_INT, "6", 0, 12, NULL, "PE frequencies of the point concatenated before the features"},
    {"volumes.init_std", CFG_REAL, "0.02", 0, 10, NULL, "initial N(0, std^2) of the volumes"},
    {"sparse.resolutions", CFG_STRING, "", 0, -1, NULL,
     "HIVE's sparse high-resolution volumes after the dense ones, one per stage after the first (HIVE: 512,1024; "
     "empty: none; needs train.stages)"},
    {"sparse.index_resolution", CFG_INT, "256", 1, 2048, NULL,
     "bricks a side of each sparse volume's index table (HIVE's 256^3; resolution / this = brick side)"},
    {"sparse.band", CFG_REAL, "0.004", 0, 2, NULL,
     "dilation of the stage's surface within which bricks are activated (normalised units: 2 cells of 1024^3)"},
    {"sparse.build_resolution", CFG_INT, "512", 2, 2048, NULL,
     "SDF grid whose marching-cubes cells locate the surface at a stage boundary"},
    {"sparse.init_std", CFG_REAL, "0", 0, 10, NULL,
     "activated rows start at the shared row + N(0, std^2) (0: the SDF is unchanged at the stage boundary)"},
    {"hash.levels", CFG_INT, "16", 1, NSR_MAX_HASH_LEVELS, NULL, "hash grid levels"},
    {"hash.features", CFG_INT, "2", 1, 64, NULL, "features per level"},
    {"hash.log2_table", CFG_INT, "19", 4, 26, NULL, "log2 of the rows of a level's table"},
    {"hash.res_min", CFG_INT, "16", 2, 65536, NULL, "resolution of the coarsest level"},
    {"hash.res_max", CFG_INT, "2048", 2, 65536, NULL, "resolution of the finest level"},
    {"hash.pe", CFG_INT, "0", 0, 12, NULL, "PE frequencies of the point concatenated before the features"},
    {"hash.init", CFG_REAL, "1e-4", 0, 10, NULL, "initial U(-init, init) of the tables"},
    {"model.background", CFG_BOOL, "false", 0, -1, NULL, "NeRF++ background network (scenes without masks)"},
    {"model.bg_layers", CFG_INT, "8", 1, MLP_MAX_LAYERS - 2, NULL, "background: hidden ReLU layers"},
    {"model.bg_width", CFG_INT, "256", 2, 4096, NULL, "background: units per layer (view layer: half)"},
    {"model.bg_skip", CFG_INT, "5", 0, MLP_MAX_LAYERS, NULL, "background: skip-connection layer (0: none)"},
    {"model.pe_bg", CFG_INT, "10", 0, 12, NULL, "background: frequencies of the 4-D inverted-sphere point"},
    {"model.pe_bg_dir", CFG_INT, "4", 0, 12, NULL, "background: frequencies of the view direction"},
    {"render.n_samples", CFG_INT, "64", 2, 4096, NULL, "coarse samples per ray"},
    {"render.n_importance", CFG_INT, "64", 0, 4096, NULL, "importance samples per ray"},
    {"render.up_sample_steps", CFG_INT, "4", 1, 64, NULL, "importance rounds (divides n_importance)"},
    {"render.gradient", CFG_CHOICE, "analytic", 0, -1, "analytic|fd|fd6",
     "SDF gradient: double backward, 4 tetrahedral or 6 central differences (with the Laplacian)"},
    {"render.fd_eps", CFG_REAL, "0", 0, 1, NULL, "FD step (0: the finest volume's cell, or 1e-4 without volumes)"},
    {"render.chunk_rays", CFG_INT, "64", 1, 65536, NULL, "rays per forward/backward chunk"},
    {"render.n_outside", CFG_INT, "32", 1, 256, NULL, "samples beyond the unit sphere (with model.background)"},
    {"train.iterations", CFG_INT, "300000", 1, 1e9, NULL, "Adam steps"},
    {"train.stages", CFG_STRING, "", 0, -1, NULL,
     "iterations of each stage (HIVE: 80000,20000,200000: dense, + sparse 1, + sparse 2), summing to "
     "train.iterations; empty: one stage"},
    {"train.batch", CFG_INT, "512", 1, 1048576, NULL, "rays per step (split across the group's ranks)"},
    {"train.lr", CFG_REAL, "5e-4", 0, 10, NULL, "peak learning rate"},
    {"train.lr_variance", CFG_REAL, "0", 0, 10, NULL,
     "peak learning rate of the variance v (0: train.lr, as NeuS; higher sharpens the surface sooner)"},
    {"train.warmup", CFG_INT, "5000", 0, 1e9, NULL, "linear warm-up steps"},
    {"train.final_fraction", CFG_REAL, "0.05", 0, 1, NULL, "final lr / peak lr (cosine)"},
    {"train.anneal_end", CFG_INT, "50000", 0, 1e9, NULL, "cos_anneal_ratio = min(1, it / anneal_end) (0: 1)"},
    {"train.eikonal_weight", CFG_REAL, "0.1", 0, 1e3, NULL, "Eikonal loss weight"},
    {"train.mask_weight", CFG_REAL, "0.1", 0, 1e3, NULL, "mask BCE weight (0: no mask)"},
    {"train.normal_weight", CFG_REAL, "0", 0, 1e3, NULL, "HIVE normal smoothness weight (needs render.gradient = fd6)"},
    {"train.tv_weight", CFG_REAL, "0", 0, 1e3, NULL, "HIVE total variation weight on the volumes"},
    {"train.lr_volumes", CFG_STRING, "1e-2,1e-3,1e-4", 0, -1, NULL,
     "peak lr of the volumes of resolution <= 16, <= 64, above (HIVE)"},
    {"train.lr_hash", CFG_REAL, "1e-2", 0, 10, NULL, "peak lr of the hash tables (decayed to volume_final_fraction)"},
    {"train.volume_final_fraction", CFG_REAL, "0.01", 0, 1, NULL, "final lr / peak lr of the volumes (cosine)"},
    {"eval.every", CFG_INT, "5000", 0, 1e9, NULL, "iterations between held-out PSNR evaluations (0: end only)"},
    {"eval.rays", CFG_INT, "1024", 1, 1e8, NULL, "random rays of each held-out view for PSNR"},
    {"eval.render_views", CFG_INT, "1", 0, 1000, NULL, "held-out views rendered in full at each evaluation (0: none)"},
    {"eval.render_downscale", CFG_INT, "4", 1, 64, NULL, "extra downscale of those renders (over data.downscale)"},
    {"mesh.resolution", CFG_INT, "512", 0, 2048, NULL, "marching-cubes grid over [-1.01, 1.01]^3 (0: no mesh)"},
    {"eval.dtu_gt", CFG_STRING, "", 0, -1, NULL,
     "DTU-layout ground truth (Points/stl, ObsMask; relative: inside the data set, as phive synth scene's gt): "
     "the mesh is scored at the end (accuracy_mm, ...; after eval.clean)"},
    {"eval.dtu_series", CFG_BOOL, "false", 0, -1, NULL,
     "with eval.dtu_gt: also score a mesh at every evaluation (series overall_mm against overall_mm_iteration, "
     "phive report's plot)"},
    {"eval.dtu_scan", CFG_INT, "0", 0, 1000, NULL,
     "scan number of eval.dtu_gt (0: the number the data set's directory name ends with, as dtu_scan65)"},
    MESH_CLEAN_SCHEMA("none"), /* before scoring; eval.clean_scene defaults to the data set */
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

#define VIEW_STREAM (1ull << 40)
#define EVAL_STREAM (VIEW_STREAM + 1)
#define RENDER_MIN_WEIGHT 0.5 /* weight sum below which a render pixel shows no normal (as mask > 0.5) */

typedef struct {
    long iterations, batch, checkpoint_every, anneal_end, eval_every, eval_rays;
    long stage_start[NSR_MAX_SPARSE]; /* first iteration of stage k + 2: sparse volume k activates */
    int build_res, fd_eps_auto;
    double band;
    double tv_weight;
    int render_views, render_downscale;
    nsr_dataset ds;
    int *train_views, n_train, *test_views, n_test; /* positions in ds.views */
    neus_model model;
    neus_render_options ropt;
    param_set params;
    adam opt;
    rng_t rng;
    neus_workspace ws;
    int capacity; /* workspace rays */
    char root[4096];    /* the data set (neus_load_data) */
    char dtu_gt[4200];  /* eval.dtu_gt resolved, or "" */
    long dtu_scan;      /* its scan */
    int dtu_series;     /* score a mesh at every evaluation too */
    nsr_rays rays;
} neus_job;

static void my_share(const dist_ctx *d, long n, long *lo, long *hi)
{
    *lo = n * d->group_rank / d->group_size;
    *hi = n * (d->group_rank + 1) / d->group_size;
}

int neus_job_model(const config *cfg, neus_model *m, param_set *p)
{
    neus_model_config mc;
    neus_model_config_default(&mc);
    mc.sdf_hidden_layers = (int)config_int(cfg, "model.sdf_layers");
    mc.sdf_width = (int)config_int(cfg, "model.sdf_width");
    mc.sdf_skip = (int)config_int(cfg, "model.sdf_skip");
    mc.sdf_features = (int)config_int(cfg, "model.sdf_features");
    mc.pe_xyz = (int)config_int(cfg, "model.pe_xyz");
    mc.sdf_beta = config_real(cfg, "model.beta");
    mc.init_radius = config_real(cfg, "model.init_radius");
    mc.color_hidden_layers = (int)config_int(cfg, "model.color_layers");
    mc.color_width = (int)config_int(cfg, "model.color_width");
    mc.pe_dir = (int)config_int(cfg, "model.pe_dir");
    mc.weight_norm = config_bool(cfg, "model.weight_norm");
    mc.variance_init = config_real(cfg, "model.variance_init");
    const char *encoding = config_str(cfg, "model.encoding");
    mc.encoding = !strcmp(encoding, "volumes") ? NSR_ENCODING_VOLUMES
                  : !strcmp(encoding, "hash")  ? NSR_ENCODING_HASH
                                               : NSR_ENCODING_POSITIONAL;
    mc.volumes.n_volumes = (int)config_int(cfg, "volumes.count");
    mc.volumes.res_min = (int)config_int(cfg, "volumes.res_min");
    mc.volumes.res_max = (int)config_int(cfg, "volumes.res_max");
    mc.volumes.channels = (int)config_int(cfg, "volumes.channels");
    mc.volumes.pe_freqs = (int)config_int(cfg, "volumes.pe");
    mc.volumes.init_std = config_real(cfg, "volumes.init_std");
    mc.volumes.sparse_init_std = config_real(cfg, "sparse.init_std");
    mc.volumes.n_sparse = config_list_length(cfg, "sparse.resolutions");
    mc.volumes.index_res = (int)config_int(cfg, "sparse.index_resolution");
    double res[NSR_MAX_SPARSE];
    if (mc.volumes.n_sparse > NSR_MAX_SPARSE)
        return err_set("sparse.resolutions = '%s': at most %d sparse volumes", config_str(cfg, "sparse.resolutions"),
                       NSR_MAX_SPARSE);
    if (mc.volumes.n_sparse && mc.encoding != NSR_ENCODING_VOLUMES)
        return err_set("sparse.resolutions = '%s' needs model.encoding = volumes", config_str(cfg, "sparse.resolutions"));
    if (mc.volumes.n_sparse && config_reals(cfg, "sparse.resolutions", mc.volumes.n_sparse, res)) return -1;
    for (int k = 0; k < mc.volumes.n_sparse; ++k) {
        if (res[k] != floor(res[k]) || res[k] < 2 || res[k] > 8192)
            return err_set("sparse.resolutions: %g is not a resolution in 2..8192", res[k]);
        mc.volumes.sparse_res[k] = (int)res[k];
    }
    mc.hash.levels = (int)config_int(cfg, "hash.levels");
    mc.hash.features = (int)config_int(cfg, "hash.features");
    mc.hash.log2_table = (int)config_int(cfg, "hash.log2_table");
    mc.hash.res_min = (int)config_int(cfg, "hash.res_min");
    mc.hash.res_max = (int)config_int(cfg, "hash.res_max");
    mc.hash.pe_freqs = (int)config_int(cfg, "hash.pe");
    mc.hash.init_scale = config_real(cfg, "hash.init");
    mc.background = config_bool(cfg, "model.background");
    mc.bg_layers = (int)config_int(cfg, "model.bg_layers");
    mc.bg_width = (int)config_int(cfg, "model.bg_width");
    mc.bg_skip = (int)config_int(cfg, "model.bg_skip");
    mc.pe_bg = (int)config_int(cfg, "model.pe_bg");
    mc.pe_bg_dir = (int)config_int(cfg, "model.pe_bg_dir");
    return neus_model_declare(m, p, &mc, 0) || params_allocate(p) ? -1 : 0;
}

/* data.region: six numbers, or the file inside the data set that holds them. */
static int region_of(const config *cfg, const char *root, double region[6])
{
    const char *value = config_str(cfg, "data.region");
    char *end;
    strtod(value, &end);
    if (end != value) return config_reals(cfg, "data.region", 6, region);
    char path[4200];
    if (file_resolve(root, value, "data.region", path, sizeof path)) return -1;
    FILE *f = fopen(path, "r");
    if (!f) return err_set("data.region = %s: cannot open %s: %s", value, path, strerror(errno));
    int n = 0;
    while (n < 6 && fscanf(f, " %lf ,", &region[n]) == 1 && isfinite(region[n])) ++n;
    char extra;
    const int trailing = fscanf(f, " %c", &extra) == 1;
    fclose(f);
    if (n != 6 || trailing) return err_set("%s (data.region): expected six numbers x0 y0 z0 x1 y1 z1", path);
    return 0;
}

int neus_load_data(const config *cfg, int cameras_only, char *root, size_t root_size, nsr_dataset *ds)
{
    if (file_resolve(config_str(cfg, "data.collection"), config_str(cfg, "data.root"), "data.root", root, root_size))
        return -1;
    double region[6];
    nsr_dataset_options o = {.format = strcmp(config_str(cfg, "data.format"), "strecha") ? NSR_FORMAT_NEUS
                                                                                          : NSR_FORMAT_STRECHA,
                             .cameras = config_str(cfg, "data.cameras"),
                             .downscale = (int)config_int(cfg, "data.downscale"),
                             .split = NSR_SPLIT_ALL,
                             .cameras_only = cameras_only};
    if (o.format == NSR_FORMAT_STRECHA) {
        if (!*config_str(cfg, "data.region"))
            return err_set("data.format = strecha needs data.region (the world box of the object: x0,y0,z0,x1,y1,z1)");
        if (region_of(cfg, root, region)) return -1;
        o.region = region;
    }
    return nsr_dataset_load(root, &o, ds) ? err_context("data.root = %s", root) : 0;
}

/* eval.dtu_scan, or with 0 the number ending the data set's directory name (dtu_scan65 → 65). */
static int dtu_scan_of(const config *cfg, const char *root, long *scan)
{
    *scan = config_int(cfg, "eval.dtu_scan");
    if (*scan > 0) return 0;
    size_t end = strlen(root);
    while (end > 0 && root[end - 1] == '/') --end;
    size_t start = end;
    while (start > 0 && root[start - 1] >= '0' && root[start - 1] <= '9') --start;
    if (start == end || end - start > 4)
        return err_set("eval.dtu_scan = 0, but the data set's name (%s) does not end with a scan number: set eval.dtu_scan",
                       root);
    *scan = strtol(root + start, NULL, 10);
    return 0;
}

/* With render.fd_eps = 0: one cell of the finest grid with a table of its own (the dense volumes,
 * the active sparse ones, the hash grid's last level), 1e-4 without grids. */
static void follow_fd_eps(neus_job *s)
{
    if (!s->fd_eps_auto) return;
    const neus_model_config *c = &s->model.cfg;
    int finest = c->encoding == NSR_ENCODING_VOLUMES ? c->volumes.res_max
                 : c->encoding == NSR_ENCODING_HASH  ? nsr_volume_resolution(&s->model.enc_xyz, c->hash.levels - 1)
                                                     : 0;
    for (int k = 0; k < nsr_sparse_count(&s->model.enc_xyz); ++k) {
        nsr_sparse_info info;
        if (!nsr_sparse_info_of(&s->model.enc_xyz, k, &info) && info.active && info.res > finest) finest = info.res;
    }
    s->ropt.fd_eps = finest ? 2.0 / (finest - 1) : 1e-4;
}

/* train.stages into stage_start (one stage per sparse volume after the dense one). */
static int stages_of(neus_job *s, const config *cfg)
{
    const int n_sparse = nsr_sparse_count(&s->model.enc_xyz), n = config_list_length(cfg, "train.stages");
    s->build_res = (int)config_int(cfg, "sparse.build_resolution");
    s->band = config_real(cfg, "sparse.band");
    if (n == 0 && n_sparse == 0) return 0;
    if (n != n_sparse + 1)
        return err_set("train.stages = '%s' lists %d stages; sparse.resolutions = '%s' needs %d (dense, then one per "
                       "sparse volume)", config_str(cfg, "train.stages"), n, config_str(cfg, "sparse.resolutions"),
                       n_sparse + 1);
    double stage[NSR_MAX_SPARSE + 1], sum = 0;
    if (config_reals(cfg, "train.stages", n, stage)) return -1;
    for (int k = 0; k < n; ++k) {
        if (stage[k] < 1 || stage[k] != floor(stage[k]))
            return err_set("train.stages: %g is not a positive iteration count", stage[k]);
        sum += stage[k];
        if (k < n_sparse) s->stage_start[k] = (long)sum;
    }
    if (sum != (double)s->iterations)
        return err_set("train.stages = '%s' sums to %.0f iterations, train.iterations is %ld",
                       config_str(cfg, "train.stages"), sum, s->iterations);
    return 0;
}

static int setup(neus_job *s, const job_ctx *ctx)
{
    const config *cfg = ctx->cfg;
    memset(s, 0, sizeof *s);
    params_init(&s->params);
    s->iterations = config_int(cfg, "train.iterations");
    s->batch = config_int(cfg, "train.batch");
    s->checkpoint_every = config_int(cfg, "run.checkpoint_every");
    s->anneal_end = config_int(cfg, "train.anneal_end");
    s->eval_every = config_int(cfg, "eval.every");
    s->eval_rays = config_int(cfg, "eval.rays");
    s->render_views = (int)config_int(cfg, "eval.render_views");
    s->render_downscale = (int)config_int(cfg, "eval.render_downscale");
    rng_seed(&s->rng, (uint64_t)config_int(cfg, "job.seed"), 0);

    int test_every = (int)config_int(cfg, "data.test_every");
    if (neus_load_data(cfg, 0, s->root, sizeof s->root, &s->ds)) return -1;
    const char *root = s->root;
    s->train_views = malloc((size_t)s->ds.n_views * sizeof(int));
    s->test_views = malloc((size_t)s->ds.n_views * sizeof(int));
    if (!s->train_views || !s->test_views) return err_set("out of memory");
    for (int v = 0; v < s->ds.n_views; ++v) {
        if (test_every > 0 && nsr_view_is_test(s->ds.views[v].index, test_every))
            s->test_views[s->n_test++] = v;
        else
            s->train_views[s->n_train++] = v;
    }
    if (s->n_train == 0) return err_set("data.root = %s: no training views (data.test_every = %d)", root, test_every);
    if (s->render_views > 0 && s->n_test > 0 &&
        (s->render_downscale > s->ds.width || s->render_downscale > s->ds.height))
        return err_set("eval.render_downscale = %d: larger than the %d x %d images of %s", s->render_downscale,
                       s->ds.width, s->ds.height, root);
    if (ctx->dist->group_rank == 0)
        log_info("%s: %s: %d views of %d x %d (downscale %d): %d training, %d held out", ctx->id, root,
                 s->ds.n_views, s->ds.width, s->ds.height, s->ds.downscale, s->n_train, s->n_test);

    if (*config_str(cfg, "eval.dtu_gt")) { /* found now, not after training: the files the end of the job reads */
        if (file_resolve(root, config_str(cfg, "eval.dtu_gt"), "eval.dtu_gt", s->dtu_gt, sizeof s->dtu_gt)) return -1;
        if (dtu_scan_of(cfg, root, &s->dtu_scan)) return -1;
        s->dtu_series = config_bool(cfg, "eval.dtu_series");
        if (eval_dtu_truth_readable(s->dtu_gt, s->dtu_scan))
            return err_context("eval.dtu_gt = %s", config_str(cfg, "eval.dtu_gt"));
    }

    if (neus_job_model(cfg, &s->model, &s->params)) return -1;
    neus_model_init(&s->model, &s->params, &s->rng);

    neus_render_options_default(&s->ropt);
    s->ropt.n_samples = (int)config_int(cfg, "render.n_samples");
    s->ropt.n_importance = (int)config_int(cfg, "render.n_importance");
    s->ropt.up_sample_steps = (int)config_int(cfg, "render.up_sample_steps");
    const char *gradient = config_str(cfg, "render.gradient");
    s->ropt.gradient = !strcmp(gradient, "fd") ? NEUS_GRADIENT_FD
                                               : (!strcmp(gradient, "fd6") ? NEUS_GRADIENT_FD6 : NEUS_GRADIENT_ANALYTIC);
    const int volumes = s->model.cfg.encoding == NSR_ENCODING_VOLUMES, hash = s->model.cfg.encoding == NSR_ENCODING_HASH;
    s->ropt.fd_eps = config_real(cfg, "render.fd_eps");
    s->fd_eps_auto = s->ropt.fd_eps == 0;
    follow_fd_eps(s);
    if ((volumes || hash) && s->ropt.gradient == NEUS_GRADIENT_ANALYTIC)
        return err_set("model.encoding = %s needs render.gradient = fd or fd6 (finite differences)",
                       config_str(cfg, "model.encoding"));
    s->ropt.normal_weight = config_real(cfg, "train.normal_weight");
    if (s->ropt.normal_weight > 0 && s->ropt.gradient != NEUS_GRADIENT_FD6)
        return err_set("train.normal_weight = %g needs render.gradient = fd6 (the Laplacian)", s->ropt.normal_weight);
    if (stages_of(s, cfg)) return -1;
    s->tv_weight = config_real(cfg, "train.tv_weight");
    if (s->tv_weight > 0 && !volumes) return err_set("train.tv_weight = %g needs model.encoding = volumes", s->tv_weight);
    s->ropt.chunk_rays = (int)config_int(cfg, "render.chunk_rays");
    s->ropt.n_outside = s->model.cfg.background ? (int)config_int(cfg, "render.n_outside") : 0;
    s->ropt.eikonal_weight = config_real(cfg, "train.eikonal_weight");
    s->ropt.mask_weight = config_real(cfg, "train.mask_weight");
    s->ropt.perturb = 1;
    if (s->ropt.n_importance % s->ropt.up_sample_steps)
        return err_set("render.n_importance (%d) must be a multiple of render.up_sample_steps (%d)",
                       s->ropt.n_importance, s->ropt.up_sample_steps);

    lr_schedule schedule = {.kind = SCHEDULE_WARMUP_COSINE,
                            .lr = config_real(cfg, "train.lr"),
                            .warmup = config_int(cfg, "train.warmup"),
                            .total = s->iterations,
                            .final_fraction = config_real(cfg, "train.final_fraction")};
    lr_schedule variance = schedule;
    if (config_real(cfg, "train.lr_variance") > 0) variance.lr = config_real(cfg, "train.lr_variance");
    if (adam_init(&s->opt, &s->params, 0.9, 0.999, 1e-8) || adam_set_group(&s->opt, 0, schedule) ||
        adam_set_group(&s->opt, 4, variance))
        return -1;
    if (volumes || hash) { /* groups 1..3: the volumes by resolution band, or the hash tables in 1 */
        double lr[3] = {config_real(cfg, "train.lr_hash")};
        if (volumes && config_reals(cfg, "train.lr_volumes", 3, lr)) return -1;
        for (int band = 0; band < (volumes ? 3 : 1); ++band) {
            lr_schedule vs = schedule;
            vs.lr = lr[band];
            vs.final_fraction = config_real(cfg, "train.volume_final_fraction");
            if (adam_set_group(&s->opt, 1 + band, vs)) return -1;
        }
    }

    long cap = s->batch / ctx->dist->group_size + 1;
    long eval_cap = s->eval_rays < 1024 ? s->eval_rays : 1024;
    if (cap < eval_cap) cap = eval_cap;
    s->capacity = (int)cap;
    return neus_workspace_alloc(&s->ws, &s->model, &s->ropt, s->capacity);
}

static void teardown(neus_job *s)
{
    if (s->capacity) neus_workspace_free(&s->ws, &s->model);
    adam_free(&s->opt);
    params_free(&s->params);
    neus_model_free(&s->model);
    nsr_rays_free(&s->rays);
    nsr_dataset_free(&s->ds);
    free(s->train_views);
    free(s->test_views);
}

static neus_ray_batch batch_of(const nsr_rays *r, size_t n, uint64_t first, int targets)
{
    neus_ray_batch b = {.n = (int)n,
                        .origin = r->origin,
                        .direction = r->direction,
                        .near = r->near,
                        .far = r->far,
                        .rgb = targets ? r->rgb : NULL,
                        .mask = targets ? r->mask : NULL,
                        .first = first};
    return b;
}

/* One Adam step; out[0..3] = loss, masked squared error / (3 M) (train PSNR), inv_s. */
static int train_step(neus_job *s, const job_ctx *ctx, long it, double out[3])
{
    long lo, hi;
    my_share(ctx->dist, s->batch, &lo, &hi);
    double u[2];
    rng_uniform2_at(&s->rng, VIEW_STREAM, (uint64_t)it, u);
    int pick = (int)(u[0] * s->n_train);
    if (pick >= s->n_train) pick = s->n_train - 1;
    int v = s->train_views[pick];
    if (nsr_random_rays(&s->ds, v, &s->rng, 2 * (uint64_t)it, (uint64_t)lo, (size_t)(hi - lo), &s->rays)) return -1;
    neus_ray_batch b = batch_of(&s->rays, (size_t)(hi - lo), (uint64_t)lo, 1);
    s->ropt.perturb = 1;
    s->ropt.cos_anneal_ratio = s->anneal_end > 0 ? fmin(1.0, (double)it / (double)s->anneal_end) : 1.0;
    if (neus_sample(&s->model, &s->params, &s->ropt, &b, &s->rng, 2 * (uint64_t)it + 1, &s->ws)) return -1;
    neus_normalizers norm;
    neus_count(&s->ropt, &b, &s->ws, &norm);
    double nv[3] = {norm.rays, norm.mask_sum, norm.eikonal_count};
    if (dist_allreduce_double(ctx->dist, nv, 3)) return -1;
    norm.rays = nv[0], norm.mask_sum = nv[1], norm.eikonal_count = nv[2];
    params_zero_grads(&s->params);
    neus_loss loss;
    memset(&loss, 0, sizeof loss);
    if (neus_forward(&s->model, &s->params, &s->ropt, &b, &norm, 1, &s->ws, &loss)) return -1;
    if (s->tv_weight > 0 && ctx->dist->group_rank == 0) /* once per group: the all-reduce sums it */
        loss.total += s->tv_weight * nsr_volume_tv(&s->model.enc_xyz, &s->params, s->tv_weight, 1);
    if (dist_allreduce(ctx->dist, s->params.grads, s->params.count, 0)) return -1;
    double sums[2] = {loss.total, loss.sq_error};
    if (dist_allreduce_double(ctx->dist, sums, 2)) return -1;
    if (adam_step(&s->opt, &s->params)) return -1;
    double m = s->ropt.mask_weight > 0 ? norm.mask_sum : norm.rays;
    out[0] = sums[0];
    out[1] = sums[1] / (3.0 * m + 1e-5);
    out[2] = neus_inv_s(&s->model, &s->params);
    return 0;
}

static double psnr(double mse) { return mse > 0 ? -10.0 * log10(mse) : 99.0; }

/* Held-out PSNR over eval.rays random pixels of each test view: out = {all pixels, masked}. */
static int evaluate(neus_job *s, const job_ctx *ctx, double out[2])
{
    double sums[4] = {0, 0, 0, 0}; /* Σ err², n, Σ m err², Σ m */
    neus_render_options o = s->ropt;
    o.perturb = 0;
    o.cos_anneal_ratio = 1.0;
    long lo, hi;
    my_share(ctx->dist, s->eval_rays, &lo, &hi);
    for (int t = 0; t < s->n_test; ++t) {
        int v = s->test_views[t];
        for (long start = lo; start < hi; start += s->capacity) {
            long n = hi - start < s->capacity ? hi - start : s->capacity;
            if (nsr_random_rays(&s->ds, v, &s->rng, EVAL_STREAM + (uint64_t)s->ds.views[v].index, (uint64_t)start,
                                (size_t)n, &s->rays))
                return -1;
            neus_ray_batch b = batch_of(&s->rays, (size_t)n, (uint64_t)start, 0);
            if (neus_sample(&s->model, &s->params, &o, &b, NULL, 0, &s->ws) ||
                neus_forward(&s->model, &s->params, &o, &b, NULL, 0, &s->ws, NULL))
                return -1;
            for (long r = 0; r < n; ++r) {
                double e = 0;
                for (int c = 0; c < 3; ++c) {
                    double d = (double)s->ws.color[3 * r + c] - (double)s->rays.rgb[3 * r + c];
                    e += d * d;
                }
                double m = s->rays.mask[r] > 0.5 ? 1.0 : 0.0;
                sums[0] += e, sums[1] += 3, sums[2] += m * e, sums[3] += 3 * m;
            }
        }
    }
    if (dist_allreduce_double(ctx->dist, sums, 4)) return -1;
    out[0] = psnr(sums[0] / (sums[1] > 0 ? sums[1] : 1));
    out[1] = psnr(sums[2] / (sums[3] > 0 ? sums[3] : 1));
    return 0;
}

/* The DTU protocol on mesh out (cleaned first as eval.clean says; path names it in errors). */
static int score_mesh(neus_job *s, job_ctx *ctx, mesh *out, const char *path, eval_dtu_result *r)
{
    eval_dtu_options o;
    eval_dtu_options_default(&o);
    o.seed = (uint64_t)config_int(ctx->cfg, "job.seed");
    return mesh_clean_configured(out, ctx->cfg, s->root, &ctx->final) ||
                   eval_dtu_mesh(out, path, s->dtu_gt, s->dtu_scan, &o, r)
               ? -1
               : 0;
}

static int append_chamfer(job_ctx *ctx, double overall, long it)
{
    return metrics_append(&ctx->series, "overall_mm", overall) ||
           metrics_append(&ctx->series, "overall_mm_iteration", (double)it);
}

static int write_mesh(neus_job *s, job_ctx *ctx, int res)
{
    mesh out;
    mesh_init(&out);
    char path[4200];
    job_path(ctx, "mesh.ply", path, sizeof path);
    int status = neus_sdf_mesh(&s->model, &s->params, res, s->ds.scale_mat0, &out) || mesh_write(path, &out);
    if (!status) {
        log_info("%s: mesh %s: %zu vertices, %zu faces", ctx->id, path, out.n_vertices, out.n_faces);
        status = metrics_set(&ctx->final, "mesh_faces", (double)out.n_faces);
    }
    if (!status && *s->dtu_gt) { /* score the mesh: the sweeps' tables get accuracy and completeness */
        eval_dtu_result r;
        status = score_mesh(s, ctx, &out, path, &r) || metrics_set(&ctx->final, "accuracy_mm", r.accuracy) ||
                 metrics_set(&ctx->final, "completeness_mm", r.completeness) ||
                 metrics_set(&ctx->final, "overall_mm", r.overall) ||
                 (s->dtu_series && append_chamfer(ctx, r.overall, s->iterations));
        if (!status)
            log_info("%s: DTU protocol against %s (scan %ld): accuracy %.4f, completeness %.4f, overall %.4f mm", ctx->id,
                     s->dtu_gt, s->dtu_scan, r.accuracy, r.completeness, r.overall);
    }
    mesh_free(&out);
    return status ? -1 : 0;
}

/* eval.dtu_series: rank 0 scores the mesh of iteration `it` and keeps the series (as it keeps the
 * final metrics); the last point is write_mesh's score. */
static int record_chamfer(neus_job *s, job_ctx *ctx, long it)
{
    int status = 0;
    if (ctx->dist->group_rank == 0) {
        mesh out;
        mesh_init(&out);
        char name[64];
        snprintf(name, sizeof name, "mesh at iteration %ld", it);
        eval_dtu_result r;
        status = neus_sdf_mesh(&s->model, &s->params, (int)config_int(ctx->cfg, "mesh.resolution"), s->ds.scale_mat0,
                               &out) ||
                 score_mesh(s, ctx, &out, name, &r) || append_chamfer(ctx, r.overall, it);
        mesh_free(&out);
        if (!status) log_info("%s: iteration %ld: DTU overall %.4f mm", ctx->id, it, r.overall);
    }
    if (dist_group_max(ctx->dist, status != 0)) return status ? -1 : err_set("rank 0 failed to score the mesh");
    return 0;
}

/* ---- full-image validation renders ---------------------------------------------------------- */

/* Rays [start, start + n) of r, to render (no targets). */
static neus_ray_batch batch_slice(const nsr_rays *r, size_t start, size_t n)
{
    neus_ray_batch b = {.n = (int)n,
                        .origin = r->origin + 3 * start,
                        .direction = r->direction + 3 * start,
                        .near = r->near + start,
                        .far = r->far + start,
                        .first = start};
    return b;
}

/* Ray b's normal as a colour: n = R·Σ_i w_i ∇f_i normalised (R world → camera), (n + 1)/2; black
 * where Σ_i w_i is below RENDER_MIN_WEIGHT (no surface, the direction is noise).  The sums run
 * over the S samples of ws->weights only, which stay the surface's should a background model
 * add weight beyond them. */
static void normal_colour(const neus_workspace *ws, int b, const double R[9], real out[3])
{
    const int S = ws->n_per_ray;
    double sum[3] = {0, 0, 0}, weight = 0, n[3], len = 0;
    for (int i = 0; i < S; ++i) {
        double w = (double)ws->weights[(size_t)b * S + i];
        weight += w;
        for (int c = 0; c < 3; ++c) sum[c] += w * (double)ws->gradient_out[((size_t)b * S + i) * 3 + c];
    }
    for (int r = 0; r < 3; ++r) {
        n[r] = R[3 * r] * sum[0] + R[3 * r + 1] * sum[1] + R[3 * r + 2] * sum[2];
        len += n[r] * n[r];
    }
    len = sqrt(len);
    int shown = weight >= RENDER_MIN_WEIGHT && len > 0;
    for (int c = 0; c < 3; ++c) out[c] = shown ? (real)((n[c] / len + 1) / 2) : 0;
}

/* Render pixels [first, last) of the view whose rays are in s->rays into px (6 values a pixel:
 * colour, normal colour); adds Σ (C − Ĉ)² of those pixels to *sq_error. */
static int render_pixels(neus_job *s, const double R[9], long first, long last, real *px, double *sq_error)
{
    neus_render_options o = s->ropt;
    o.perturb = 0;
    o.cos_anneal_ratio = 1.0;
    for (long start = first; start < last; start += s->capacity) {
        long n = last - start < s->capacity ? last - start : s->capacity;
        neus_ray_batch b = batch_slice(&s->rays, (size_t)start, (size_t)n);
        if (neus_sample(&s->model, &s->params, &o, &b, NULL, 0, &s->ws) ||
            neus_forward(&s->model, &s->params, &o, &b, NULL, 0, &s->ws, NULL))
            return -1;
        for (long r = 0; r < n; ++r) {
            real *out = px + 6 * (start + r);
            for (int c = 0; c < 3; ++c) {
                out[c] = s->ws.color[3 * r + c];
                double d = (double)out[c] - (double)s->rays.rgb[3 * (start + r) + c];
                *sq_error += d * d;
            }
            normal_colour(&s->ws, (int)r, R, out + 3);
        }
    }
    return 0;
}

/* A value in [0, 1] as an 8-bit sample, the data's convention (sample / 256). */
static uint8_t sample_of(double x)
{
    double v = floor(x * 256.0 + 0.5);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* renders/view_VVV_it_NNNNNNN.png: ground truth | colour | normals, each w × h. */
static int write_render(const job_ctx *ctx, int view, long it, int w, int h, const real *gt, const real *px)
{
    char dir[4200], path[4300];
    job_path(ctx, "renders", dir, sizeof dir);
    if (mkdir(dir, 0775) && errno != EEXIST) return err_set("%s: cannot create the directory: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/view_%03d_it_%07ld.png", dir, view, it);
    image im;
    image_init(&im);
    if (image_alloc(&im, 3 * w, h, 3, 8)) return -1;
    for (long k = 0; k < (long)w * h; ++k) {
        uint8_t *row = im.u8 + 3 * ((k / w) * 3 * w + k % w); /* pixel k of the left panel */
        for (int c = 0; c < 3; ++c) {
            row[c] = sample_of(gt[3 * k + c]);
            row[3 * w + c] = sample_of(px[6 * k + c]);
            row[6 * w + c] = sample_of(px[6 * k + 3 + c]);
        }
    }
    int status = image_write_png(path, &im);
    image_free(&im);
    return status;
}

/* Render held-out view v in full at eval.render_downscale, rows split across the group; rank 0
 * writes the PNG.  Adds the view's Σ (C − Ĉ)² and sample count to sums[0], sums[1] (this rank's share). */
static int render_view(neus_job *s, job_ctx *ctx, int v, long it, double sums[2])
{
    const int w = s->ds.width / s->render_downscale, h = s->ds.height / s->render_downscale;
    if (nsr_view_rays(&s->ds, v, s->render_downscale, &s->rays)) return -1;
    real *px = calloc((size_t)w * h * 6, sizeof *px); /* zero outside this rank's rows: the sum is the image */
    if (!px) return err_set("out of memory for a %d x %d render", w, h);
    long lo, hi;
    my_share(ctx->dist, h, &lo, &hi);
    sums[1] += 3.0 * (double)((hi - lo) * w);
    /* the group agrees before each collective, so that no rank waits for one that failed */
    int failed = render_pixels(s, s->ds.views[v].cam.R, lo * w, hi * w, px, &sums[0]) != 0;
    if (dist_group_max(ctx->dist, failed)) {
        free(px);
        return failed ? -1 : err_set("another rank failed to render view %d", s->ds.views[v].index);
    }
    int status = dist_allreduce(ctx->dist, px, (size_t)w * h * 6, 0);
    if (!status && ctx->dist->group_rank == 0)
        status = write_render(ctx, s->ds.views[v].index, it, w, h, s->rays.rgb, px);
    free(px);
    if (dist_group_max(ctx->dist, status != 0)) return status ? -1 : err_set("rank 0 failed to write a render");
    return 0;
}

/* PSNR over every pixel of the first eval.render_views held-out views, rendered and written. */
static int render_eval(neus_job *s, job_ctx *ctx, long it, double *out)
{
    double sums[2] = {0, 0}; /* Σ err², samples */
    int n = s->render_views < s->n_test ? s->render_views : s->n_test;
    for (int t = 0; t < n; ++t)
        if (render_view(s, ctx, s->test_views[t], it, sums)) return -1;
    if (dist_allreduce_double(ctx->dist, sums, 2)) return -1;
    *out = psnr(sums[0] / (sums[1] > 0 ? sums[1] : 1));
    return 0;
}

static int record_eval(neus_job *s, job_ctx *ctx, long it)
{
    if (s->dtu_series && it < s->iterations && config_int(ctx->cfg, "mesh.resolution") >= 2 &&
        record_chamfer(s, ctx, it))
        return -1;
    if (s->n_test == 0) return 0;
    double p[2];
    if (evaluate(s, ctx, p)) return -1;
    if (ctx->dist->group_rank == 0)
        log_info("%s: iteration %ld: held-out PSNR %.3f dB (masked %.3f dB)", ctx->id, it, p[0], p[1]);
    if (metrics_append(&ctx->series, "psnr_test", p[0]) || metrics_append(&ctx->series, "psnr_test_masked", p[1]) ||
        metrics_append(&ctx->series, "psnr_test_iteration", (double)it))
        return -1;
    if (s->render_views == 0) return 0;
    double pr;
    if (render_eval(s, ctx, it, &pr)) return -1;
    if (ctx->dist->group_rank == 0) log_info("%s: iteration %ld: held-out full-image PSNR %.3f dB", ctx->id, it, pr);
    return metrics_append(&ctx->series, "psnr_render", pr) ||
           metrics_append(&ctx->series, "psnr_render_iteration", (double)it);
}

/* ---- HIVE's stages: sparse volumes ----------------------------------------------------------- */

static int sparse_report(neus_job *s, job_ctx *ctx, int k, const char *what)
{
    nsr_sparse_info info;
    if (nsr_sparse_info_of(&s->model.enc_xyz, k, &info)) return -1;
    const double share = (double)info.active / ((double)info.bricks_per_axis * info.bricks_per_axis * info.bricks_per_axis);
    if (ctx->dist->group_rank == 0)
        log_info("%s: sparse volume %d^3 %s: %ld bricks of %d^3 (%.2f %% of the volume), %zu rows, %.1f MiB with "
                 "gradients, Adam moments and index", ctx->id, info.res, what, info.active, info.brick_side,
                 100 * share, info.rows, info.bytes / 1048576.0);
    char name[64];
    snprintf(name, sizeof name, "sparse%d_bricks", k);
    if (metrics_set(&ctx->final, name, (double)info.active)) return -1;
    snprintf(name, sizeof name, "sparse%d_mib", k);
    return metrics_set(&ctx->final, name, info.bytes / 1048576.0);
}

/* Stage k + 2 begins: activate sparse volume k's bricks around the current surface. */
static int build_sparse(neus_job *s, job_ctx *ctx, int k)
{
    nsr_sparse_info info;
    if (nsr_sparse_info_of(&s->model.enc_xyz, k, &info)) return -1;
    const int G = s->build_res;
    const long per_axis = info.bricks_per_axis, total = per_axis * per_axis * per_axis;
    long lo, hi; /* this rank's z-cells of the SDF grid */
    my_share(ctx->dist, G - 1, &lo, &hi);
    real *mark = calloc((size_t)total, sizeof *mark);
    float *grid = hi > lo ? malloc((size_t)G * G * (size_t)(hi - lo + 1) * sizeof *grid) : NULL;
    int failed = !mark || (hi > lo && !grid);
    if (failed) err_set("out of memory for the brick marks of sparse volume %d", k);
    if (!failed && hi > lo) {
        failed = neus_sdf_grid(&s->model, &s->params, G, -1, 1, (int)lo, (int)hi, grid) != 0;
        if (!failed) nsr_sparse_mark(&s->model.enc_xyz, k, grid, G, (int)lo, (int)hi, s->band, mark);
    }
    free(grid);
    if (dist_group_max(ctx->dist, failed) || dist_allreduce(ctx->dist, mark, (size_t)total, 0)) {
        free(mark);
        return failed ? -1 : err_set("another rank failed to sample the SDF for sparse volume %d", k);
    }
    long n = 0, *ids = malloc((size_t)(total ? total : 1) * sizeof *ids);
    if (!ids) {
        free(mark);
        return err_set("out of memory for the brick list of sparse volume %d", k);
    }
    for (long b = 0; b < total; ++b)
        if (mark[b] > 0) ids[n++] = b;
    free(mark);
    int status = nsr_sparse_activate(&s->model.enc_xyz, &s->params, &s->opt, k, ids, n, &s->rng);
    free(ids);
    if (status) return -1;
    follow_fd_eps(s);
    return sparse_report(s, ctx, k, "activated");
}

int neus_restore_structure(neus_model *m, param_set *p, adam *opt, const char *ckpt)
{
    for (int k = 0; k < nsr_sparse_count(&m->enc_xyz); ++k) {
        char name[64];
        snprintf(name, sizeof name, "sparse%d_bricks", k);
        uint64_t *ids = NULL;
        size_t n = 0;
        if (ckpt_read_array(ckpt, name, &ids, &n)) return -1;
        long *bricks = n ? malloc(n * sizeof *bricks) : NULL;
        if (n && !bricks) {
            free(ids);
            return err_set("out of memory for the bricks of %s", ckpt);
        }
        for (size_t i = 0; i < n; ++i) bricks[i] = (long)ids[i];
        /* no initial draw: the checkpoint's values replace it */
        int status = n ? nsr_sparse_activate(&m->enc_xyz, p, opt, k, bricks, (long)n, NULL) : 0;
        free(ids), free(bricks);
        if (status) return err_context("%s: /structure/%s", ckpt, name);
    }
    return 0;
}

/* The checkpoint with the sparse volumes' active bricks. */
static int save_checkpoint(neus_job *s, job_ctx *ctx, long iterations)
{
    ckpt_array arrays[NSR_MAX_SPARSE];
    char names[NSR_MAX_SPARSE][32];
    uint64_t *ids[NSR_MAX_SPARSE] = {NULL};
    int n = 0, status = 0;
    for (int k = 0; k < nsr_sparse_count(&s->model.enc_xyz) && !status; ++k) {
        nsr_sparse_info info;
        const long *bricks = nsr_sparse_bricks(&s->model.enc_xyz, k);
        if (!bricks || nsr_sparse_info_of(&s->model.enc_xyz, k, &info)) continue;
        if (!(ids[n] = malloc((size_t)info.active * sizeof **ids))) {
            status = err_set("out of memory writing the checkpoint");
            break;
        }
        for (long a = 0; a < info.active; ++a) ids[n][a] = (uint64_t)bricks[a];
        snprintf(names[n], sizeof names[n], "sparse%d_bricks", k);
        arrays[n] = (ckpt_array){.name = names[n], .data = ids[n], .count = (size_t)info.active};
        ++n;
    }
    if (!status) status = job_checkpoint_save_structure(ctx, &s->params, &s->opt, &s->rng, iterations, arrays, n);
    for (int k = 0; k < NSR_MAX_SPARSE; ++k) free(ids[k]);
    return status;
}

/* Before the checkpoint's values load: its sparse volumes' bricks (every rank reads them). */
static int resume_structure(neus_job *s, job_ctx *ctx)
{
    char path[4200];
    job_path(ctx, "ckpt.h5", path, sizeof path);
    int failed = 0;
    if (!access(path, F_OK)) failed = neus_restore_structure(&s->model, &s->params, &s->opt, path) != 0;
    if (dist_group_max(ctx->dist, failed)) return failed ? -1 : err_set("another rank failed to restore the sparse volumes");
    follow_fd_eps(s);
    for (int k = 0; k < nsr_sparse_count(&s->model.enc_xyz); ++k)
        if (nsr_sparse_bricks(&s->model.enc_xyz, k) && sparse_report(s, ctx, k, "restored")) return -1;
    return 0;
}

static int run_training(neus_job *s, job_ctx *ctx)
{
    if (resume_structure(s, ctx)) return -1;
    const long first = job_checkpoint_resume(ctx, &s->params, &s->opt, &s->rng);
    if (first < 0) return -1;
    progress bar;
    progress_begin(&bar, ctx->id, first, s->iterations, config_int(ctx->cfg, "run.log_every"));
    int leader = ctx->dist->group_rank == 0;
    for (long it = first; it < s->iterations; ++it) {
        if (job_should_stop(ctx)) {
            progress_end(&bar);
            if (leader) log_info("%s: stop requested, checkpointing at iteration %ld", ctx->id, it);
            return save_checkpoint(s, ctx, it) ? -1 : JOB_INTERRUPTED;
        }
        for (int k = 0; k < nsr_sparse_count(&s->model.enc_xyz); ++k)
            if (it == s->stage_start[k] && !nsr_sparse_bricks(&s->model.enc_xyz, k) && build_sparse(s, ctx, k)) return -1;
        double lr = schedule_lr(&s->opt.groups[0], s->opt.step);
        double r[3];
        if (train_step(s, ctx, it, r)) return -1;
        if (!isfinite(r[0])) return err_set("loss is %g at iteration %ld (lower train.lr?)", r[0], it);
        if (metrics_append(&ctx->series, "loss", r[0]) || metrics_append(&ctx->series, "lr", lr) ||
            metrics_append(&ctx->series, "psnr_train", psnr(r[1])) ||
            metrics_append(&ctx->series, "inv_s", r[2]))
            return -1;
        if (leader) progress_update(&bar, it, r[0]);
        if (s->eval_every > 0 && (it + 1) % s->eval_every == 0 && it + 1 < s->iterations && record_eval(s, ctx, it + 1))
            return -1;
        if (s->checkpoint_every && (it + 1) % s->checkpoint_every == 0 && it + 1 < s->iterations &&
            save_checkpoint(s, ctx, it + 1))
            return -1;
    }
    progress_end(&bar);
    return JOB_COMPLETE;
}

static int write_outputs(neus_job *s, job_ctx *ctx)
{
    if (record_eval(s, ctx, s->iterations)) return -1;
    const metric_series *p = metrics_find(&ctx->series, "psnr_test");
    const metric_series *pm = metrics_find(&ctx->series, "psnr_test_masked");
    const metric_series *l = metrics_find(&ctx->series, "loss");
    const metric_series *pt = metrics_find(&ctx->series, "psnr_train");
    const metric_series *pr = metrics_find(&ctx->series, "psnr_render");
    if (p && p->n && (metrics_set(&ctx->final, "psnr_test", p->values[p->n - 1]) ||
                      metrics_set(&ctx->final, "psnr_test_masked", pm->values[pm->n - 1])))
        return -1;
    if (l && l->n && metrics_set(&ctx->final, "loss", l->values[l->n - 1])) return -1;
    if (pt && pt->n && metrics_set(&ctx->final, "psnr_train", pt->values[pt->n - 1])) return -1;
    if (pr && pr->n && metrics_set(&ctx->final, "psnr_render", pr->values[pr->n - 1])) return -1;
    if (metrics_set(&ctx->final, "inv_s", neus_inv_s(&s->model, &s->params))) return -1;
    int res = (int)config_int(ctx->cfg, "mesh.resolution");
    int status = 0;
    if (ctx->dist->group_rank == 0 && res >= 2) status = write_mesh(s, ctx, res);
    /* the group agrees on the mesh's outcome (only rank 0 wrote it) */
    if (dist_group_max(ctx->dist, status != 0)) return status ? -1 : err_set("rank 0 failed to write the mesh");
    return 0;
}

static int neus_run(job_ctx *ctx)
{
    neus_job s;
    int status = setup(&s, ctx);
    if (!status) status = run_training(&s, ctx);
    if (status == JOB_COMPLETE) status = write_outputs(&s, ctx) ? -1 : JOB_COMPLETE;
    if (status == JOB_COMPLETE) status = save_checkpoint(&s, ctx, s.iterations) ? -1 : JOB_COMPLETE;
    teardown(&s);
    return status;
}

const job_type nsr_neus_job = {
    .name = "neus",
    .summary = "NeuS multi-view surface reconstruction (SDF + colour MLPs, volume rendering)",
    .schema = neus_schema,
    .run = neus_run,
};
