/* synth.c — the `synth_cloth` job: synthetic ϕ-SfT sequences with ground truth (see synth.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phive/cloth_scene.h"
#include "phive/errors.h"
#include "phive/fileio.h"
#include "phive/image.h"
#include "phive/log.h"
#include "phive/mesh.h"
#include "phive/render.h"
#include "phive/rng.h"
#include "phive/sampling.h"
#include "phive/synth.h"

static const cfg_spec synth_schema[] = {
    {"synth.scene", CFG_CHOICE, "wind", 0, -1, "wind|handle|drop|folds", "what the cloth does (synth.h)"},
    {"synth.dir", CFG_STRING, NULL, 0, -1, NULL, "output sequence directory (created; must be empty or missing)"},
    {"synth.overwrite", CFG_BOOL, "false", 0, -1, NULL, "replace the sequence files in a non-empty synth.dir"},
    {"synth.frames", CFG_INT, "30", 2, 1e5, NULL, "frames F of the sequence (0 … F−1)"},
    {"synth.cloud_points", CFG_INT, "4096", 1, 1e7, NULL, "ground-truth point cloud samples per frame"},
    {"synth.texture_size", CFG_INT, "256", 8, 4096, NULL, "side of the procedural texture (px)"},
    {"synth.wind", CFG_STRING, "0.5,0,-0.8", 0, -1, NULL, "wind scene: mean wind velocity x,y,z (m/s)"},
    {"synth.gust", CFG_REAL, "1.2", 0, 100, NULL, "wind scene: amplitude of the seeded gusts (m/s)"},
    {"synth.amplitude", CFG_REAL, "0.1", 0, 10, NULL, "handle scene: amplitude of the handle's wave (m)"},
    {"synth.sphere_radius", CFG_REAL, "0.15", 1e-3, 100, NULL, "drop scene: radius of the sphere (m)"},
    {"synth.squeeze", CFG_REAL, "0.6", 0, 0.9, NULL, "folds scene: how far the corners approach (× cloth.size)"},
    {"cloth.size", CFG_REAL, "0.5", 1e-3, 100, NULL, "side of the square cloth (m)"},
    {"cloth.grid", CFG_INT, "20", 2, 2000, NULL, "vertices per side of the cloth grid"},
    CLOTH_SCENE_KEYS,
    {"camera.width", CFG_INT, "480", 8, 16384, NULL, "image width (px)"},
    {"camera.height", CFG_INT, "270", 8, 16384, NULL, "image height (px)"},
    {"camera.fov", CFG_REAL, "40", 1, 170, NULL, "vertical field of view (degrees)"},
    {"camera.distance", CFG_REAL, "0", 0, 1e4, NULL, "camera distance from the sequence's centre (m; 0: fit the frame)"},
    {NULL, 0, NULL, 0, 0, NULL, NULL},
};

enum scene_kind { SCENE_WIND, SCENE_HANDLE, SCENE_DROP, SCENE_FOLDS };

#define WAVES 2           /* sinusoids per axis of a seeded path */
#define FIT_MARGIN 0.92   /* the fitted camera keeps the cloth within this part of the image */
#define HANDLE_RADIUS 0.12 /* handle scene: the held group, × cloth.size in material space */
#define HANDLE_EASE 0.4   /* handle scene: seconds over which the wave sets in */
#define FOLD_TIME 0.75    /* folds scene: the corners arrive at this part of the sequence… */
#define FOLD_DEPTH 0.15   /* …and part in depth by this × cloth.size each */
#define DROP_GAP 0.05     /* drop scene: initial gap above the sphere (m) */

typedef struct {
    double freq[3][WAVES], phase[3][WAVES]; /* per axis: Hz, radians */
} wave3;

typedef struct {
    int kind, frames;
    double size, duration; /* cloth side (m), time of the last frame (s) */
    cloth_scene scene;
    cloth_params params; /* one frame: x0, v0, wind, the handles' two keys */
    cloth_sim *sim;
    double *x;           /* frames × n × 3 */
    wave3 wave;          /* gusts (wind) or the handle's path (handle) */
    double wind[3], gust, amplitude, squeeze, depth_sign;
    double view[3];      /* unit vector from the target towards the camera */
} synth;

