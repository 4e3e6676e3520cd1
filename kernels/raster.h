/* raster.h — per-face and per-pixel math of the soft rasterizer, shared by the
 * OpenMP backend (src/raster/raster.c) and the CUDA launchers (raster.cu).
 *
 * The semantics are those of include/phive/raster.h; this file only says how
 * one face, one pixel or one vertex is computed.  Screen-space vertices are
 * (u, v, z): pixel coordinates and camera depth.  Backward functions add into
 * a per-vertex gradient block of RASTER_VGRAD reals per vertex (see the
 * RASTER_VG_* offsets), through RASTER_PRIVATE_ADD: a plain += on the host,
 * where every thread owns its block, and atomicAdd on the device, where the
 * block is shared.  Texture gradients always go through PHIVE_ATOMIC_ADD.
 */
#ifndef PHIVE_KERNELS_RASTER_H
#define PHIVE_KERNELS_RASTER_H

#include <stdint.h>
#include <string.h>

#include "common.h"
#include "phive/raster.h"

#if defined(__CUDA_ARCH__)
#define RASTER_PRIVATE_ADD(ptr, value) atomicAdd((ptr), (value))
#else
#define RASTER_PRIVATE_ADD(ptr, value) (*(ptr) += (value))
#endif

#define RASTER_KMAX 8
#define RASTER_TILE 16
/* Faces whose doubled screen area is below this (pixels²) are degenerate. */
#define RASTER_MIN_AREA ((real)1e-10)
/* PyTorch3D's F.normalize eps and softmax_rgb_blend eps. */
#define RASTER_NORMALIZE_EPS ((real)1e-6)
#define RASTER_BLEND_EPS ((real)1e-10)

/* Per-vertex gradient block: screen (u, v, z), world position (Phong's
 * interpolated point), vertex normal, vertex colour. */
#define RASTER_VG_SCREEN 0
#define RASTER_VG_POSITION 3
#define RASTER_VG_NORMAL 6
#define RASTER_VG_COLOR 9
#define RASTER_VGRAD 12

/* Everything a pixel needs besides the mesh, in the kernel's precision. */
typedef struct {
    int width, height, K;
    real ndc2;              /* (2 / ndc_pixels)²: pixel² → squared NDC */
    real sigma, gamma, blur_radius, silhouette_radius;
    real znear, zfar;
    real blend_znear, blend_zfar;
    real background[3];
    int cull_backfaces;
    int silhouette_all;     /* alpha over every face in reach (SoftRas), else over the K fragments */
    int phong;              /* 0 ambient, 1 Phong */
    int directional;        /* Phong light: 0 point, 1 directional */
    real light[3];          /* position, or unit direction towards the light */
    real ambient[3], diffuse[3], specular[3], shininess;
    real camera_center[3];  /* world */
    real R[9];              /* world → camera rotation (normal map) */
} raster_params;

/* The kernel parameters of a camera and settings (host side of both launchers). */
static inline void raster_params_fill(const raster_camera *cam, const raster_settings *s, raster_params *P)
{
    memset(P, 0, sizeof *P);
    P->width = cam->width;
    P->height = cam->height;
    P->K = s->faces_per_pixel;
    double scale = 2.0 / (cam->ndc_pixels ? cam->ndc_pixels : cam->width < cam->height ? cam->width : cam->height);
    P->ndc2 = (real)(scale * scale);
    P->sigma = (real)s->sigma;
    P->gamma = (real)s->gamma;
    P->blur_radius = (real)s->blur_radius;
    P->silhouette_radius = (real)s->silhouette_radius;
    P->znear = (real)cam->znear;
    P->zfar = (real)cam->zfar;
    P->blend_znear = (real)s->blend_znear;
    P->blend_zfar = (real)s->blend_zfar;
    P->cull_backfaces = s->cull_backfaces;
    P->silhouette_all = s->silhouette == RASTER_SILHOUETTE_ALL_FACES;
    P->phong = s->shading == RASTER_SHADE_PHONG;
    P->directional = s->light == RASTER_LIGHT_DIRECTIONAL;
    double dir = sqrt(s->light_direction[0] * s->light_direction[0] + s->light_direction[1] * s->light_direction[1] +
                      s->light_direction[2] * s->light_direction[2]);
    for (int c = 0; c < 3; ++c) {
        P->background[c] = (real)s->background[c];
        P->light[c] = (real)(P->directional ? s->light_direction[c] / (dir > 0 ? dir : 1) : s->light_position[c]);
        P->ambient[c] = (real)s->ambient[c];
        P->diffuse[c] = (real)s->diffuse[c];
        P->specular[c] = (real)s->specular[c];
        /* camera centre −Rᵀt */
        P->camera_center[c] = (real)-(cam->R[c] * cam->t[0] + cam->R[3 + c] * cam->t[1] + cam->R[6 + c] * cam->t[2]);
    }
    P->shininess = (real)s->shininess;
    for (int k = 0; k < 9; ++k) P->R[k] = (real)cam->R[k];
}

/* The mesh as the kernels see it (device pointers in the CUDA path). */
typedef struct {
    const real *positions;      /* V × 3 world */
    const int32_t *faces;       /* F × 3 */
    const real *screen;         /* V × 3 (u, v, z) */
    const real *normals;        /* V × 3 unit vertex normals */
    const real *vertex_colors;  /* V × 3 or NULL */
    const real *uvs;            /* or NULL */
    const int32_t *face_uvs;
    const real *texture;        /* tex_h × tex_w × 3, or NULL */
    int tex_width, tex_height;
} raster_mesh_view;

