/* synth_scene.c — the `synth_scene` job: a sphere-traced analytic shape in the NeuS/DTU layout
 * with DTU-format ground truth (see synth_scene.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/array_io.h"
#include "phive/errors.h"
#include "phive/fileio.h"
#include "phive/image.h"
#include "phive/log.h"
#include "phive/mcubes.h"
#include "phive/mesh.h"
#include "phive/nsr.h"
#include "phive/rng.h"
#include "phive/sampling.h"
#include "phive/synth_scene.h"

static const cfg_spec scene_schema[] = {
    {"synth.dir", CFG_STRING, NULL, 0, -1, NULL, "output data set directory (created; must be empty or missing)"},
    {"synth.overwrite", CFG_BOOL, "false", 0, -1, NULL, "replace the files of a non-empty synth.dir"},
    {"synth.scan", CFG_INT, "1", 1, 1000, NULL, "scan number of the DTU-format ground truth"},
    {"synth.supersample", CFG_INT, "2", 1, 8, NULL, "subsamples per pixel side"},
    {"synth.gt_points", CFG_INT, "1000000", 1000, 1e8, NULL, "ground-truth surface samples"},
    {"synth.gt_resolution", CFG_INT, "256", 16, 2048, NULL, "marching-cubes grid of the ground-truth mesh"},
    {"scene.shape", CFG_CHOICE, "torus", 0, -1, "sphere|torus|box|capsule", "analytic shape (nsr.h)"},
    {"scene.size", CFG_REAL, "0.5", 0.01, 0.9, NULL, "shape scale in the unit sphere"},
    {"scene.tilt", CFG_REAL, "30", -180, 180, NULL, "rotation of the shape about x (degrees)"},
    {"scene.relief", CFG_REAL, "0", 0, 0.1, NULL, "relief amplitude a (normalised units)"},
    {"scene.relief_frequency", CFG_REAL, "40", 0, 1000, NULL, "relief angular frequency ω (rad per unit)"},
    {"scene.texture_frequency", CFG_REAL, "6", 0, 1000, NULL, "albedo sinusoid frequency (rad per unit)"},
    {"scene.scale", CFG_REAL, "100", 1e-6, 1e9, NULL, "world units per normalised unit"},
    {"scene.center", CFG_STRING, "0,0,0", 0, -1, NULL, "world position of the normalised origin x,y,z"},
    {"cameras.count", CFG_INT, "49", 1, 10000, NULL, "number of views"},
    {"cameras.width", CFG_INT, "400", 8, 16384, NULL, "image width (px)"},
    {"cameras.height", CFG_INT, "300", 8, 16384, NULL, "image height (px)"},
    {"cameras.fov", CFG_REAL, "42", 1, 170, NULL, "vertical field of view (degrees)"},
    {"cameras.distance", CFG_REAL, "3", 1.05, 1e3, NULL, "distance from the centre (normalised units)"},
    {"cameras.elevation_min", CFG_REAL, "-20", -85, 85, NULL, "lowest camera elevation (degrees)"},
    {"cameras.elevation_max", CFG_REAL, "60", -85, 85, NULL, "highest camera elevation (degrees)"},
    {"cameras.azimuth_span", CFG_REAL, "360", 0, 360, NULL, "arc of camera azimuths (degrees)"},
    {NULL, CFG_STRING, NULL, 0, 0, NULL, NULL},
};

typedef struct {
    analytic_shape shape;
    double size, relief, relief_freq, tex_freq, step_factor;
    double tilt_c, tilt_s;  /* cos, sin of the tilt */
    double tex_dir[3][3], tex_phase[3];
    double scale, center[3];
} scene;

static const double LIGHT[3] = {0.3939, 0.7878, 0.4432}; /* unit, normalised frame */

static double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static void normalize3(double *v)
{
    double n = sqrt(dot3(v, v));
    for (int c = 0; c < 3; ++c) v[c] /= n;
}

static void cross3(const double *a, const double *b, double *out)
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

static double scene_sdf(const scene *s, const double p[3])
{
    double q[3] = {p[0], s->tilt_c * p[1] + s->tilt_s * p[2], -s->tilt_s * p[1] + s->tilt_c * p[2]};
    double f = analytic_sdf(s->shape, s->size, q);
    if (s->relief > 0) f += s->relief * sin(s->relief_freq * p[0]) * sin(s->relief_freq * p[1]) * sin(s->relief_freq * p[2]);
    return f;
}

