/* raster.c — the OpenMP backend of the soft rasterizer (see raster.h and
 * kernels/raster.h for the math).
 *
 * Forward: project the vertices, compute vertex normals, set up the faces,
 * bin them into 16 × 16 pixel tiles (bounding boxes grown by the blur
 * radius), then every tile's pixels test only that tile's faces.  Backward
 * walks the same tiles; each thread adds into its own per-vertex gradient
 * block, and the blocks are summed before the per-vertex chain rule
 * (projection, vertex normals).
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/raster.h"
#include "raster.h"

/* Scratch a frame keeps between forward and backward. */
typedef struct {
    int n_vertices, n_faces;
    real *screen;         /* V × 3 */
    real *normals;        /* V × 3 unit */
    real *normal_norms;   /* V: |Σ cross| before normalising */
    raster_face *faces;   /* F */
    int tiles_x, tiles_y;
    int32_t *tile_start;  /* tiles + 1 */
    int32_t *tile_faces;
    size_t tile_capacity;
    real *keep_all;       /* H × W: the all-faces Π(1 − D) of each pixel, for the backward */
    real *vgrad;          /* threads × V × RASTER_VGRAD */
    int vgrad_threads;
} raster_work;

/* ---- settings and mesh ------------------------------------------------------------ */

double raster_blur_radius_for(double sigma) { return log(1.0 / 1e-4 - 1.0) * sigma; }

void raster_settings_default(raster_settings *s)
{
    memset(s, 0, sizeof *s);
    s->faces_per_pixel = 1;
    s->sigma = 1e-4;
    s->gamma = 1e-4;
    s->blur_radius = 0;
    s->silhouette_radius = raster_blur_radius_for(s->sigma);
    s->blend_znear = 1.0;
    s->blend_zfar = 100.0;
    s->shading = RASTER_SHADE_AMBIENT;
    s->light = RASTER_LIGHT_POINT;
    s->light_position[1] = 1.0;
    s->light_direction[1] = 1.0;
    for (int c = 0; c < 3; ++c) {
        s->ambient[c] = 1.0;
        s->diffuse[c] = 0.3;
        s->specular[c] = 0.2;
    }
    s->shininess = 64.0;
}

int raster_settings_check(const raster_settings *s)
{
    if (s->faces_per_pixel < 1 || s->faces_per_pixel > RASTER_MAX_K)
        return err_set("raster: faces_per_pixel %d not in [1, %d]", s->faces_per_pixel, RASTER_MAX_K);
    if (!(s->sigma > 0 && isfinite(s->sigma)) || !(s->gamma > 0 && isfinite(s->gamma)))
        return err_set("raster: sigma (%g) and gamma (%g) must be positive and finite", s->sigma, s->gamma);
    if (!(s->blur_radius >= 0 && isfinite(s->blur_radius)) || !(s->silhouette_radius >= 0 && isfinite(s->silhouette_radius)))
        return err_set("raster: blur_radius (%g) and silhouette_radius (%g) must be finite and >= 0", s->blur_radius,
                       s->silhouette_radius);
    if (!(s->blend_zfar > s->blend_znear) || !isfinite(s->blend_zfar) || !isfinite(s->blend_znear))
        return err_set("raster: blend depth range [%g, %g] must be finite with znear < zfar", s->blend_znear, s->blend_zfar);
    if (s->shading != RASTER_SHADE_AMBIENT && s->shading != RASTER_SHADE_PHONG) return err_set("raster: unknown shading");
    if (s->light != RASTER_LIGHT_POINT && s->light != RASTER_LIGHT_DIRECTIONAL) return err_set("raster: unknown light");
    if (s->silhouette != RASTER_SILHOUETTE_ALL_FACES && s->silhouette != RASTER_SILHOUETTE_K_NEAREST)
        return err_set("raster: unknown silhouette mode");
    double dir2 = 0;
    for (int c = 0; c < 3; ++c) {
        double v[] = {s->background[c], s->light_position[c], s->light_direction[c], s->ambient[c], s->diffuse[c],
                      s->specular[c]};
        for (size_t k = 0; k < sizeof v / sizeof *v; ++k)
            if (!isfinite(v[k])) return err_set("raster: non-finite background, light or material colour");
        dir2 += s->light_direction[c] * s->light_direction[c];
    }
    if (s->shading == RASTER_SHADE_PHONG && s->light == RASTER_LIGHT_DIRECTIONAL && !(dir2 > 0))
        return err_set("raster: the directional light's direction is zero");
    if (!(s->shininess >= 1 && isfinite(s->shininess))) return err_set("raster: shininess %g must be >= 1", s->shininess);
    return 0;
}