/* A face ready for per-pixel tests. */
typedef struct {
    real u[3], v[3], z[3];
    real xmin, xmax, ymin, ymax; /* pixel-centre bounds, expanded by the blur radius */
    real area;                   /* doubled signed screen area (> 0: front face) */
    real inv_area;
    /* edge function i (opposite corner i) as ea·px + eb·py + ec, and 1/|edge|² */
    real ea[3], eb[3], ec[3], inv_len2[3];
    real reach2;                 /* the larger reach (fragments, silhouette)² in pixels² */
    int valid;
} raster_face;

/* ---- small vector helpers ---------------------------------------------------- */

PHIVE_HD real raster_dot3(const real *a, const real *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

/* y = x / max(|x|, eps) (F.normalize); returns |x|. */
PHIVE_HD real raster_normalize3(const real *x, real *y)
{
    real n = REAL_SQRT(raster_dot3(x, x));
    real d = n > RASTER_NORMALIZE_EPS ? n : RASTER_NORMALIZE_EPS;
    y[0] = x[0] / d;
    y[1] = x[1] / d;
    y[2] = x[2] / d;
    return n;
}

/* Backward of raster_normalize3 (y its output, n = |x|): gx += dL/dx. */
PHIVE_HD void raster_normalize3_backward(const real *y, real n, const real *gy, real *gx)
{
    if (!(n > RASTER_NORMALIZE_EPS)) {
        for (int c = 0; c < 3; ++c) gx[c] += gy[c] / RASTER_NORMALIZE_EPS;
        return;
    }
    real gyy = raster_dot3(gy, y);
    for (int c = 0; c < 3; ++c) gx[c] += (gy[c] - gyy * y[c]) / n;
}

/* PyTorch3D's edge function: (p − a) × (b − a) in the plane. */
PHIVE_HD real raster_edge(real px, real py, real ax, real ay, real bx, real by)
{
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax);
}

/* Accumulate g·∂edge(p, a, b)/∂(a, b) into ga, gb (2 each). */
PHIVE_HD void raster_edge_backward(real g, real px, real py, real ax, real ay, real bx, real by, real *ga, real *gb)
{
    ga[0] += g * (py - by);
    ga[1] += g * (bx - px);
    gb[0] += g * -(py - ay);
    gb[1] += g * (px - ax);
}

/* Squared distance from p to segment ab (inv_l2 = 1/|b − a|², 0 for a point);
 * *t_out the clamped projection parameter. */
PHIVE_HD real raster_segment_dist2(real px, real py, real ax, real ay, real bx, real by, real inv_l2, real *t_out)
{
    real ex = bx - ax, ey = by - ay;
    real t = ((px - ax) * ex + (py - ay) * ey) * inv_l2;
    t = t < (real)0 ? (real)0 : (t > (real)1 ? (real)1 : t);
    real rx = px - (ax + t * ex), ry = py - (ay + t * ey);
    *t_out = t;
    return rx * rx + ry * ry;
}

/* ---- per face -------------------------------------------------------------------- */

PHIVE_HD void raster_face_setup(const raster_params *P, const raster_mesh_view *M, int f, raster_face *out)
{
    const int32_t *idx = M->faces + 3 * (int64_t)f;
    int ok = 1;
    for (int i = 0; i < 3; ++i) {
        const real *s = M->screen + 3 * (int64_t)idx[i];
        out->u[i] = s[0];
        out->v[i] = s[1];
        out->z[i] = s[2];
        if (!(s[2] > P->znear)) ok = 0;
    }
    out->area = raster_edge(out->u[2], out->v[2], out->u[0], out->v[0], out->u[1], out->v[1]);
    if (!(out->area > RASTER_MIN_AREA || out->area < -RASTER_MIN_AREA)) ok = 0;
    if (P->cull_backfaces && out->area < (real)0) ok = 0;
    out->inv_area = ok ? (real)1 / out->area : (real)0;
    for (int i = 0; i < 3; ++i) {
        /* raster_edge(p, a, b) = (px − ax)(by − ay) − (py − ay)(bx − ax) */
        int a = (i + 1) % 3, b = (i + 2) % 3;
        out->ea[i] = out->v[b] - out->v[a];
        out->eb[i] = -(out->u[b] - out->u[a]);
        out->ec[i] = -out->u[a] * out->ea[i] - out->v[a] * out->eb[i];
        real l2 = out->ea[i] * out->ea[i] + out->eb[i] * out->eb[i];
        out->inv_len2[i] = l2 > (real)0 ? (real)1 / l2 : (real)0;
    }
    out->reach2 = (P->silhouette_all && P->silhouette_radius > P->blur_radius ? P->silhouette_radius : P->blur_radius) /
                  P->ndc2;
    real r = REAL_SQRT(out->reach2);
    real xmin = out->u[0], xmax = out->u[0], ymin = out->v[0], ymax = out->v[0];
    for (int i = 1; i < 3; ++i) {
        xmin = out->u[i] < xmin ? out->u[i] : xmin;
        xmax = out->u[i] > xmax ? out->u[i] : xmax;
        ymin = out->v[i] < ymin ? out->v[i] : ymin;
        ymax = out->v[i] > ymax ? out->v[i] : ymax;
    }
    out->xmin = xmin - r;
    out->xmax = xmax + r;
    out->ymin = ymin - r;
    out->ymax = ymax + r;
    /* Off-screen faces never reach a pixel. */
    if (out->xmax < (real)0 || out->ymax < (real)0 || out->xmin > (real)P->width || out->ymin > (real)P->height) ok = 0;
    out->valid = ok;
}