static void scene_gradient(const scene *s, const double p[3], double g[3])
{
    const double h = 1e-5;
    for (int c = 0; c < 3; ++c) {
        double a[3] = {p[0], p[1], p[2]}, b[3] = {p[0], p[1], p[2]};
        a[c] += h, b[c] -= h;
        g[c] = (scene_sdf(s, a) - scene_sdf(s, b)) / (2 * h);
    }
}

/* Newton steps along ∇f onto f = 0. */
static void project_to_surface(const scene *s, double p[3])
{
    for (int k = 0; k < 4; ++k) {
        double g[3], f = scene_sdf(s, p);
        scene_gradient(s, p, g);
        double gg = dot3(g, g);
        if (gg < 1e-12) return;
        for (int c = 0; c < 3; ++c) p[c] -= f * g[c] / gg;
    }
}

static int scene_setup(scene *s, const config *cfg)
{
    memset(s, 0, sizeof *s);
    if (analytic_shape_parse(config_str(cfg, "scene.shape"), &s->shape)) return -1;
    s->size = config_real(cfg, "scene.size");
    s->relief = config_real(cfg, "scene.relief");
    s->relief_freq = config_real(cfg, "scene.relief_frequency");
    s->tex_freq = config_real(cfg, "scene.texture_frequency");
    double tilt = config_real(cfg, "scene.tilt") * M_PI / 180;
    s->tilt_c = cos(tilt), s->tilt_s = sin(tilt);
    /* the relief's gradient adds up to a·ω·√3 to the shape's Lipschitz constant 1 */
    s->step_factor = 0.9 / (1 + s->relief * s->relief_freq * sqrt(3.0));
    s->scale = config_real(cfg, "scene.scale");
    if (config_reals(cfg, "scene.center", 3, s->center)) return -1;
    rng_t rng;
    rng_seed(&rng, (uint64_t)config_int(cfg, "job.seed"), 7);
    for (int c = 0; c < 3; ++c) {
        for (int k = 0; k < 3; ++k) s->tex_dir[c][k] = rng_normal(&rng);
        normalize3(s->tex_dir[c]);
        s->tex_phase[c] = 2 * M_PI * rng_uniform(&rng);
    }
    /* the whole shape must be inside the unit sphere, where NeuS looks for it: probe a
     * Fibonacci sphere of radius 0.98 */
    const int probes = 4096;
    for (int k = 0; k < probes; ++k) {
        double y = 1 - 2 * (k + 0.5) / probes, r = sqrt(1 - y * y), phi = k * M_PI * (3 - sqrt(5.0));
        double p[3] = {0.98 * r * cos(phi), 0.98 * y, 0.98 * r * sin(phi)};
        if (scene_sdf(s, p) <= 0)
            return err_set("scene.size = %g: the %s reaches the unit sphere (use a smaller size)", s->size,
                           config_str(cfg, "scene.shape"));
    }
    return 0;
}

/* ---- cameras ------------------------------------------------------------------------------- */

typedef struct {
    double K[9], R[9], t[3]; /* world → camera: x_c = R x_w + t */
    double origin_n[3];      /* camera centre, normalised frame */
    double Kinv[9];
} camera;