int raster_mesh_check(const raster_mesh *m)
{
    if (m->n_vertices < 1 || m->n_faces < 1 || !m->positions || !m->faces)
        return err_set("raster: the mesh needs vertices and faces (%d vertices, %d faces)", m->n_vertices, m->n_faces);
    for (int i = 0; i < 3 * m->n_vertices; ++i)
        if (!isfinite(m->positions[i])) return err_set("raster: vertex %d has a non-finite coordinate", i / 3);
    for (int i = 0; i < 3 * m->n_faces; ++i)
        if (m->faces[i] < 0 || m->faces[i] >= m->n_vertices)
            return err_set("raster: face %d refers to vertex %d of %d", i / 3, m->faces[i], m->n_vertices);
    int textured = m->texture || m->uvs || m->face_uvs;
    if (textured) {
        if (!m->texture || !m->uvs || !m->face_uvs || m->n_uvs < 1)
            return err_set("raster: a texture needs uvs, face_uvs and the texture image together");
        if (m->tex_width < 1 || m->tex_height < 1)
            return err_set("raster: texture size %d x %d", m->tex_width, m->tex_height);
        for (int i = 0; i < 3 * m->n_faces; ++i)
            if (m->face_uvs[i] < 0 || m->face_uvs[i] >= m->n_uvs)
                return err_set("raster: face %d refers to uv %d of %d", i / 3, m->face_uvs[i], m->n_uvs);
        for (int i = 0; i < 2 * m->n_uvs; ++i)
            if (!isfinite(m->uvs[i])) return err_set("raster: uv %d is not finite", i / 2);
    }
    if (m->vertex_colors)
        for (int i = 0; i < 3 * m->n_vertices; ++i)
            if (!isfinite(m->vertex_colors[i])) return err_set("raster: vertex colour %d is not finite", i / 3);
    return 0;
}

/* ---- frames -------------------------------------------------------------------------- */

static void work_free(raster_work *w)
{
    if (!w) return;
    free(w->screen);
    free(w->normals);
    free(w->normal_norms);
    free(w->faces);
    free(w->tile_start);
    free(w->tile_faces);
    free(w->vgrad);
    free(w->keep_all);
    free(w);
}

int raster_frame_alloc(raster_frame *f, int width, int height, int K)
{
    memset(f, 0, sizeof *f);
    if (width < 1 || height < 1 || width > 65536 || height > 65536)
        return err_set("raster: frame size %d x %d out of range", width, height);
    if (K < 1 || K > RASTER_MAX_K) return err_set("raster: faces_per_pixel %d not in [1, %d]", K, RASTER_MAX_K);
    size_t n = (size_t)width * height;
    f->width = width;
    f->height = height;
    f->K = K;
    f->face = malloc(n * K * sizeof *f->face);
    f->zbuf = malloc(n * K * sizeof *f->zbuf);
    f->dist = malloc(n * K * sizeof *f->dist);
    f->bary = malloc(n * K * 3 * sizeof *f->bary);
    f->rgb = malloc(n * 3 * sizeof *f->rgb);
    f->alpha = malloc(n * sizeof *f->alpha);
    f->silhouette = malloc(n);
    f->depth = malloc(n * sizeof *f->depth);
    f->normal = malloc(n * 3 * sizeof *f->normal);
    raster_work *w = f->work = calloc(1, sizeof(raster_work));
    if (w) w->keep_all = malloc(n * sizeof *w->keep_all);
    if (!w || !w->keep_all || !f->face || !f->zbuf || !f->dist || !f->bary || !f->rgb || !f->alpha || !f->silhouette || !f->depth ||
        !f->normal || !f->work) {
        raster_frame_free(f);
        return err_set("raster: out of memory for a %d x %d frame with K = %d", width, height, K);
    }
    return 0;
}