/* ---- seeded motion -------------------------------------------------------------------- */

static double smoothstep01(double x)
{
    x = x < 0 ? 0 : x > 1 ? 1 : x;
    return x * x * (3 - 2 * x);
}

static void wave_draw(wave3 *w, rng_t *rng, double f_lo, double f_hi)
{
    for (int d = 0; d < 3; ++d)
        for (int j = 0; j < WAVES; ++j) {
            w->freq[d][j] = f_lo + (f_hi - f_lo) * rng_uniform(rng);
            w->phase[d][j] = 2 * M_PI * rng_uniform(rng);
        }
}

/* Σ_j sin(2π f_j t + φ_j) / WAVES along axis d: in [−1, 1]. */
static double wave_at(const wave3 *w, int d, double t)
{
    double sum = 0;
    for (int j = 0; j < WAVES; ++j) sum += sin(2 * M_PI * w->freq[d][j] * t + w->phase[d][j]);
    return sum / WAVES;
}

/* Displacement of handle k from its rest position at time t. */
static void handle_offset(const synth *sy, int k, double t, double out[3])
{
    out[0] = out[1] = out[2] = 0;
    if (sy->kind == SCENE_HANDLE) { /* a hand: eased in from rest, lifts while it waves */
        const double e = smoothstep01(t / HANDLE_EASE), a = sy->amplitude;
        out[0] = a * e * wave_at(&sy->wave, 0, t);
        out[1] = 1.5 * a * smoothstep01(t / sy->duration) + 0.5 * a * e * wave_at(&sy->wave, 1, t);
        out[2] = 0.7 * a * e * wave_at(&sy->wave, 2, t);
    } else if (sy->kind == SCENE_FOLDS) { /* corners approach and part in depth: the cloth buckles */
        const int v = sy->scene.handles[k];
        const double side = sy->scene.mesh.u[2 * v] < 0 ? 1 : -1, s = smoothstep01(t / (FOLD_TIME * sy->duration));
        out[0] = side * 0.5 * sy->squeeze * sy->size * s;
        out[2] = side * sy->depth_sign * FOLD_DEPTH * sy->size * s;
    }
}

/* Wind and handle keys of the frame from f to f + 1. */
static void drive_frame(synth *sy, int f)
{
    const double dt = sy->scene.settings.frame_time, t0 = f * dt, t1 = t0 + dt;
    for (int d = 0; d < 3; ++d)
        sy->params.wind[d] = sy->kind == SCENE_WIND ? sy->wind[d] + sy->gust * wave_at(&sy->wave, d, t0 + 0.5 * dt) : 0;
    const int nh = sy->scene.settings.n_handles;
    for (int k = 0; k < nh; ++k) {
        const double *rest = sy->scene.mesh.x_template + 3 * sy->scene.handles[k];
        double a[3], b[3];
        handle_offset(sy, k, t0, a);
        handle_offset(sy, k, t1, b);
        for (int d = 0; d < 3; ++d) {
            sy->params.handles[3 * k + d] = rest[d] + a[d];
            sy->params.handles[3 * (nh + k) + d] = rest[d] + b[d];
        }
    }
}

/* ---- scenes ------------------------------------------------------------------------------ */

static void set3(double *v, double a, double b, double c) { v[0] = a, v[1] = b, v[2] = c; }

/* Unit direction towards the camera: `elevation` above the horizontal, turned `azimuth` about +y from +z. */
static void view_direction(double *v, double elevation_deg, double azimuth_deg)
{
    const double e = elevation_deg * M_PI / 180, a = azimuth_deg * M_PI / 180;
    set3(v, cos(e) * sin(a), sin(e), cos(e) * cos(a));
}

/* Flat in the x–y plane, centred at the origin, facing +z (the camera), turned by `roll` about z
 * (0: top edge up). */