static void make_camera(const scene *s, const config *cfg, int k, int n, camera *cam)
{
    double el_min = config_real(cfg, "cameras.elevation_min") * M_PI / 180;
    double el_max = config_real(cfg, "cameras.elevation_max") * M_PI / 180;
    double span = config_real(cfg, "cameras.azimuth_span") * M_PI / 180;
    double dist = config_real(cfg, "cameras.distance");
    int w = (int)config_int(cfg, "cameras.width"), h = (int)config_int(cfg, "cameras.height");
    double fov = config_real(cfg, "cameras.fov") * M_PI / 180;
    /* Fibonacci spiral over the elevation band: equal-area steps in sin(elevation) */
    double golden = 0.5 * (sqrt(5.0) - 1);
    double hgt = sin(el_min) + (sin(el_max) - sin(el_min)) * (k + 0.5) / n;
    double el = asin(hgt), frac = fmod(k * golden, 1.0);
    double az = span >= 2 * M_PI - 1e-9 ? 2 * M_PI * frac : span * (frac - 0.5);
    double c[3] = {dist * cos(el) * sin(az), dist * sin(el), dist * cos(el) * cos(az)};
    memcpy(cam->origin_n, c, sizeof c);
    double z[3] = {-c[0], -c[1], -c[2]}, up[3] = {0, 1, 0}, x[3], y[3];
    normalize3(z);
    cross3(z, up, x);
    normalize3(x);
    cross3(z, x, y);
    for (int j = 0; j < 3; ++j) cam->R[j] = x[j], cam->R[3 + j] = y[j], cam->R[6 + j] = z[j];
    double cw[3];
    for (int j = 0; j < 3; ++j) cw[j] = s->center[j] + s->scale * c[j];
    for (int i = 0; i < 3; ++i) cam->t[i] = -dot3(cam->R + 3 * i, cw);
    double f = 0.5 * h / tan(0.5 * fov);
    double K[9] = {f, 0, 0.5 * (w - 1), 0, f, 0.5 * (h - 1), 0, 0, 1};
    double Kinv[9] = {1 / f, 0, -0.5 * (w - 1) / f, 0, 1 / f, -0.5 * (h - 1) / f, 0, 0, 1};
    memcpy(cam->K, K, sizeof K);
    memcpy(cam->Kinv, Kinv, sizeof Kinv);
}

/* ---- rendering ----------------------------------------------------------------------------- */

/* Sphere tracing from o along unit d inside the unit sphere; the hit distance or −1. */
static double trace(const scene *s, const double o[3], const double d[3])
{
    double b = dot3(o, d), c = dot3(o, o) - 1, disc = b * b - c;
    if (disc <= 0) return -1;
    double t = -b - sqrt(disc), t_far = -b + sqrt(disc);
    if (t < 0) t = 0;
    for (int it = 0; it < 2000 && t < t_far; ++it) {
        double p[3] = {o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]};
        double f = scene_sdf(s, p);
        if (f < 1e-6) return t;
        t += s->step_factor * f;
    }
    return -1;
}

static void shade(const scene *s, const double p[3], double rgb[3])
{
    double n[3];
    scene_gradient(s, p, n);
    normalize3(n);
    double light = 0.35 + 0.65 * fmax(0.0, dot3(n, LIGHT));
    for (int c = 0; c < 3; ++c) {
        double albedo = 0.55 + 0.35 * sin(s->tex_freq * dot3(s->tex_dir[c], p) + s->tex_phase[c]);
        rgb[c] = albedo * light;
    }
}

static int render_view(const scene *s, const camera *cam, int w, int h, int ss, image *rgb, image *mask)
{
    if (image_alloc(rgb, w, h, 3, 8) || image_alloc(mask, w, h, 1, 8)) return -1;
    /* camera-to-world rotation Rᵀ; directions are the same in both frames (isotropic scale) */
#pragma omp parallel for schedule(dynamic, 4)
    for (int j = 0; j < h; ++j)
        for (int i = 0; i < w; ++i) {
            double sum[3] = {0, 0, 0}, covered = 0;
            for (int a = 0; a < ss; ++a)
                for (int b = 0; b < ss; ++b) {
                    double u = i + (b + 0.5) / ss - 0.5, v = j + (a + 0.5) / ss - 0.5;
                    double dc[3] = {cam->Kinv[0] * u + cam->Kinv[2], cam->Kinv[4] * v + cam->Kinv[5], 1}, d[3];
                    for (int k = 0; k < 3; ++k) d[k] = cam->R[k] * dc[0] + cam->R[3 + k] * dc[1] + cam->R[6 + k] * dc[2];
                    normalize3(d);
                    double t = trace(s, cam->origin_n, d);
                    if (t < 0) continue;
                    double p[3] = {cam->origin_n[0] + t * d[0], cam->origin_n[1] + t * d[1], cam->origin_n[2] + t * d[2]};
                    double c[3];
                    shade(s, p, c);
                    for (int k = 0; k < 3; ++k) sum[k] += c[k];
                    covered += 1;
                }
            size_t px = (size_t)j * w + i;
            for (int k = 0; k < 3; ++k) rgb->u8[3 * px + k] = (uint8_t)lround(fmin(1.0, sum[k] / (ss * ss)) * 255);
            mask->u8[px] = (uint8_t)lround(255 * covered / (ss * ss));
        }
    return 0;
}