void raster_frame_free(raster_frame *f)
{
    free(f->face);
    free(f->zbuf);
    free(f->dist);
    free(f->bary);
    free(f->rgb);
    free(f->alpha);
    free(f->silhouette);
    free(f->depth);
    free(f->normal);
    work_free(f->work);
#ifdef PHIVE_CUDA
    raster_cuda_release(f->device);
#endif
    memset(f, 0, sizeof *f);
}

static int work_reserve(raster_work *w, int n_vertices, int n_faces)
{
    if (w->n_vertices != n_vertices) {
        free(w->screen);
        free(w->normals);
        free(w->normal_norms);
        free(w->vgrad);
        w->vgrad = NULL;
        w->vgrad_threads = 0;
        w->screen = malloc((size_t)n_vertices * 3 * sizeof(real));
        w->normals = malloc((size_t)n_vertices * 3 * sizeof(real));
        w->normal_norms = malloc((size_t)n_vertices * sizeof(real));
        w->n_vertices = n_vertices;
    }
    if (w->n_faces != n_faces) {
        free(w->faces);
        w->faces = malloc((size_t)n_faces * sizeof *w->faces);
        w->n_faces = n_faces;
    }
    if (!w->screen || !w->normals || !w->normal_norms || !w->faces) {
        w->n_vertices = w->n_faces = -1;
        return err_set("raster: out of memory for a mesh of %d vertices and %d faces", n_vertices, n_faces);
    }
    return 0;
}

static raster_mesh_view mesh_view(const raster_mesh *m, const raster_work *w)
{
    raster_mesh_view v = {
        .positions = m->positions,
        .faces = m->faces,
        .screen = w->screen,
        .normals = w->normals,
        .vertex_colors = m->vertex_colors,
        .uvs = m->uvs,
        .face_uvs = m->face_uvs,
        .texture = m->texture,
        .tex_width = m->tex_width,
        .tex_height = m->tex_height,
    };
    return v;
}

static void camera_reals(const raster_camera *cam, real R[9], real t[3])
{
    for (int k = 0; k < 9; ++k) R[k] = (real)cam->R[k];
    for (int k = 0; k < 3; ++k) t[k] = (real)cam->t[k];
}

/* Screen vertices and unit vertex normals. */
static void vertex_setup(const raster_camera *cam, const raster_mesh *m, raster_work *w, int threads)
{
    real R[9], t[3];
    camera_reals(cam, R, t);
    int V = m->n_vertices;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < V; ++i)
        raster_project(R, t, (real)cam->fx, (real)cam->fy, (real)cam->cx, (real)cam->cy, m->positions + 3 * (size_t)i,
                       w->screen + 3 * (size_t)i);
    memset(w->normals, 0, (size_t)V * 3 * sizeof(real));
    for (int f = 0; f < m->n_faces; ++f) {
        real n[3];
        const int32_t *idx = m->faces + 3 * (size_t)f;
        raster_face_cross(m->positions, idx, n);
        for (int i = 0; i < 3; ++i)
            for (int c = 0; c < 3; ++c) w->normals[3 * (size_t)idx[i] + c] += n[c];
    }
    for (int i = 0; i < V; ++i) {
        real n[3];
        w->normal_norms[i] = raster_normalize3(w->normals + 3 * (size_t)i, n);
        memcpy(w->normals + 3 * (size_t)i, n, sizeof n);
    }
}