static int build_hanging(synth *sy, int n, const char *pin, double roll_deg)
{
    const double r = roll_deg * M_PI / 180;
    double c[3], u[3], v[3];
    set3(c, 0, 0, 0), set3(u, cos(r), sin(r), 0), set3(v, -sin(r), cos(r), 0);
    view_direction(sy->view, 10, 0);
    return cloth_scene_grid(&sy->scene, n, n, sy->size, sy->size, c, u, v) || (pin && cloth_scene_pin(&sy->scene, pin))
               ? -1
               : 0;
}

/* Flat in the x–z plane facing +y above a sphere at the origin, offset and turned by the seed. */
static int build_drop(synth *sy, int n, const config *cfg, rng_t *rng)
{
    const double r = config_real(cfg, "synth.sphere_radius"), turn = (rng_uniform(rng) - 0.5) * M_PI / 4;
    const double ox = (rng_uniform(rng) - 0.5) * 0.3 * r, oz = (rng_uniform(rng) - 0.5) * 0.3 * r;
    double c[3], u[3], v[3], origin[3] = {0, 0, 0};
    set3(c, ox, r + DROP_GAP, oz), set3(u, cos(turn), 0, sin(turn)), set3(v, sin(turn), 0, -cos(turn));
    view_direction(sy->view, 35, 20);
    sy->scene.settings.collisions = 1;
    return cloth_scene_grid(&sy->scene, n, n, sy->size, sy->size, c, u, v) ||
                   cloth_scene_add_sphere(&sy->scene, origin, r, (int)config_int(cfg, "collision.sphere_detail"))
               ? -1
               : 0;
}

/* Hanging from the held top-left corner: a diamond, that corner on top. */
static int build_handle(synth *sy, int n)
{
    if (build_hanging(sy, n, NULL, -45)) return -1;
    sy->scene.settings.collisions = 1; /* its sides fall onto each other */
    const double corner[2] = {-0.5 * sy->size, 0.5 * sy->size};
    return cloth_scene_pin_near(&sy->scene, corner, HANDLE_RADIUS * sy->size);
}

static int build_scene(synth *sy, const config *cfg, rng_t *rng)
{
    const int n = (int)config_int(cfg, "cloth.grid");
    switch (sy->kind) {
    case SCENE_WIND:
        wave_draw(&sy->wave, rng, 0.8, 2.5);
        return config_reals(cfg, "synth.wind", 3, sy->wind) || build_hanging(sy, n, "corners2", 0) ? -1 : 0;
    case SCENE_HANDLE:
        wave_draw(&sy->wave, rng, 0.5, 1.2);
        return build_handle(sy, n);
    case SCENE_DROP:
        return build_drop(sy, n, cfg, rng);
    default: /* SCENE_FOLDS */
        sy->depth_sign = rng_uniform(rng) < 0.5 ? -1 : 1;
        sy->scene.settings.collisions = 1;
        return build_hanging(sy, n, "corners2", 0);
    }
}

/* synth.scene (validated against the schema's choices) as an enum scene_kind. */
static int scene_kind(const char *name)
{
    static const char *const names[] = {"wind", "handle", "drop", "folds"};
    int k = 0;
    while (k < SCENE_FOLDS && strcmp(name, names[k])) ++k;
    return k;
}

static void synth_free(synth *sy)
{
    cloth_sim_free(sy->sim);
    cloth_params_free(&sy->params);
    cloth_scene_free(&sy->scene);
    free(sy->x);
}