/* ---- files --------------------------------------------------------------------------------- */

static void set_matrix4(ndarray *a, const double m[16])
{
    size_t dims[2] = {4, 4};
    ndarray_alloc(a, 2, dims);
    memcpy(a->data, m, 16 * sizeof(double));
}

static int write_cameras(const scene *s, const camera *cams, int n, const char *path)
{
    ndarray *arrays = calloc(2 * (size_t)n, sizeof *arrays);
    npz_entry *entries = calloc(2 * (size_t)n, sizeof *entries);
    char (*names)[32] = calloc(2 * (size_t)n, sizeof *names);
    int rc = arrays && entries && names ? 0 : err_set("%s: out of memory", path);
    for (int k = 0; k < n && !rc; ++k) {
        const camera *c = cams + k;
        double world[16] = {0}, scale[16] = {s->scale, 0, 0, s->center[0], 0, s->scale, 0, s->center[1],
                                             0, 0, s->scale, s->center[2], 0, 0, 0, 1};
        for (int i = 0; i < 3; ++i) {
            for (int j = 0; j < 3; ++j)
                for (int l = 0; l < 3; ++l) world[4 * i + j] += c->K[3 * i + l] * c->R[3 * l + j];
            for (int l = 0; l < 3; ++l) world[4 * i + 3] += c->K[3 * i + l] * c->t[l];
        }
        world[15] = 1;
        ndarray_init(&arrays[2 * k]), ndarray_init(&arrays[2 * k + 1]);
        set_matrix4(&arrays[2 * k], world);
        set_matrix4(&arrays[2 * k + 1], scale);
        snprintf(names[2 * k], sizeof names[0], "world_mat_%d", k);
        snprintf(names[2 * k + 1], sizeof names[0], "scale_mat_%d", k);
        entries[2 * k] = (npz_entry){names[2 * k], &arrays[2 * k], NDARRAY_F64};
        entries[2 * k + 1] = (npz_entry){names[2 * k + 1], &arrays[2 * k + 1], NDARRAY_F64};
        if (!arrays[2 * k].data || !arrays[2 * k + 1].data) rc = err_set("%s: out of memory", path);
    }
    if (!rc) rc = npz_write(path, entries, 2 * (size_t)n, 0);
    for (int k = 0; arrays && k < 2 * n; ++k) ndarray_free(&arrays[k]);
    free(arrays), free(entries), free(names);
    return rc;
}

/* The ground-truth surface in the normalised frame: marching cubes, vertices projected. */
static int truth_mesh(const scene *s, int res, mesh *out)
{
    size_t n = (size_t)res * res * res;
    float *grid = malloc(n * sizeof *grid);
    if (!grid) return err_set("out of memory for a %d^3 ground-truth grid", res);
    double step = 2.0 / (res - 1);
#pragma omp parallel for schedule(static)
    for (long cell = 0; cell < (long)n; ++cell) {
        double p[3] = {-1 + step * (cell % res), -1 + step * ((cell / res) % res), -1 + step * (cell / ((long)res * res))};
        grid[cell] = (float)scene_sdf(s, p);
    }
    mcubes_options o;
    mcubes_options_init(&o);
    double origin[3] = {-1, -1, -1}, spacing[3] = {step, step, step};
    mcubes_set_origin_spacing(&o, origin, spacing);
    int rc = mcubes_extract(grid, (size_t)res, (size_t)res, (size_t)res, &o, out);
    free(grid);
    if (rc) return -1;
    for (size_t v = 0; v < out->n_vertices; ++v) {
        double p[3] = {out->positions[3 * v], out->positions[3 * v + 1], out->positions[3 * v + 2]};
        project_to_surface(s, p);
        for (int c = 0; c < 3; ++c) out->positions[3 * v + c] = (float)p[c];
    }
    return 0;
}

static void to_world(const scene *s, float *positions, size_t n)
{
    for (size_t i = 0; i < 3 * n; ++i) positions[i] = (float)(s->center[i % 3] + s->scale * positions[i]);
}