/* The tiles a face's bounding box covers (pixel centres i + 0.5 inside it); 0 when none. */
PHIVE_HD int raster_face_tiles(const raster_face *F, int width, int height, int *tx0, int *tx1, int *ty0, int *ty1)
{
    real x0 = ceil(F->xmin - (real)0.5), x1 = floor(F->xmax - (real)0.5);
    real y0 = ceil(F->ymin - (real)0.5), y1 = floor(F->ymax - (real)0.5);
    x0 = x0 < (real)0 ? (real)0 : x0;
    y0 = y0 < (real)0 ? (real)0 : y0;
    x1 = x1 > (real)(width - 1) ? (real)(width - 1) : x1;
    y1 = y1 > (real)(height - 1) ? (real)(height - 1) : y1;
    if (x0 > x1 || y0 > y1) return 0;
    *tx0 = (int)x0 / RASTER_TILE;
    *tx1 = (int)x1 / RASTER_TILE;
    *ty0 = (int)y0 / RASTER_TILE;
    *ty1 = (int)y1 / RASTER_TILE;
    return 1;
}

/* ---- one fragment: a face seen from a pixel centre ---------------------------------- */

typedef struct {
    real w[3];    /* screen-space barycentrics */
    real bp[3];   /* perspective-correct */
    real b[3];    /* clipped and renormalised */
    real z;       /* Σ b_i z_i */
    real dist;    /* signed squared NDC distance */
    int inside;
    int edge;     /* nearest edge: vertices edge, (edge + 1) % 3 */
    real edge_t;  /* projection parameter on it */
} raster_fragment_geom;

/* 1 when face F contains pixel centre (px, py) or lies within the face's
 * reach of it (and passes the depth rules), with its geometry in g; callers
 * apply their own radius with raster_within. */
PHIVE_HD int raster_fragment(const raster_params *P, const raster_face *F, real px, real py, raster_fragment_geom *g)
{
    if (px < F->xmin || px > F->xmax || py < F->ymin || py > F->ymax) return 0;
    const real *u = F->u, *v = F->v;
    for (int i = 0; i < 3; ++i) {
        real e = F->ea[i] * px + F->eb[i] * py + F->ec[i];
        g->w[i] = e * F->inv_area;
        /* beyond an edge's line by more than the blur radius: beyond its segment too */
        if (g->w[i] < (real)0 && e * e * F->inv_len2[i] >= F->reach2) return 0;
    }
    g->inside = g->w[0] > (real)0 && g->w[1] > (real)0 && g->w[2] > (real)0;
    real best = (real)0, t = (real)0;
    for (int e = 0; e < 3; ++e) {
        int a = e, b = (e + 1) % 3;
        real te;
        real d2 = raster_segment_dist2(px, py, u[a], v[a], u[b], v[b], F->inv_len2[(e + 2) % 3], &te);
        if (e == 0 || d2 < best) {
            best = d2;
            t = te;
            g->edge = e;
        }
    }
    g->edge_t = t;
    if (!g->inside && !(best < F->reach2)) return 0;
    real dist = best * P->ndc2;
    g->dist = g->inside ? -dist : dist;
    real a[3], s = (real)0;
    for (int i = 0; i < 3; ++i) {
        a[i] = g->w[i] / F->z[i];
        s += a[i];
    }
    if (!(s > (real)0)) return 0;
    real cs = (real)0;
    for (int i = 0; i < 3; ++i) {
        g->bp[i] = a[i] / s;
        cs += g->bp[i] > (real)0 ? g->bp[i] : (real)0;
    }
    g->z = (real)0;
    for (int i = 0; i < 3; ++i) {
        g->b[i] = (g->bp[i] > (real)0 ? g->bp[i] : (real)0) / cs;
        g->z += g->b[i] * F->z[i];
    }
    return g->z <= P->zfar;
}

/* Whether a fragment counts within a radius (squared NDC). */
PHIVE_HD int raster_within(const raster_fragment_geom *g, real radius) { return g->inside || g->dist < radius; }

/* The barycentric part of raster_fragment_backward: depth and clipped
 * barycentrics back to the screen vertices. */
PHIVE_HD void raster_fragment_bary_backward(const raster_face *F, real px, real py, const raster_fragment_geom *g,
                                            const real *gb_in, real gz, real gs[3][3])
{
    const real *u = F->u, *v = F->v, *z = F->z;
    /* z = Σ b_i z_i */
    real gb[3];
    for (int i = 0; i < 3; ++i) {
        gb[i] = gb_in[i] + gz * z[i];
        gs[i][2] += gz * g->b[i];
    }
    /* clip: b_i = c_i / Σ c, c_i = max(bp_i, 0) */
    real cs = (real)0, gbb = (real)0;
    for (int i = 0; i < 3; ++i) {
        cs += g->bp[i] > (real)0 ? g->bp[i] : (real)0;
        gbb += gb[i] * g->b[i];
    }
    real gbp[3];
    for (int i = 0; i < 3; ++i) gbp[i] = g->bp[i] > (real)0 ? (gb[i] - gbb) / cs : (real)0;
    /* perspective: bp_i = a_i / Σ a, a_i = w_i / z_i */
    real s = (real)0, gbpbp = (real)0;
    for (int i = 0; i < 3; ++i) {
        s += g->w[i] / z[i];
        gbpbp += gbp[i] * g->bp[i];
    }
    real gw[3];
    for (int i = 0; i < 3; ++i) {
        real ga = (gbp[i] - gbpbp) / s;
        gw[i] = ga / z[i];
        gs[i][2] += -ga * g->w[i] / (z[i] * z[i]);
    }
    /* screen: w_i = e_i / A with A = e_0 + e_1 + e_2 */
    real gww = gw[0] * g->w[0] + gw[1] * g->w[1] + gw[2] * g->w[2];
    for (int i = 0; i < 3; ++i) {
        real ge = (gw[i] - gww) * F->inv_area;
        int a = (i + 1) % 3, b = (i + 2) % 3;
        raster_edge_backward(ge, px, py, u[a], v[a], u[b], v[b], gs[a], gs[b]);
    }
}

/* Backward of raster_fragment: gradients of the clipped barycentrics (gb),
 * depth (gz) and signed distance (gdist) into the face's screen vertices
 * gs[3][3] = (u, v, z) per corner. */