/* Everything the simulation needs, checked before any file is touched. */
static int synth_setup(synth *sy, const config *cfg)
{
    memset(sy, 0, sizeof *sy);
    cloth_scene_init(&sy->scene);
    cloth_settings *st = &sy->scene.settings;
    cloth_material mat;
    rng_t rng;
    rng_seed(&rng, (uint64_t)config_int(cfg, "job.seed"), 1);
    sy->kind = scene_kind(config_str(cfg, "synth.scene"));
    sy->frames = (int)config_int(cfg, "synth.frames");
    sy->size = config_real(cfg, "cloth.size");
    sy->gust = config_real(cfg, "synth.gust");
    sy->amplitude = config_real(cfg, "synth.amplitude");
    sy->squeeze = config_real(cfg, "synth.squeeze");
    if (cloth_scene_configure(&sy->scene, cfg, &mat) || build_scene(sy, cfg, &rng)) return -1;
    st->frames = 1; /* stepped frame by frame: the wind changes per frame */
    set3(st->gravity, 0, -9.8, 0);
    sy->duration = (sy->frames - 1) * st->frame_time;
    const int n = sy->scene.mesh.n_verts;
    if (cloth_params_alloc(&sy->params, n, 1, st->n_handles, 0)) return -1;
    cloth_params_set_material(&sy->params, &mat);
    sy->x = malloc((size_t)sy->frames * 3 * (size_t)n * sizeof(double));
    if (!sy->x) return err_set("synth: out of memory for %d frames of %d vertices", sy->frames, n);
    memcpy(sy->x, sy->scene.mesh.x_template, 3 * (size_t)n * sizeof(double));
    return cloth_sim_create(&sy->sim, &sy->scene.mesh, st);
}

/* Frames 1 … F−1, one rollout frame each from the previous state. */
static int synth_simulate(synth *sy)
{
    const size_t n3 = 3 * (size_t)sy->scene.mesh.n_verts;
    for (int f = 0; f + 1 < sy->frames; ++f) {
        drive_frame(sy, f);
        memcpy(sy->params.x0, sy->x + f * n3, n3 * sizeof(double));
        if (cloth_rollout_forward(sy->sim, &sy->params, 1)) return err_context("synth: frame %d", f + 1);
        const double *x = cloth_sim_positions(sy->sim, 1);
        for (size_t i = 0; i < n3; ++i)
            if (!isfinite(x[i])) return err_set("synth: the simulation diverged at frame %d", f + 1);
        memcpy(sy->x + (f + 1) * n3, x, n3 * sizeof(double));
        memcpy(sy->params.v0, cloth_sim_velocities(sy->sim, 1), n3 * sizeof(double));
    }
    return 0;
}

/* ---- camera -------------------------------------------------------------------------------- */

static void cross3(const double *a, const double *b, double *out)
{
    out[0] = a[1] * b[2] - a[2] * b[1], out[1] = a[2] * b[0] - a[0] * b[2], out[2] = a[0] * b[1] - a[1] * b[0];
}

static double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

/* Target: the centre of every frame's bounding box; eye: along view at the given distance, or
 * (distance 0) at the smallest one that keeps every vertex within FIT_MARGIN of the image.
 * Returns the distance. */
static double fit_camera(const synth *sy, const config *cfg, double eye[3], double target[3])
{
    const size_t count = (size_t)sy->frames * sy->scene.mesh.n_verts;
    double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t i = 0; i < count; ++i)
        for (int d = 0; d < 3; ++d) lo[d] = fmin(lo[d], sy->x[3 * i + d]), hi[d] = fmax(hi[d], sy->x[3 * i + d]);
    for (int d = 0; d < 3; ++d) target[d] = 0.5 * (lo[d] + hi[d]);
    double distance = config_real(cfg, "camera.distance");
    if (distance == 0) {
        const double up[3] = {0, 1, 0}, forward[3] = {-sy->view[0], -sy->view[1], -sy->view[2]};
        const double ty = FIT_MARGIN * tan(0.5 * config_real(cfg, "camera.fov") * M_PI / 180),
                     tx = ty * config_int(cfg, "camera.width") / config_int(cfg, "camera.height");
        double right[3], down[3];
        cross3(forward, up, right);
        const double norm = sqrt(dot3(right, right));
        for (int d = 0; d < 3; ++d) right[d] /= norm;
        cross3(forward, right, down);
        for (size_t i = 0; i < count; ++i) {
            double p[3];
            for (int d = 0; d < 3; ++d) p[d] = sy->x[3 * i + d] - target[d];
            const double need = fmax(fabs(dot3(p, right)) / tx, fabs(dot3(p, down)) / ty);
            distance = fmax(distance, fmax(need, 0.05) - dot3(p, forward)); /* and 5 cm in front at least */
        }
    }
    for (int d = 0; d < 3; ++d) eye[d] = target[d] + distance * sy->view[d];
    return distance;
}