static int write_obs_mask(const scene *s, const char *gt, int scan)
{
    char path[4300];
    double res = s->scale / 20, lo[3], hi[3];
    for (int c = 0; c < 3; ++c) lo[c] = s->center[c] - 1.05 * s->scale, hi[c] = s->center[c] + 1.05 * s->scale;
    size_t cells = (size_t)ceil((hi[0] - lo[0]) / res) + 1, dims[3] = {cells, cells, cells}, bb_dims[2] = {2, 3};
    size_t one = 1, four_dims[2] = {1, 4};
    ndarray mask, bb, r, plane;
    ndarray_init(&mask), ndarray_init(&bb), ndarray_init(&r), ndarray_init(&plane);
    int rc = ndarray_alloc(&mask, 3, dims) || ndarray_alloc(&bb, 2, bb_dims) || ndarray_alloc(&r, 1, &one) ||
             ndarray_alloc(&plane, 2, four_dims);
    if (!rc) {
        for (size_t i = 0; i < mask.count; ++i) mask.data[i] = 1;
        for (int c = 0; c < 3; ++c) bb.data[c] = lo[c], bb.data[3 + c] = hi[c];
        r.data[0] = res;
        double P[4] = {0, 0, 0, 1};
        memcpy(plane.data, P, sizeof P);
        snprintf(path, sizeof path, "%s/ObsMask/ObsMask%d_10.mat", gt, scan);
        mat_entry obs[3] = {{"ObsMask", &mask, 1}, {"BB", &bb, 0}, {"Res", &r, 0}};
        rc = mat_write(path, obs, 3);
        snprintf(path, sizeof path, "%s/ObsMask/Plane%d.mat", gt, scan);
        mat_entry pl = {"P", &plane, 0};
        if (!rc) rc = mat_write(path, &pl, 1);
    }
    ndarray_free(&mask), ndarray_free(&bb), ndarray_free(&r), ndarray_free(&plane);
    return rc;
}

static int write_truth(const scene *s, const config *cfg, const char *root, double *area_out)
{
    char gt[4200], path[4300];
    snprintf(gt, sizeof gt, "%s/gt", root);
    int scan = (int)config_int(cfg, "synth.scan");
    size_t n_points = (size_t)config_int(cfg, "synth.gt_points");
    mesh surface, cloud;
    mesh_init(&surface), mesh_init(&cloud);
    int rc = truth_mesh(s, (int)config_int(cfg, "synth.gt_resolution"), &surface) || mesh_alloc(&cloud, n_points, 0) ||
             mesh_sample_surface(&surface, n_points, (uint64_t)config_int(cfg, "job.seed"), cloud.positions, NULL, NULL);
    if (!rc) {
#pragma omp parallel for schedule(static)
        for (long i = 0; i < (long)n_points; ++i) {
            double p[3] = {cloud.positions[3 * i], cloud.positions[3 * i + 1], cloud.positions[3 * i + 2]};
            project_to_surface(s, p);
            for (int c = 0; c < 3; ++c) cloud.positions[3 * i + c] = (float)p[c];
        }
        double area = 0;
        for (size_t f = 0; f < surface.n_faces; ++f) {
            const float *a = surface.positions + 3 * surface.faces[3 * f], *b = surface.positions + 3 * surface.faces[3 * f + 1],
                        *c = surface.positions + 3 * surface.faces[3 * f + 2];
            double u[3], v[3], x[3];
            for (int k = 0; k < 3; ++k) u[k] = b[k] - a[k], v[k] = c[k] - a[k];
            cross3(u, v, x);
            area += 0.5 * sqrt(dot3(x, x));
        }
        *area_out = area * s->scale * s->scale;
        to_world(s, surface.positions, surface.n_vertices);
        to_world(s, cloud.positions, cloud.n_vertices);
        snprintf(path, sizeof path, "%s/Points/stl", gt);
        rc = file_make_dirs(path);
        snprintf(path, sizeof path, "%s/ObsMask", gt);
        if (!rc) rc = file_make_dirs(path);
        snprintf(path, sizeof path, "%s/Points/stl/stl%03d_total.ply", gt, scan);
        if (!rc) rc = mesh_write(path, &cloud);
        snprintf(path, sizeof path, "%s/mesh.ply", gt);
        if (!rc) rc = mesh_write(path, &surface) || write_obs_mask(s, gt, scan);
    }
    mesh_free(&surface), mesh_free(&cloud);
    return rc;
}