PHIVE_HD void raster_fragment_backward(const raster_params *P, const raster_face *F, real px, real py,
                                       const raster_fragment_geom *g, const real *gb_in, real gz, real gdist,
                                       real gs[3][3])
{
    const real *u = F->u, *v = F->v;
    if (gb_in[0] != (real)0 || gb_in[1] != (real)0 || gb_in[2] != (real)0 || gz != (real)0)
        raster_fragment_bary_backward(F, px, py, g, gb_in, gz, gs);
    /* distance to the nearest edge: d² = |p − (a + t(b − a))|² */
    if (gdist != (real)0) {
        int a = g->edge, b = (g->edge + 1) % 3;
        real t = g->edge_t;
        real rx = px - (u[a] + t * (u[b] - u[a])), ry = py - (v[a] + t * (v[b] - v[a]));
        real gd2 = gdist * (g->inside ? -P->ndc2 : P->ndc2);
        gs[a][0] += gd2 * (real)-2 * ((real)1 - t) * rx;
        gs[a][1] += gd2 * (real)-2 * ((real)1 - t) * ry;
        gs[b][0] += gd2 * (real)-2 * t * rx;
        gs[b][1] += gd2 * (real)-2 * t * ry;
    }
}

/* ---- shading ----------------------------------------------------------------------- */

/* Bilinear texture lookup at uv (grid_sample, align_corners, border padding,
 * v flipped); optionally the derivatives of the colour w.r.t. u and v. */
PHIVE_HD void raster_texture_sample(const raster_mesh_view *M, real tu, real tv, real *rgb, real *drgb_du,
                                    real *drgb_dv)
{
    int W = M->tex_width, H = M->tex_height;
    real x = tu * (real)(W - 1), y = ((real)1 - tv) * (real)(H - 1);
    int x_in = x > (real)0 && x < (real)(W - 1), y_in = y > (real)0 && y < (real)(H - 1);
    x = x < (real)0 ? (real)0 : (x > (real)(W - 1) ? (real)(W - 1) : x);
    y = y < (real)0 ? (real)0 : (y > (real)(H - 1) ? (real)(H - 1) : y);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < W ? x0 + 1 : W - 1, y1 = y0 + 1 < H ? y0 + 1 : H - 1;
    real fx = x - (real)x0, fy = y - (real)y0;
    const real *t00 = M->texture + 3 * ((int64_t)y0 * W + x0), *t01 = M->texture + 3 * ((int64_t)y0 * W + x1);
    const real *t10 = M->texture + 3 * ((int64_t)y1 * W + x0), *t11 = M->texture + 3 * ((int64_t)y1 * W + x1);
    for (int c = 0; c < 3; ++c) {
        rgb[c] = ((real)1 - fy) * (((real)1 - fx) * t00[c] + fx * t01[c]) + fy * (((real)1 - fx) * t10[c] + fx * t11[c]);
        if (drgb_du) {
            real dx = ((real)1 - fy) * (t01[c] - t00[c]) + fy * (t11[c] - t10[c]);
            real dy = ((real)1 - fx) * (t10[c] - t00[c]) + fx * (t11[c] - t01[c]);
            drgb_du[c] = x_in ? dx * (real)(W - 1) : (real)0;
            drgb_dv[c] = y_in ? -dy * (real)(H - 1) : (real)0;
        }
    }
}

/* Scatter g (3) into the texture gradient through the bilinear weights at uv. */
PHIVE_HD void raster_texture_backward(const raster_mesh_view *M, real tu, real tv, const real *g, real *grad_texture)
{
    int W = M->tex_width, H = M->tex_height;
    real x = tu * (real)(W - 1), y = ((real)1 - tv) * (real)(H - 1);
    x = x < (real)0 ? (real)0 : (x > (real)(W - 1) ? (real)(W - 1) : x);
    y = y < (real)0 ? (real)0 : (y > (real)(H - 1) ? (real)(H - 1) : y);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < W ? x0 + 1 : W - 1, y1 = y0 + 1 < H ? y0 + 1 : H - 1;
    real fx = x - (real)x0, fy = y - (real)y0;
    real wts[4] = {((real)1 - fx) * ((real)1 - fy), fx * ((real)1 - fy), ((real)1 - fx) * fy, fx * fy};
    int64_t at[4] = {(int64_t)y0 * W + x0, (int64_t)y0 * W + x1, (int64_t)y1 * W + x0, (int64_t)y1 * W + x1};
    for (int k = 0; k < 4; ++k) {
        if (wts[k] == (real)0) continue;
        for (int c = 0; c < 3; ++c) PHIVE_ATOMIC_ADD(grad_texture + 3 * at[k] + c, wts[k] * g[c]);
    }
}

/* Texture coordinates of face f at barycentrics b. */
PHIVE_HD void raster_face_uv(const raster_mesh_view *M, int f, const real *b, real *tu, real *tv)
{
    const int32_t *ti = M->face_uvs + 3 * (int64_t)f;
    *tu = *tv = (real)0;
    for (int i = 0; i < 3; ++i) {
        *tu += b[i] * M->uvs[2 * (int64_t)ti[i]];
        *tv += b[i] * M->uvs[2 * (int64_t)ti[i] + 1];
    }
}

/* Albedo of face f at barycentrics b. */
PHIVE_HD void raster_albedo(const raster_mesh_view *M, int f, const real *b, real *albedo)
{
    const int32_t *idx = M->faces + 3 * (int64_t)f;
    if (M->texture) {
        real tu, tv;
        raster_face_uv(M, f, b, &tu, &tv);
        raster_texture_sample(M, tu, tv, albedo, NULL, NULL);
    } else if (M->vertex_colors) {
        for (int c = 0; c < 3; ++c)
            albedo[c] = b[0] * M->vertex_colors[3 * (int64_t)idx[0] + c] + b[1] * M->vertex_colors[3 * (int64_t)idx[1] + c] +
                        b[2] * M->vertex_colors[3 * (int64_t)idx[2] + c];
    } else {
        albedo[0] = albedo[1] = albedo[2] = (real)1;
    }
}