static int write_camera_json(const char *path, const double eye[3], const double target[3], const config *cfg)
{
    char text[1024];
    int len = snprintf(text, sizeof text,
                       "{\"camera_pos\": [%.17g, %.17g, %.17g], \"object_pos\": [%.17g, %.17g, %.17g], "
                       "\"width\": %ld, \"height\": %ld, \"fov\": %.17g}\n",
                       eye[0], eye[1], eye[2], target[0], target[1], target[2], config_int(cfg, "camera.width"),
                       config_int(cfg, "camera.height"), config_real(cfg, "camera.fov"));
    return file_write_atomic(path, text, (size_t)len);
}

/* ---- texture ------------------------------------------------------------------------------------ */

static void hsv_to_rgb(double h, double s, double v, uint8_t *rgb)
{
    const double k[3] = {5, 3, 1};
    for (int c = 0; c < 3; ++c) {
        const double q = fmod(k[c] + 6 * h, 6), w = fmin(fmin(q, 4 - q), 1);
        rgb[c] = (uint8_t)lround(255 * (v - v * s * fmax(w, 0)));
    }
}

/* An 8 × 8 checker of light and dark cells whose hue drifts smoothly across the texture and
 * jumps a little per cell (seeded): edges everywhere and no two places alike, so a photometric
 * loss can lock on; saturated enough to stand out of the white background. */
static int make_texture(image *tex, int size, uint64_t seed)
{
    enum { CELLS = 8 };
    rng_t rng;
    rng_seed(&rng, seed, 2);
    double jitter[CELLS * CELLS], h0 = rng_uniform(&rng), ph = 2 * M_PI * rng_uniform(&rng);
    for (int c = 0; c < CELLS * CELLS; ++c) jitter[c] = 0.12 * (rng_uniform(&rng) - 0.5);
    if (image_alloc(tex, size, size, 3, 8)) return -1;
    for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
            const double s = (x + 0.5) / size, t = (y + 0.5) / size;
            const int cx = (int)(s * CELLS), cy = (int)(t * CELLS), light = (cx + cy) % 2 == 0;
            const double hue = h0 + 0.6 * s + 0.3 * t + 0.05 * sin(2 * M_PI * 1.5 * t + ph) + jitter[cy * CELLS + cx];
            const double sat = 0.55 + 0.25 * sin(2 * M_PI * (s + t) + ph);
            hsv_to_rgb(hue - floor(hue), sat, light ? 0.9 : 0.5, tex->u8 + 3 * ((size_t)y * size + x));
        }
    return 0;
}

/* ---- files ------------------------------------------------------------------------------------------ */

enum frame_file { FILE_RGB, FILE_MASK, FILE_SURFACE, FILE_CLOUD, N_FRAME_FILES };
static const char *const frame_patterns[N_FRAME_FILES] = {"rgbs/rgb_%03d.png", "masks/mask_%03d.png",
                                                          "surfaces/%04d_00.obj", "point_clouds/point_cloud_%03d.obj"};

static void frame_path(char *out, size_t size, const char *root, enum frame_file file, int f)
{
    char name[64];
    snprintf(name, sizeof name, frame_patterns[file], f);
    snprintf(out, size, "%s/%s", root, name);
}

/* Frames from F on, left by an earlier, longer sequence, would be read as part of this one. */
static void remove_stale_frames(const char *root, int frames)
{
    char path[4200];
    for (int f = frames, found = 1; found; ++f) {
        found = 0;
        for (int k = 0; k < N_FRAME_FILES; ++k) {
            frame_path(path, sizeof path, root, k, f);
            found |= unlink(path) == 0;
        }
    }
}

static int prepare_dir(const char *root, int overwrite, int frames)
{
    static const char *const subdirs[] = {"rgbs", "masks", "surfaces", "point_clouds", "templates"};
    char path[4200];
    if (file_make_dirs(root)) return -1;
    for (size_t k = 0; k < sizeof subdirs / sizeof *subdirs; ++k) {
        snprintf(path, sizeof path, "%s/%s", root, subdirs[k]);
        if (file_make_dirs(path)) return -1;
    }
    if (overwrite) remove_stale_frames(root, frames);
    return 0;
}