static int write_views(const scene *s, const config *cfg, const char *root, camera *cams, int n, double *coverage)
{
    int w = (int)config_int(cfg, "cameras.width"), h = (int)config_int(cfg, "cameras.height");
    int ss = (int)config_int(cfg, "synth.supersample");
    char path[4300];
    snprintf(path, sizeof path, "%s/image", root);
    int rc = file_make_dirs(path);
    snprintf(path, sizeof path, "%s/mask", root);
    if (!rc) rc = file_make_dirs(path);
    coverage[0] = 1, coverage[1] = 0;
    for (int k = 0; k < n && !rc; ++k) {
        make_camera(s, cfg, k, n, &cams[k]);
        image rgb, mask;
        image_init(&rgb), image_init(&mask);
        rc = render_view(s, &cams[k], w, h, ss, &rgb, &mask);
        snprintf(path, sizeof path, "%s/image/%03d.png", root, k);
        if (!rc) rc = image_write_png(path, &rgb);
        snprintf(path, sizeof path, "%s/mask/%03d.png", root, k);
        if (!rc) rc = image_write_png(path, &mask);
        if (!rc) {
            double sum = 0;
            for (size_t p = 0; p < (size_t)w * h; ++p) sum += mask.u8[p] / 255.0;
            sum /= (double)w * h;
            coverage[0] = fmin(coverage[0], sum), coverage[1] = fmax(coverage[1], sum);
        }
        image_free(&rgb), image_free(&mask);
    }
    snprintf(path, sizeof path, "%s/cameras_sphere.npz", root);
    return rc ? -1 : write_cameras(s, cams, n, path);
}

static int scene_run(job_ctx *ctx)
{
    if (ctx->dist->group_rank != 0) return JOB_COMPLETE; /* one writer: the group leader */
    const config *cfg = ctx->cfg;
    const char *root = config_str(cfg, "synth.dir");
    if (!root[0]) return err_set("synth.dir is empty: name the data set directory to write");
    if (!config_bool(cfg, "synth.overwrite") && file_dir_has_entries(root))
        return err_set("synth.dir %s exists and is not an empty directory; choose another one or set "
                       "synth.overwrite=true", root);
    if (config_real(cfg, "cameras.elevation_min") > config_real(cfg, "cameras.elevation_max"))
        return err_set("cameras.elevation_min (%g) is above cameras.elevation_max (%g)",
                       config_real(cfg, "cameras.elevation_min"), config_real(cfg, "cameras.elevation_max"));
    scene s;
    if (scene_setup(&s, cfg) || file_make_dirs(root)) return -1;
    int n = (int)config_int(cfg, "cameras.count");
    camera *cams = calloc((size_t)n, sizeof *cams);
    if (!cams) return err_set("out of memory for %d cameras", n);
    double start = wall_time(), coverage[2], area = 0;
    int rc = write_views(&s, cfg, root, cams, n, coverage);
    double views_s = wall_time() - start;
    if (!rc) rc = write_truth(&s, cfg, root, &area);
    free(cams);
    if (rc) return -1;
    log_info("%s: %d views of %s in %s (%.1f s; masks cover %.0f–%.0f %%), ground truth %.1f s, area %.6g",
             ctx->id, n, config_str(cfg, "scene.shape"), root, views_s, 100 * coverage[0], 100 * coverage[1],
             wall_time() - start - views_s, area);
    return metrics_set(&ctx->final, "views", n) || metrics_set(&ctx->final, "mask_coverage_min", coverage[0]) ||
                   metrics_set(&ctx->final, "mask_coverage_max", coverage[1]) ||
                   metrics_set(&ctx->final, "surface_area", area) ||
                   metrics_set(&ctx->final, "seconds", wall_time() - start)
               ? -1
               : JOB_COMPLETE;
}

const job_type synth_scene_job = {
    .name = "synth_scene",
    .summary = "synthetic multi-view scene: a sphere-traced analytic shape in the NeuS layout with DTU ground truth",
    .schema = scene_schema,
    .run = scene_run,
};