/* Backward of raster_albedo: gb (3) += ∂/∂b, and the colour sources' gradients. */
PHIVE_HD void raster_albedo_backward(const raster_mesh_view *M, int f, const real *b, const real *galbedo, real *gb,
                                     real *vgrad, real *grad_texture)
{
    const int32_t *idx = M->faces + 3 * (int64_t)f;
    if (M->texture) {
        const int32_t *ti = M->face_uvs + 3 * (int64_t)f;
        real tu, tv;
        raster_face_uv(M, f, b, &tu, &tv);
        real rgb[3], du[3], dv[3];
        raster_texture_sample(M, tu, tv, rgb, du, dv);
        real gu = raster_dot3(galbedo, du), gv = raster_dot3(galbedo, dv);
        for (int i = 0; i < 3; ++i) gb[i] += gu * M->uvs[2 * (int64_t)ti[i]] + gv * M->uvs[2 * (int64_t)ti[i] + 1];
        if (grad_texture) raster_texture_backward(M, tu, tv, galbedo, grad_texture);
    } else if (M->vertex_colors) {
        for (int i = 0; i < 3; ++i) {
            const real *col = M->vertex_colors + 3 * (int64_t)idx[i];
            gb[i] += raster_dot3(galbedo, col);
            if (vgrad)
                for (int c = 0; c < 3; ++c)
                    RASTER_PRIVATE_ADD(vgrad + RASTER_VGRAD * (int64_t)idx[i] + RASTER_VG_COLOR + c, b[i] * galbedo[c]);
        }
    }
}

/* Interpolate a per-vertex 3-vector array at barycentrics b of face f. */
PHIVE_HD void raster_interp3(const real *attr, const int32_t *idx, const real *b, real *out)
{
    for (int c = 0; c < 3; ++c)
        out[c] = b[0] * attr[3 * (int64_t)idx[0] + c] + b[1] * attr[3 * (int64_t)idx[1] + c] + b[2] * attr[3 * (int64_t)idx[2] + c];
}

/* The Phong terms at a fragment: everything the colour and its backward need. */
typedef struct {
    real point[3], n[3], l[3], view[3];
    real n_norm, l_norm, view_norm; /* |·| before normalising */
    real cos_nl, r_dot_v;
} raster_phong_terms;

PHIVE_HD void raster_phong_setup(const raster_params *P, const raster_mesh_view *M, int f, const real *b,
                                 raster_phong_terms *T)
{
    const int32_t *idx = M->faces + 3 * (int64_t)f;
    real N[3], L[3], V[3];
    raster_interp3(M->positions, idx, b, T->point);
    raster_interp3(M->normals, idx, b, N);
    T->n_norm = raster_normalize3(N, T->n);
    if (P->directional) {
        for (int c = 0; c < 3; ++c) T->l[c] = P->light[c];
        T->l_norm = (real)1;
    } else {
        for (int c = 0; c < 3; ++c) L[c] = P->light[c] - T->point[c];
        T->l_norm = raster_normalize3(L, T->l);
    }
    for (int c = 0; c < 3; ++c) V[c] = P->camera_center[c] - T->point[c];
    T->view_norm = raster_normalize3(V, T->view);
    T->cos_nl = raster_dot3(T->n, T->l);
    real r[3];
    for (int c = 0; c < 3; ++c) r[c] = -T->l[c] + (real)2 * T->cos_nl * T->n[c];
    T->r_dot_v = raster_dot3(r, T->view);
}

PHIVE_HD real raster_pow(real x, real e)
{
#ifdef PHIVE_REAL_DOUBLE
    return pow(x, e);
#else
    return powf(x, e);
#endif
}

/* Shaded colour of face f at barycentrics b. */
PHIVE_HD void raster_shade(const raster_params *P, const raster_mesh_view *M, int f, const real *b, real *color)
{
    real albedo[3];
    raster_albedo(M, f, b, albedo);
    if (!P->phong) {
        for (int c = 0; c < 3; ++c) color[c] = albedo[c] * P->ambient[c];
        return;
    }
    raster_phong_terms T;
    raster_phong_setup(P, M, f, b, &T);
    real diffuse = T.cos_nl > (real)0 ? T.cos_nl : (real)0;
    real spec = (T.cos_nl > (real)0 && T.r_dot_v > (real)0) ? raster_pow(T.r_dot_v, P->shininess) : (real)0;
    for (int c = 0; c < 3; ++c) color[c] = albedo[c] * (P->ambient[c] + P->diffuse[c] * diffuse) + P->specular[c] * spec;
}

/* Backward of raster_shade: gb (3) += ∂/∂b; vertex (position, normal, colour)
 * and texture gradients scattered. */