static int bin_faces(raster_work *w, int width, int height)
{
    w->tiles_x = (width + RASTER_TILE - 1) / RASTER_TILE;
    w->tiles_y = (height + RASTER_TILE - 1) / RASTER_TILE;
    size_t tiles = (size_t)w->tiles_x * w->tiles_y;
    free(w->tile_start);
    w->tile_start = calloc(tiles + 1, sizeof *w->tile_start);
    if (!w->tile_start) return err_set("raster: out of memory for %zu tiles", tiles);
    size_t total = 0;
    for (int f = 0; f < w->n_faces; ++f) {
        int tx0, tx1, ty0, ty1;
        if (!w->faces[f].valid || !raster_face_tiles(&w->faces[f], width, height, &tx0, &tx1, &ty0, &ty1)) continue;
        for (int ty = ty0; ty <= ty1; ++ty)
            for (int tx = tx0; tx <= tx1; ++tx) w->tile_start[(size_t)ty * w->tiles_x + tx + 1]++;
        total += (size_t)(tx1 - tx0 + 1) * (ty1 - ty0 + 1);
    }
    if (total > INT32_MAX) return err_set("raster: %zu face-tile pairs exceed the binning limit", total);
    for (size_t t = 0; t < tiles; ++t) w->tile_start[t + 1] += w->tile_start[t];
    if (total > w->tile_capacity || !w->tile_faces) {
        free(w->tile_faces);
        w->tile_capacity = total > 0 ? total : 1;
        w->tile_faces = malloc(w->tile_capacity * sizeof *w->tile_faces);
        if (!w->tile_faces) {
            w->tile_capacity = 0;
            return err_set("raster: out of memory for %zu face-tile pairs", total);
        }
    }
    int32_t *fill = malloc(tiles * sizeof *fill);
    if (!fill) return err_set("raster: out of memory for %zu tiles", tiles);
    memcpy(fill, w->tile_start, tiles * sizeof *fill);
    for (int f = 0; f < w->n_faces; ++f) {
        int tx0, tx1, ty0, ty1;
        if (!w->faces[f].valid || !raster_face_tiles(&w->faces[f], width, height, &tx0, &tx1, &ty0, &ty1)) continue;
        for (int ty = ty0; ty <= ty1; ++ty)
            for (int tx = tx0; tx <= tx1; ++tx) w->tile_faces[fill[(size_t)ty * w->tiles_x + tx]++] = f;
    }
    free(fill);
    return 0;
}

static int check_call(const raster_camera *cam, const raster_settings *s, const raster_mesh *m, const raster_frame *f)
{
    if (raster_settings_check(s) || raster_mesh_check(m)) return -1;
    if (!f->work) return err_set("raster: the frame was not allocated (raster_frame_alloc)");
    if (f->width != cam->width || f->height != cam->height || f->K != s->faces_per_pixel)
        return err_set("raster: frame %d x %d with K = %d does not match the camera's %d x %d and K = %d", f->width,
                       f->height, f->K, cam->width, cam->height, s->faces_per_pixel);
    return 0;
}