static int write_mesh_at(const synth *sy, int f, const char *path, const float *uvs)
{
    mesh m;
    if (cloth_mesh_to_mesh(&sy->scene.mesh, sy->x + (size_t)f * 3 * sy->scene.mesh.n_verts, &m)) return -1;
    int rc = 0;
    if (uvs) {
        m.n_uvs = m.n_vertices;
        m.uvs = malloc(2 * m.n_uvs * sizeof(float));
        m.face_uvs = malloc(3 * m.n_faces * sizeof(uint32_t));
        if (!m.uvs || !m.face_uvs) rc = err_set("%s: out of memory", path);
        else {
            memcpy(m.uvs, uvs, 2 * m.n_uvs * sizeof(float));
            memcpy(m.face_uvs, m.faces, 3 * m.n_faces * sizeof(uint32_t));
        }
    }
    if (!rc) rc = mesh_write_obj(path, &m);
    mesh_free(&m);
    return rc;
}

static int write_point_cloud(const synth *sy, int f, const char *path, size_t count, uint64_t seed)
{
    mesh m, cloud;
    mesh_init(&cloud);
    if (cloth_mesh_to_mesh(&sy->scene.mesh, sy->x + (size_t)f * 3 * sy->scene.mesh.n_verts, &m)) return -1;
    int rc = mesh_alloc(&cloud, count, 0);
    if (!rc) rc = mesh_sample_surface(&m, count, seed * 1000003u + (uint64_t)f, cloud.positions, NULL, NULL);
    if (!rc) rc = mesh_write_obj(path, &cloud);
    mesh_free(&m);
    mesh_free(&cloud);
    return rc;
}

/* UVs: material coordinates over the cloth's side, shifted to start at 0. */
static float *template_uvs(const synth *sy)
{
    const cloth_mesh *m = &sy->scene.mesh;
    float *uvs = malloc(2 * (size_t)m->n_verts * sizeof(float));
    if (!uvs) return NULL;
    double lo[2] = {INFINITY, INFINITY};
    for (int i = 0; i < m->n_verts; ++i)
        for (int d = 0; d < 2; ++d) lo[d] = fmin(lo[d], m->u[2 * i + d]);
    for (int i = 0; i < m->n_verts; ++i)
        for (int d = 0; d < 2; ++d) uvs[2 * i + d] = (float)((m->u[2 * i + d] - lo[d]) / sy->size);
    return uvs;
}

static int write_geometry(const synth *sy, const char *root, const float *uvs, const config *cfg)
{
    char path[4200];
    const size_t count = (size_t)config_int(cfg, "synth.cloud_points");
    const uint64_t seed = (uint64_t)config_int(cfg, "job.seed");
    snprintf(path, sizeof path, "%s/templates/template.obj", root);
    if (write_mesh_at(sy, 0, path, uvs)) return -1;
    for (int f = 0; f < sy->frames; ++f) {
        frame_path(path, sizeof path, root, FILE_SURFACE, f);
        if (write_mesh_at(sy, f, path, NULL)) return -1;
        frame_path(path, sizeof path, root, FILE_CLOUD, f);
        if (write_point_cloud(sy, f, path, count, seed)) return -1;
    }
    return 0;
}

/* ---- rendering ---------------------------------------------------------------------------------------- */

void synth_render_settings(raster_settings *s, const double camera_pos[3])
{
    raster_settings_default(s);
    s->shading = RASTER_SHADE_PHONG;
    s->light = RASTER_LIGHT_POINT;
    for (int c = 0; c < 3; ++c) {
        s->light_position[c] = camera_pos[c];
        s->background[c] = 1;
        s->ambient[c] = 0.5, s->diffuse[c] = 0.3, s->specular[c] = 0.2;
    }
    s->shininess = 64;
    s->faces_per_pixel = 1;
    s->sigma = s->gamma = 1e-4;
}