PHIVE_HD void raster_shade_backward(const raster_params *P, const raster_mesh_view *M, int f, const real *b,
                                    const real *gcolor, real *gb, real *vgrad, real *grad_texture)
{
    real galbedo[3];
    if (!P->phong) {
        for (int c = 0; c < 3; ++c) galbedo[c] = gcolor[c] * P->ambient[c];
        raster_albedo_backward(M, f, b, galbedo, gb, vgrad, grad_texture);
        return;
    }
    const int32_t *idx = M->faces + 3 * (int64_t)f;
    real albedo[3];
    raster_albedo(M, f, b, albedo);
    raster_phong_terms T;
    raster_phong_setup(P, M, f, b, &T);
    real diffuse = T.cos_nl > (real)0 ? T.cos_nl : (real)0;
    int lit = T.cos_nl > (real)0 && T.r_dot_v > (real)0;
    real gdiffuse = (real)0, gspec = (real)0;
    for (int c = 0; c < 3; ++c) {
        galbedo[c] = gcolor[c] * (P->ambient[c] + P->diffuse[c] * diffuse);
        gdiffuse += gcolor[c] * albedo[c] * P->diffuse[c];
        gspec += gcolor[c] * P->specular[c];
    }
    raster_albedo_backward(M, f, b, galbedo, gb, vgrad, grad_texture);
    real gcos = T.cos_nl > (real)0 ? gdiffuse : (real)0;
    real gn[3] = {0, 0, 0}, gl[3] = {0, 0, 0}, gview[3] = {0, 0, 0};
    if (lit) {
        /* spec = (r·v)^s with r = 2(n·l)n − l */
        real grv = gspec * P->shininess * raster_pow(T.r_dot_v, P->shininess - (real)1);
        real r[3];
        for (int c = 0; c < 3; ++c) r[c] = -T.l[c] + (real)2 * T.cos_nl * T.n[c];
        for (int c = 0; c < 3; ++c) {
            real gr = grv * T.view[c];
            gview[c] += grv * r[c];
            gl[c] -= gr;
            gn[c] += (real)2 * T.cos_nl * gr;
            gcos += (real)2 * gr * T.n[c];
        }
    }
    for (int c = 0; c < 3; ++c) {
        gn[c] += gcos * T.l[c];
        gl[c] += gcos * T.n[c];
    }
    real gN[3] = {0, 0, 0}, gpoint[3] = {0, 0, 0}, gV[3] = {0, 0, 0};
    raster_normalize3_backward(T.n, T.n_norm, gn, gN);
    raster_normalize3_backward(T.view, T.view_norm, gview, gV);
    for (int c = 0; c < 3; ++c) gpoint[c] -= gV[c];
    if (!P->directional) {
        real gL[3] = {0, 0, 0};
        raster_normalize3_backward(T.l, T.l_norm, gl, gL);
        for (int c = 0; c < 3; ++c) gpoint[c] -= gL[c];
    }
    for (int i = 0; i < 3; ++i) {
        const real *x = M->positions + 3 * (int64_t)idx[i];
        const real *nv = M->normals + 3 * (int64_t)idx[i];
        gb[i] += raster_dot3(gpoint, x) + raster_dot3(gN, nv);
        if (vgrad) {
            real *vg = vgrad + RASTER_VGRAD * (int64_t)idx[i];
            for (int c = 0; c < 3; ++c) {
                RASTER_PRIVATE_ADD(vg + RASTER_VG_POSITION + c, b[i] * gpoint[c]);
                RASTER_PRIVATE_ADD(vg + RASTER_VG_NORMAL + c, b[i] * gN[c]);
            }
        }
    }
}

/* ---- one pixel ----------------------------------------------------------------------- */

/* Insert fragment (face f, geometry g) into a depth-sorted list of at most K. */
PHIVE_HD void raster_topk_insert(int K, int *n, int *faces, raster_fragment_geom *geo, int f, const raster_fragment_geom *g)
{
    if (*n == K && !(g->z < geo[K - 1].z)) return;
    int at = *n < K ? (*n)++ : K - 1;
    while (at > 0 && geo[at - 1].z > g->z) {
        faces[at] = faces[at - 1];
        geo[at] = geo[at - 1];
        --at;
    }
    faces[at] = f;
    geo[at] = *g;
}

/* Blending weights of a pixel's fragments (softmax_rgb_blend). */
typedef struct {
    real D[RASTER_KMAX], w[RASTER_KMAX], zi[RASTER_KMAX];
    real m, delta, Z;
    int argmax;     /* fragment holding the max of zi, −1 when m is clamped */
    int delta_free; /* δ is exp((eps − m)/γ), not its clamp */
} raster_blend_terms;

PHIVE_HD void raster_blend_setup(const raster_params *P, int n, const real *zbuf, const real *dist, raster_blend_terms *B)
{
    real range = P->blend_zfar - P->blend_znear;
    B->m = RASTER_BLEND_EPS;
    B->argmax = -1;
    for (int k = 0; k < n; ++k) {
        B->D[k] = (real)1 / ((real)1 + REAL_EXP(dist[k] / P->sigma));
        B->zi[k] = (P->blend_zfar - zbuf[k]) / range;
        if (B->zi[k] > B->m) {
            B->m = B->zi[k];
            B->argmax = k;
        }
    }
    real e = REAL_EXP((RASTER_BLEND_EPS - B->m) / P->gamma);
    B->delta_free = e > RASTER_BLEND_EPS;
    B->delta = B->delta_free ? e : RASTER_BLEND_EPS;
    B->Z = B->delta;
    for (int k = 0; k < n; ++k) {
        B->w[k] = B->D[k] * REAL_EXP((B->zi[k] - B->m) / P->gamma);
        B->Z += B->w[k];
    }
}

/* Fragments, colours and blended outputs of pixel (x, y) from its candidate
 * faces; *keep_all is the all-faces Π(1 − D), kept for the backward (alpha
 * = 1 − it loses it to rounding where alpha is near 1). */