static int thread_count(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

/* What raster_pixel_forward writes for a pixel no face reaches (background,
 * empty fragment slots), without the per-pixel work: a third of a 1080p frame's
 * time when the mesh covers a small part of it. */
static void fill_empty_tile(const raster_params *P, raster_frame *f, int tx, int ty)
{
    int W = P->width, H = P->height, K = P->K;
    for (int y = ty * RASTER_TILE; y < (ty + 1) * RASTER_TILE && y < H; ++y)
        for (int x = tx * RASTER_TILE; x < (tx + 1) * RASTER_TILE && x < W; ++x) {
            size_t p = (size_t)y * W + x;
            for (int k = 0; k < K; ++k) {
                f->face[p * K + k] = -1;
                f->zbuf[p * K + k] = f->dist[p * K + k] = -1;
                f->bary[3 * (p * K + k)] = f->bary[3 * (p * K + k) + 1] = f->bary[3 * (p * K + k) + 2] = -1;
            }
            for (int c = 0; c < 3; ++c) f->rgb[3 * p + c] = P->background[c], f->normal[3 * p + c] = 0;
            f->alpha[p] = 0;
            ((raster_work *)f->work)->keep_all[p] = 1;
            f->silhouette[p] = 0;
            f->depth[p] = 0;
        }
}

int raster_forward(const raster_camera *cam, const raster_settings *s, const raster_mesh *m, raster_frame *f,
                   int threads)
{
    if (check_call(cam, s, m, f)) return -1;
    threads = thread_count(threads);
    raster_work *w = f->work;
    if (work_reserve(w, m->n_vertices, m->n_faces)) return -1;
    raster_params P;
    raster_params_fill(cam, s, &P);
    vertex_setup(cam, m, w, threads);
    raster_mesh_view M = mesh_view(m, w);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int face = 0; face < m->n_faces; ++face) raster_face_setup(&P, &M, face, w->faces + face);
    if (bin_faces(w, cam->width, cam->height)) return -1;
    int W = cam->width, H = cam->height, K = P.K, tiles = w->tiles_x * w->tiles_y;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
    for (int tile = 0; tile < tiles; ++tile) {
        int tx = tile % w->tiles_x, ty = tile / w->tiles_x;
        const int32_t *cand = w->tile_faces + w->tile_start[tile];
        int n_cand = w->tile_start[tile + 1] - w->tile_start[tile];
        if (n_cand == 0) {
            fill_empty_tile(&P, f, tx, ty);
            continue;
        }
        for (int y = ty * RASTER_TILE; y < (ty + 1) * RASTER_TILE && y < H; ++y)
            for (int x = tx * RASTER_TILE; x < (tx + 1) * RASTER_TILE && x < W; ++x) {
                size_t p = (size_t)y * W + x;
                raster_pixel_forward(&P, &M, w->faces, cand, n_cand, x, y, f->face + p * K, f->zbuf + p * K,
                                     f->dist + p * K, f->bary + p * K * 3, f->rgb + 3 * p, f->alpha + p,
                                     w->keep_all + p, f->silhouette + p, f->depth + p, f->normal + 3 * p);
            }
    }
    return 0;
}

/* dL/dpositions from the summed per-vertex block: projection, Phong's
 * interpolated points, and the vertex normals. */