typedef struct {
    raster_camera cam;
    raster_settings settings;
    raster_frame frame;
    raster_mesh mesh;
    real *positions, *uvs, *texture;
    int32_t *faces;
    double coverage_min, coverage_max; /* fraction of the image the masks cover */
} renderer;

static void renderer_free(renderer *r)
{
    raster_frame_free(&r->frame);
    free(r->positions), free(r->uvs), free(r->texture), free(r->faces);
}

static int renderer_init(renderer *r, const synth *sy, const float *uvs, const image *tex)
{
    const cloth_mesh *m = &sy->scene.mesh;
    const size_t n = (size_t)m->n_verts, nf = (size_t)m->n_faces, texels = (size_t)tex->width * tex->height * 3;
    r->positions = malloc(3 * n * sizeof(real));
    r->uvs = malloc(2 * n * sizeof(real));
    r->faces = malloc(3 * nf * sizeof(int32_t));
    r->texture = malloc(texels * sizeof(real));
    if (!r->positions || !r->uvs || !r->faces || !r->texture) return err_set("synth: out of memory for rendering");
    for (size_t i = 0; i < 2 * n; ++i) r->uvs[i] = (real)uvs[i];
    for (size_t i = 0; i < 3 * nf; ++i) r->faces[i] = (int32_t)m->faces[i];
    for (size_t i = 0; i < texels; ++i) r->texture[i] = (real)(tex->u8[i] / 255.0); /* what texture.png holds */
    r->mesh = (raster_mesh){.n_vertices = (int)n, .n_faces = (int)nf, .positions = r->positions, .faces = r->faces,
                            .n_uvs = (int)n, .uvs = r->uvs, .face_uvs = r->faces, .tex_width = tex->width,
                            .tex_height = tex->height, .texture = r->texture};
    r->coverage_min = INFINITY, r->coverage_max = 0;
    return raster_frame_alloc(&r->frame, r->cam.width, r->cam.height, 1);
}

static int render_frame(renderer *r, const synth *sy, int f, const char *root, int threads)
{
    const size_t n3 = 3 * (size_t)sy->scene.mesh.n_verts, pixels = (size_t)r->cam.width * r->cam.height;
    for (size_t i = 0; i < n3; ++i) r->positions[i] = (real)sy->x[f * n3 + i];
    if (raster_forward(&r->cam, &r->settings, &r->mesh, &r->frame, threads)) return err_context("synth: frame %d", f);
    size_t covered = 0;
    for (size_t p = 0; p < pixels; ++p) covered += r->frame.silhouette[p] != 0;
    r->coverage_min = fmin(r->coverage_min, (double)covered / pixels);
    r->coverage_max = fmax(r->coverage_max, (double)covered / pixels);
    char path[4200];
    frame_path(path, sizeof path, root, FILE_RGB, f);
    if (render_write_rgb(path, &r->frame)) return -1;
    frame_path(path, sizeof path, root, FILE_MASK, f);
    return render_write_silhouette(path, &r->frame);
}

/* camera.json, the texture and every frame's image and mask; the camera is read back from the file,
 * so the images are what a reader of camera.json reproduces. */
static int write_images(const synth *sy, const char *root, const float *uvs, job_ctx *ctx, renderer *r)
{
    const config *cfg = ctx->cfg;
    char path[4200];
    double eye[3], target[3];
    image tex;
    image_init(&tex);
    const double distance = fit_camera(sy, cfg, eye, target);
    snprintf(path, sizeof path, "%s/camera.json", root);
    int rc = write_camera_json(path, eye, target, cfg) || raster_camera_read_json(path, &r->cam);
    snprintf(path, sizeof path, "%s/templates/texture.png", root);
    if (!rc)
        rc = make_texture(&tex, (int)config_int(cfg, "synth.texture_size"), (uint64_t)config_int(cfg, "job.seed")) ||
             image_write_png(path, &tex);
    synth_render_settings(&r->settings, eye);
    if (!rc) rc = renderer_init(r, sy, uvs, &tex);
    for (int f = 0; !rc && f < sy->frames; ++f) rc = render_frame(r, sy, f, root, ctx->backend->threads);
    image_free(&tex);
    if (!rc) rc = metrics_set(&ctx->final, "camera_distance", distance);
    return rc ? -1 : 0;
}