PHIVE_HD void raster_pixel_forward(const raster_params *P, const raster_mesh_view *M, const raster_face *faces,
                                   const int32_t *candidates, int n_candidates, int x, int y, int32_t *out_face,
                                   real *out_z, real *out_dist, real *out_bary, real *rgb, real *alpha,
                                   real *keep_all, uint8_t *silhouette, real *depth, real *normal)
{
    real px = (real)x + (real)0.5, py = (real)y + (real)0.5;
    int K = P->K, n = 0;
    int kf[RASTER_KMAX];
    raster_fragment_geom kg[RASTER_KMAX];
    int hard_face = -1; /* nearest face containing the pixel centre */
    raster_fragment_geom hard;
    real prod_all = (real)1;
    for (int c = 0; c < n_candidates; ++c) {
        int f = candidates[c];
        raster_fragment_geom g;
        if (!faces[f].valid || !raster_fragment(P, faces + f, px, py, &g)) continue;
        if (raster_within(&g, P->silhouette_radius))
            prod_all *= (real)1 / ((real)1 + REAL_EXP(-g.dist / P->sigma)); /* 1 − D */
        if (!raster_within(&g, P->blur_radius)) continue;
        raster_topk_insert(K, &n, kf, kg, f, &g);
        if (g.inside && (hard_face < 0 || g.z < hard.z)) {
            hard_face = f;
            hard = g;
        }
    }
    real colors[RASTER_KMAX][3];
    for (int k = 0; k < K; ++k) {
        if (k >= n) {
            out_face[k] = -1;
            out_z[k] = (real)-1;
            out_dist[k] = (real)-1;
            out_bary[3 * k] = out_bary[3 * k + 1] = out_bary[3 * k + 2] = (real)-1;
            continue;
        }
        out_face[k] = kf[k];
        out_z[k] = kg[k].z;
        out_dist[k] = kg[k].dist;
        for (int i = 0; i < 3; ++i) out_bary[3 * k + i] = kg[k].b[i];
        raster_shade(P, M, kf[k], kg[k].b, colors[k]);
    }
    raster_blend_terms B;
    raster_blend_setup(P, n, out_z, out_dist, &B);
    real prod = (real)1;
    for (int c = 0; c < 3; ++c) rgb[c] = B.delta * P->background[c];
    for (int k = 0; k < n; ++k) {
        prod *= (real)1 - B.D[k];
        for (int c = 0; c < 3; ++c) rgb[c] += B.w[k] * colors[k][c];
    }
    for (int c = 0; c < 3; ++c) rgb[c] /= B.Z;
    *alpha = (real)1 - (P->silhouette_all ? prod_all : prod);
    *keep_all = prod_all;
    *silhouette = (uint8_t)(hard_face >= 0);
    *depth = hard_face >= 0 ? hard.z : (real)0;
    normal[0] = normal[1] = normal[2] = (real)0;
    if (hard_face >= 0) {
        real N[3], nw[3];
        raster_interp3(M->normals, M->faces + 3 * (int64_t)hard_face, hard.b, N);
        raster_normalize3(N, nw);
        for (int r = 0; r < 3; ++r) normal[r] = P->R[3 * r] * nw[0] + P->R[3 * r + 1] * nw[1] + P->R[3 * r + 2] * nw[2];
    }
}

/* Scatter a face's screen-vertex gradient into the per-vertex blocks. */
PHIVE_HD void raster_scatter_screen(const raster_mesh_view *M, int f, real gs[3][3], real *vgrad)
{
    const int32_t *idx = M->faces + 3 * (int64_t)f;
    for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 3; ++c) RASTER_PRIVATE_ADD(vgrad + RASTER_VGRAD * (int64_t)idx[i] + RASTER_VG_SCREEN + c, gs[i][c]);
}

/* Backward of the all-faces soft silhouette alpha = 1 − Π(1 − D_j) of pixel
 * centre (px, py), given prod = Π(1 − D_j) from the forward:
 * ∂alpha/∂dist_k = −D_k Π_j (1 − D_j) / σ, so no division by a (1 − D_k)
 * that may be 0. */