static int vertex_backward(const raster_camera *cam, const raster_mesh *m, raster_work *w, const real *vg,
                           raster_grads *g)
{
    if (g->vertex_colors)
        for (int i = 0; i < m->n_vertices; ++i)
            for (int c = 0; c < 3; ++c) g->vertex_colors[3 * (size_t)i + c] += vg[RASTER_VGRAD * (size_t)i + RASTER_VG_COLOR + c];
    if (!g->positions) return 0;
    real R[9], t[3];
    camera_reals(cam, R, t);
    for (int i = 0; i < m->n_vertices; ++i) {
        const real *b = vg + RASTER_VGRAD * (size_t)i;
        real *gx = g->positions + 3 * (size_t)i;
        raster_project_backward(R, t, (real)cam->fx, (real)cam->fy, m->positions + 3 * (size_t)i, b + RASTER_VG_SCREEN, gx);
        for (int c = 0; c < 3; ++c) gx[c] += b[RASTER_VG_POSITION + c];
    }
    /* normals: n_i = normalize(Σ_faces cross) */
    real *gsum = malloc((size_t)m->n_vertices * 3 * sizeof *gsum);
    if (!gsum) return err_set("raster: out of memory for %d vertex normal gradients", m->n_vertices);
    for (int i = 0; i < m->n_vertices; ++i) {
        real *gs = gsum + 3 * (size_t)i;
        gs[0] = gs[1] = gs[2] = 0;
        raster_normalize3_backward(w->normals + 3 * (size_t)i, w->normal_norms[i], vg + RASTER_VGRAD * (size_t)i + RASTER_VG_NORMAL, gs);
    }
    for (int f = 0; f < m->n_faces; ++f) {
        const int32_t *idx = m->faces + 3 * (size_t)f;
        real gcross[3] = {0, 0, 0}, gx[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
        for (int i = 0; i < 3; ++i)
            for (int c = 0; c < 3; ++c) gcross[c] += gsum[3 * (size_t)idx[i] + c];
        raster_face_cross_backward(m->positions, idx, gcross, gx);
        for (int i = 0; i < 3; ++i)
            for (int c = 0; c < 3; ++c) g->positions[3 * (size_t)idx[i] + c] += gx[i][c];
    }
    free(gsum);
    return 0;
}

int raster_backward(const raster_camera *cam, const raster_settings *s, const raster_mesh *m, const raster_frame *f,
                    const real *grad_rgb, const real *grad_alpha, raster_grads *g, int threads)
{
    if (check_call(cam, s, m, f)) return -1;
    raster_work *w = f->work;
    if (w->n_vertices != m->n_vertices || w->n_faces != m->n_faces || !w->tile_start)
        return err_set("raster: backward needs the frame raster_forward produced for this mesh");
    threads = thread_count(threads);
    size_t block = (size_t)m->n_vertices * RASTER_VGRAD;
    if (w->vgrad_threads < threads) {
        free(w->vgrad);
        w->vgrad = malloc((size_t)threads * block * sizeof(real));
        w->vgrad_threads = w->vgrad ? threads : 0;
        if (!w->vgrad) return err_set("raster: out of memory for %d gradient blocks", threads);
    }
    memset(w->vgrad, 0, (size_t)threads * block * sizeof(real));
    raster_params P;
    raster_params_fill(cam, s, &P);
    raster_mesh_view M = mesh_view(m, w);
    int W = cam->width, H = cam->height, K = P.K, tiles = w->tiles_x * w->tiles_y;
    real *grad_texture = M.texture ? g->texture : NULL;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
    for (int tile = 0; tile < tiles; ++tile) {
        if (w->tile_start[tile + 1] == w->tile_start[tile]) continue;
        real *vg = w->vgrad + (size_t)omp_get_thread_num() * block;
        int tx = tile % w->tiles_x, ty = tile / w->tiles_x;
        const int32_t *cand = w->tile_faces + w->tile_start[tile];
        int n_cand = w->tile_start[tile + 1] - w->tile_start[tile];
        for (int y = ty * RASTER_TILE; y < (ty + 1) * RASTER_TILE && y < H; ++y)
            for (int x = tx * RASTER_TILE; x < (tx + 1) * RASTER_TILE && x < W; ++x) {
                size_t p = (size_t)y * W + x;
                const real *gr = grad_rgb && f->face[p * K] >= 0 ? grad_rgb + 3 * p : NULL;
                real ga = grad_alpha ? grad_alpha[p] : 0;
                if (ga == 0 && (!gr || (gr[0] == 0 && gr[1] == 0 && gr[2] == 0))) continue;
                raster_pixel_backward(&P, &M, w->faces, cand, n_cand, x, y, f->face + p * K, f->zbuf + p * K, f->dist + p * K,
                                      f->rgb + 3 * p, w->keep_all[p], gr, ga, vg, grad_texture);
            }
    }
    for (int t = 1; t < threads; ++t) {
        const real *src = w->vgrad + (size_t)t * block;
        for (size_t i = 0; i < block; ++i) w->vgrad[i] += src[i];
    }
    return vertex_backward(cam, m, w, w->vgrad, g);
}
