/* raster_scenes.h — small random scenes for the rasterizer's tests (header-only).
 *
 * A scene owns its arrays: a wavy grid of n × n vertices spanning about
 * [−1, 1]² around the origin (optionally textured with a random texture and
 * UVs, or with random vertex colours), seen by a look-at camera from
 * distance ~3 with a tilted up vector, so the grid fills most of a small
 * image and faces lie at different depths.
 */
#ifndef PHIVE_RASTER_SCENES_H
#define PHIVE_RASTER_SCENES_H

#include <stdlib.h>
#include <string.h>

#include "phive/raster.h"
#include "phive/rng.h"

typedef struct {
    raster_camera cam;
    raster_settings set;
    raster_mesh mesh;
    real *positions, *colors, *uvs, *texture;
    int32_t *faces, *face_uvs;
} scene;

enum { SCENE_TEXTURE = 1, SCENE_COLORS = 2 };

/* n × n grid, two triangles per cell (counter-clockwise seen from +z, the camera's side). */
static inline void scene_make(scene *s, int n, int width, int height, int colour_source, uint64_t seed)
{
    rng_t rng;
    rng_seed(&rng, seed, 0);
    memset(s, 0, sizeof *s);
    raster_settings_default(&s->set);
    int V = n * n, F = 2 * (n - 1) * (n - 1);
    s->positions = malloc(sizeof(real) * 3 * V);
    s->faces = malloc(sizeof(int32_t) * 3 * F);
    for (int j = 0; j < n; ++j)
        for (int i = 0; i < n; ++i) {
            real *p = s->positions + 3 * (j * n + i);
            p[0] = (real)(-1 + 2.0 * i / (n - 1) + 0.15 * (rng_uniform(&rng) - 0.5));
            p[1] = (real)(-0.8 + 1.6 * j / (n - 1) + 0.15 * (rng_uniform(&rng) - 0.5));
            p[2] = (real)(0.3 * sin(2.1 * p[0]) * cos(1.7 * p[1]) + 0.2 * (rng_uniform(&rng) - 0.5));
        }
    int f = 0;
    for (int j = 0; j + 1 < n; ++j)
        for (int i = 0; i + 1 < n; ++i) {
            int a = j * n + i, b = a + 1, c = a + n, d = c + 1;
            int32_t tri[6] = {a, b, d, a, d, c};
            memcpy(s->faces + 3 * f, tri, sizeof tri);
            f += 2;
        }
    s->mesh.n_vertices = V;
    s->mesh.n_faces = F;
    s->mesh.positions = s->positions;
    s->mesh.faces = s->faces;
    if (colour_source == SCENE_TEXTURE) {
        int tw = 9, th = 7;
        s->texture = malloc(sizeof(real) * 3 * tw * th);
        for (int k = 0; k < 3 * tw * th; ++k) s->texture[k] = (real)rng_uniform(&rng);
        s->uvs = malloc(sizeof(real) * 2 * V);
        s->face_uvs = malloc(sizeof(int32_t) * 3 * F);
        for (int k = 0; k < V; ++k) {
            s->uvs[2 * k] = (real)(0.05 + 0.9 * (k % n) / (n - 1.0) + 0.03 * rng_uniform(&rng));
            s->uvs[2 * k + 1] = (real)(0.05 + 0.9 * (k / n) / (n - 1.0) + 0.03 * rng_uniform(&rng));
        }
        memcpy(s->face_uvs, s->faces, sizeof(int32_t) * 3 * F);
        s->mesh.n_uvs = V;
        s->mesh.uvs = s->uvs;
        s->mesh.face_uvs = s->face_uvs;
        s->mesh.texture = s->texture;
        s->mesh.tex_width = tw;
        s->mesh.tex_height = th;
    } else if (colour_source == SCENE_COLORS) {
        s->colors = malloc(sizeof(real) * 3 * V);
        for (int k = 0; k < 3 * V; ++k) s->colors[k] = (real)rng_uniform(&rng);
        s->mesh.vertex_colors = s->colors;
    }
    double eye[3] = {0.4 * (rng_uniform(&rng) - 0.5), 0.4 * (rng_uniform(&rng) - 0.5), 3.0};
    double target[3] = {0, 0, 0}, up[3] = {0.2 * (rng_uniform(&rng) - 0.5), 1, 0};
    raster_camera_look_at(&s->cam, eye, target, up, 45.0, width, height);
}

static inline void scene_free(scene *s)
{
    free(s->positions);
    free(s->faces);
    free(s->colors);
    free(s->uvs);
    free(s->texture);
    free(s->face_uvs);
    memset(s, 0, sizeof *s);
}

#endif