PHIVE_HD void raster_silhouette_all_backward(const raster_params *P, const raster_mesh_view *M,
                                             const raster_face *faces, const int32_t *candidates, int n_candidates,
                                             real px, real py, real prod, real grad_alpha, real *vgrad)
{
    if (prod == (real)0) return;
    for (int c = 0; c < n_candidates; ++c) {
        int f = candidates[c];
        raster_fragment_geom g;
        if (!faces[f].valid || !raster_fragment(P, faces + f, px, py, &g) || !raster_within(&g, P->silhouette_radius))
            continue;
        real D = (real)1 / ((real)1 + REAL_EXP(g.dist / P->sigma));
        real gdist = -grad_alpha * D * prod / P->sigma;
        if (gdist == (real)0) continue;
        real gs[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
        real zero3[3] = {0, 0, 0};
        raster_fragment_backward(P, faces + f, px, py, &g, zero3, (real)0, gdist, gs);
        raster_scatter_screen(M, f, gs, vgrad);
    }
}

/* Backward of pixel (x, y) from dL/drgb (3, or NULL) and dL/dalpha, given the
 * fragments and keep_all raster_pixel_forward stored (and, for the all-faces
 * silhouette, the pixel's candidate faces). */
PHIVE_HD void raster_pixel_backward(const raster_params *P, const raster_mesh_view *M, const raster_face *faces,
                                    const int32_t *candidates, int n_candidates, int x, int y,
                                    const int32_t *frag_face, const real *frag_z, const real *frag_dist,
                                    const real *rgb, real keep_all, const real *grad_rgb, real grad_alpha,
                                    real *vgrad, real *grad_texture)
{
    real px = (real)x + (real)0.5, py = (real)y + (real)0.5;
    int n = 0;
    while (n < P->K && frag_face[n] >= 0) ++n;
    /* the all-faces silhouette reaches pixels without fragments too */
    if (P->silhouette_all && grad_alpha != (real)0)
        raster_silhouette_all_backward(P, M, faces, candidates, n_candidates, px, py, keep_all, grad_alpha, vgrad);
    if (n == 0) return;
    real ga = P->silhouette_all ? (real)0 : grad_alpha;
    raster_blend_terms B;
    raster_blend_setup(P, n, frag_z, frag_dist, &B);
    real g[3] = {0, 0, 0};
    if (grad_rgb)
        for (int c = 0; c < 3; ++c) g[c] = grad_rgb[c];
    real gdelta = (real)0;
    for (int c = 0; c < 3; ++c) gdelta += g[c] * (P->background[c] - rgb[c]) / B.Z;
    real gm = B.delta_free ? -gdelta * B.delta / P->gamma : (real)0;
    real prod = (real)1; /* Π (1 − D) over the K fragments */
    for (int k = 0; k < n; ++k) prod *= (real)1 - B.D[k];
    for (int k = 0; k < n; ++k) {
        int f = frag_face[k];
        raster_fragment_geom geo;
        raster_fragment(P, faces + f, px, py, &geo);
        real color[3], gcolor[3], gw = (real)0;
        raster_shade(P, M, f, geo.b, color);
        for (int c = 0; c < 3; ++c) {
            gw += g[c] * (color[c] - rgb[c]) / B.Z;
            gcolor[c] = g[c] * B.w[k] / B.Z;
        }
        real gb[3] = {0, 0, 0};
        if (B.w[k] != (real)0) raster_shade_backward(P, M, f, geo.b, gcolor, gb, vgrad, grad_texture);
        /* w_k = D_k exp((zi_k − m)/γ) */
        real gzi = gw * B.w[k] / P->gamma;
        gm -= gzi;
        real gdist = -gw * REAL_EXP((B.zi[k] - B.m) / P->gamma) * B.D[k] * ((real)1 - B.D[k]) / P->sigma;
        gdist -= ga * B.D[k] * prod / P->sigma;
        real gs[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
        raster_fragment_backward(P, faces + f, px, py, &geo, gb, -gzi / (P->blend_zfar - P->blend_znear), gdist, gs);
        raster_scatter_screen(M, f, gs, vgrad);
    }
    /* m = max_k zi_k moves with the fragment that holds it */
    if (B.argmax >= 0 && gm != (real)0) {
        int f = frag_face[B.argmax];
        raster_fragment_geom geo;
        raster_fragment(P, faces + f, px, py, &geo);
        real gs[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
        real zero3[3] = {0, 0, 0};
        raster_fragment_backward(P, faces + f, px, py, &geo, zero3, -gm / (P->blend_zfar - P->blend_znear), (real)0, gs);
        raster_scatter_screen(M, f, gs, vgrad);
    }
}

/* ---- vertices ---------------------------------------------------------------------------- */

/* World → screen (u, v, z) of one vertex. */
PHIVE_HD void raster_project(const real *R, const real *t, real fx, real fy, real cx, real cy, const real *x, real *s)
{
    real c[3];
    for (int r = 0; r < 3; ++r) c[r] = R[3 * r] * x[0] + R[3 * r + 1] * x[1] + R[3 * r + 2] * x[2] + t[r];
    s[0] = fx * c[0] / c[2] + cx;
    s[1] = fy * c[1] / c[2] + cy;
    s[2] = c[2];
}

/* dL/d(world position) of one vertex from its screen gradient: gx += Rᵀ ∂(u, v, z)/∂c. */
PHIVE_HD void raster_project_backward(const real *R, const real *t, real fx, real fy, const real *x, const real *gs,
                                      real *gx)
{
    real c[3];
    for (int r = 0; r < 3; ++r) c[r] = R[3 * r] * x[0] + R[3 * r + 1] * x[1] + R[3 * r + 2] * x[2] + t[r];
    real iz = (real)1 / c[2];
    real gc[3] = {gs[0] * fx * iz, gs[1] * fy * iz, gs[2] - gs[0] * fx * c[0] * iz * iz - gs[1] * fy * c[1] * iz * iz};
    for (int k = 0; k < 3; ++k) gx[k] += R[k] * gc[0] + R[3 + k] * gc[1] + R[6 + k] * gc[2];
}

/* Unnormalised normal of face f: (x1 − x0) × (x2 − x0). */
PHIVE_HD void raster_face_cross(const real *positions, const int32_t *idx, real *n)
{
    const real *x0 = positions + 3 * (int64_t)idx[0], *x1 = positions + 3 * (int64_t)idx[1], *x2 = positions + 3 * (int64_t)idx[2];
    real e1[3] = {x1[0] - x0[0], x1[1] - x0[1], x1[2] - x0[2]}, e2[3] = {x2[0] - x0[0], x2[1] - x0[1], x2[2] - x0[2]};
    n[0] = e1[1] * e2[2] - e1[2] * e2[1];
    n[1] = e1[2] * e2[0] - e1[0] * e2[2];
    n[2] = e1[0] * e2[1] - e1[1] * e2[0];
}

/* Backward of raster_face_cross: gradient g of the cross product into the three corners' gx (3 each). */
PHIVE_HD void raster_face_cross_backward(const real *positions, const int32_t *idx, const real *g, real gx[3][3])
{
    const real *x0 = positions + 3 * (int64_t)idx[0], *x1 = positions + 3 * (int64_t)idx[1], *x2 = positions + 3 * (int64_t)idx[2];
    real e1[3] = {x1[0] - x0[0], x1[1] - x0[1], x1[2] - x0[2]}, e2[3] = {x2[0] - x0[0], x2[1] - x0[1], x2[2] - x0[2]};
    /* g·(e1 × e2): ∂/∂e1 = e2 × g, ∂/∂e2 = g × e1 */
    real g1[3] = {e2[1] * g[2] - e2[2] * g[1], e2[2] * g[0] - e2[0] * g[2], e2[0] * g[1] - e2[1] * g[0]};
    real g2[3] = {g[1] * e1[2] - g[2] * e1[1], g[2] * e1[0] - g[0] * e1[2], g[0] * e1[1] - g[1] * e1[0]};
    for (int c = 0; c < 3; ++c) {
        gx[1][c] += g1[c];
        gx[2][c] += g2[c];
        gx[0][c] -= g1[c] + g2[c];
    }
}

#endif