/* ---- job ------------------------------------------------------------------------------------------------ */

static int record_outputs(const synth *sy, job_ctx *ctx, const renderer *r, double sim_s, double files_s)
{
    const cloth_mesh *m = &sy->scene.mesh;
    const size_t n3 = 3 * (size_t)m->n_verts, total = (size_t)sy->frames * n3;
    float *x = malloc(total * sizeof(float)), *faces = malloc(3 * (size_t)m->n_faces * sizeof(float));
    int rc = !x || !faces ? err_set("synth: out of memory for the outputs") : 0;
    for (size_t i = 0; !rc && i < total; ++i) x[i] = (float)sy->x[i];
    for (size_t i = 0; !rc && i < 3 * (size_t)m->n_faces; ++i) faces[i] = (float)m->faces[i];
    size_t xdims[3] = {(size_t)sy->frames, (size_t)m->n_verts, 3}, fdims[2] = {(size_t)m->n_faces, 3};
    if (!rc)
        rc = job_output_f32(ctx, "positions", x, 3, xdims) || job_output_f32(ctx, "faces", faces, 2, fdims) ||
             metrics_set(&ctx->final, "simulate_s", sim_s) || metrics_set(&ctx->final, "write_s", files_s) ||
             metrics_set(&ctx->final, "mask_coverage_min", r->coverage_min) ||
             metrics_set(&ctx->final, "mask_coverage_max", r->coverage_max);
    free(x), free(faces);
    return rc ? -1 : 0;
}

static int synth_outputs(const synth *sy, job_ctx *ctx, double sim_s)
{
    const char *root = config_str(ctx->cfg, "synth.dir");
    const double start = wall_time();
    renderer r = {0};
    float *uvs = template_uvs(sy);
    int rc = uvs ? prepare_dir(root, config_bool(ctx->cfg, "synth.overwrite"), sy->frames) : err_set("synth: out of memory");
    if (!rc) rc = write_geometry(sy, root, uvs, ctx->cfg) || write_images(sy, root, uvs, ctx, &r);
    if (!rc) {
        log_info("%s: wrote %d frames to %s (%.1f s; masks cover %.0f–%.0f %% of the image)", ctx->id, sy->frames, root,
                 wall_time() - start, 100 * r.coverage_min, 100 * r.coverage_max);
        rc = record_outputs(sy, ctx, &r, sim_s, wall_time() - start);
    }
    renderer_free(&r);
    free(uvs);
    return rc ? -1 : 0;
}

static int synth_run(job_ctx *ctx)
{
    if (ctx->dist->group_rank != 0) return JOB_COMPLETE; /* one sequential simulation: the group leader makes it */
    const char *root = config_str(ctx->cfg, "synth.dir");
    if (!root[0]) return err_set("synth.dir is empty: name the sequence directory to write");
    if (!config_bool(ctx->cfg, "synth.overwrite") && file_dir_has_entries(root))
        return err_set("synth.dir %s exists and is not an empty directory; choose another one or set "
                       "synth.overwrite=true", root);
    synth sy;
    int rc = synth_setup(&sy, ctx->cfg);
    const double start = wall_time();
    if (!rc) {
        log_info("%s: scene %s, %d vertices, %d handles, %d frames", ctx->id, config_str(ctx->cfg, "synth.scene"),
                 sy.scene.mesh.n_verts, sy.scene.settings.n_handles, sy.frames);
        rc = synth_simulate(&sy);
    }
    if (!rc) {
        log_info("%s: simulated in %.1f s", ctx->id, wall_time() - start);
        rc = synth_outputs(&sy, ctx, wall_time() - start);
    }
    synth_free(&sy);
    return rc ? -1 : JOB_COMPLETE;
}

const job_type synth_cloth_job = {
    .name = "synth_cloth",
    .summary = "synthetic phi-SfT sequence: a simulated, rendered textured cloth with ground truth",
    .schema = synth_schema,
    .run = synth_run,
};
