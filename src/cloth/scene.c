/* scene.c — grids, handles, obstacles and shared settings of a cloth scene (see cloth_scene.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/cloth_scene.h"
#include "phive/errors.h"

void cloth_scene_init(cloth_scene *s)
{
    memset(s, 0, sizeof *s);
    cloth_settings_default(&s->settings);
}

void cloth_scene_free(cloth_scene *s)
{
    cloth_mesh_free(&s->mesh);
    free(s->handles);
    for (int k = 0; k < CLOTH_SCENE_MAX_OBSTACLES; ++k) cloth_obstacle_mesh_free(&s->shapes[k]);
    memset(s, 0, sizeof *s);
}

int cloth_scene_configure(cloth_scene *s, const config *cfg, cloth_material *mat)
{
    cloth_settings *st = &s->settings;
    st->frame_time = config_real(cfg, "sim.frame_time");
    st->substeps = (int)config_int(cfg, "sim.substeps");
    st->damping = config_real(cfg, "sim.damping");
    st->air_density = config_real(cfg, "sim.air_density");
    st->wind_drag = config_real(cfg, "sim.wind_drag");
    st->stretch_mode = !strcmp(config_str(cfg, "sim.stretch"), "table") ? CLOTH_STRETCH_TABLE : CLOTH_STRETCH_DIRECT;
    const char *curv = config_str(cfg, "sim.curvature");
    st->curvature_mode = !strcmp(curv, "abs") ? CLOTH_CURVATURE_ABS : !strcmp(curv, "arcsim") ? CLOTH_CURVATURE_ARCSIM
                                                                                              : CLOTH_CURVATURE_CLAMP;
    st->petsc_options = config_str(cfg, "sim.petsc");
    st->threads = (int)config_int(cfg, "run.threads");
    st->self_collisions = config_bool(cfg, "collision.self");
    st->thickness = config_real(cfg, "collision.thickness");
    st->collision_stiffness = config_real(cfg, "collision.stiffness");
    return cloth_material_load(config_str(cfg, "cloth.material"), NULL, mat);
}

int cloth_scene_grid(cloth_scene *s, int nx, int ny, double width, double height, const double center[3],
                     const double axis_u[3], const double axis_v[3])
{
    cloth_mesh_free(&s->mesh);
    if (cloth_mesh_grid(&s->mesh, nx, ny, width, height)) return -1;
    for (int i = 0; i < s->mesh.n_verts; ++i) {
        double *x = s->mesh.x_template + 3 * i;
        const double u = x[0], v = x[1];
        for (int k = 0; k < 3; ++k) x[k] = center[k] + u * axis_u[k] + v * axis_v[k];
    }
    return 0;
}

/* A fresh handle array with room for every vertex. */
static int handles_reset(cloth_scene *s)
{
    free(s->handles);
    s->settings.n_handles = 0;
    s->settings.handle_verts = s->handles = malloc((size_t)s->mesh.n_verts * sizeof(int));
    return s->handles ? 0 : err_set("out of memory for the handles of %d vertices", s->mesh.n_verts);
}

int cloth_scene_pin(cloth_scene *s, const char *pattern)
{
    const int corners2 = !strcmp(pattern, "corners2"), corners4 = !strcmp(pattern, "corners4"),
              edge = !strcmp(pattern, "edge");
    if (!strcmp(pattern, "none")) return 0;
    if (!corners2 && !corners4 && !edge) return err_set("unknown pin pattern '%s' (none|corners2|corners4|edge)", pattern);
    const cloth_mesh *m = &s->mesh;
    double umin = INFINITY, umax = -INFINITY, vmin = INFINITY, vmax = -INFINITY;
    for (int i = 0; i < m->n_verts; ++i) {
        umin = fmin(umin, m->u[2 * i]), umax = fmax(umax, m->u[2 * i]);
        vmin = fmin(vmin, m->u[2 * i + 1]), vmax = fmax(vmax, m->u[2 * i + 1]);
    }
    const double tol = 1e-9 * (umax - umin + vmax - vmin);
    if (handles_reset(s)) return -1;
    int n = 0;
    for (int i = 0; i < m->n_verts; ++i) {
        const double u = m->u[2 * i], v = m->u[2 * i + 1];
        const int top = v > vmax - tol, bottom = v < vmin + tol, side = u < umin + tol || u > umax - tol;
        if ((corners2 && top && side) || (corners4 && (top || bottom) && side) || (edge && top)) s->handles[n++] = i;
    }
    s->settings.n_handles = n;
    return 0;
}

int cloth_scene_pin_near(cloth_scene *s, const double u[2], double radius)
{
    const cloth_mesh *m = &s->mesh;
    if (handles_reset(s)) return -1;
    int n = 0, nearest = 0;
    double best = INFINITY;
    for (int i = 0; i < m->n_verts; ++i) {
        const double d = hypot(m->u[2 * i] - u[0], m->u[2 * i + 1] - u[1]);
        if (d <= radius) s->handles[n++] = i;
        if (d < best) best = d, nearest = i;
    }
    if (!n && m->n_verts) s->handles[n++] = nearest;
    s->settings.n_handles = n;
    return 0;
}

/* Register shapes[k] (just built) as a static obstacle. */
static void obstacle_add(cloth_scene *s, int k)
{
    const cloth_obstacle_mesh *o = &s->shapes[k];
    s->obstacles[k] = (cloth_obstacle){o->n_verts, o->n_faces, o->faces, o->x0, 0};
    s->settings.n_obstacles = k + 1;
    s->settings.obstacles = s->obstacles;
}

int cloth_scene_add_sphere(cloth_scene *s, const double center[3], double radius, int subdivisions)
{
    const int k = s->settings.n_obstacles;
    if (k >= CLOTH_SCENE_MAX_OBSTACLES) return err_set("a cloth scene holds at most %d obstacles", CLOTH_SCENE_MAX_OBSTACLES);
    if (cloth_obstacle_mesh_sphere(&s->shapes[k], center, radius, subdivisions)) return -1;
    obstacle_add(s, k);
    return 0;
}

int cloth_scene_add_plane(cloth_scene *s, const double point[3], const double normal[3], double half_size)
{
    const int k = s->settings.n_obstacles;
    if (k >= CLOTH_SCENE_MAX_OBSTACLES) return err_set("a cloth scene holds at most %d obstacles", CLOTH_SCENE_MAX_OBSTACLES);
    if (cloth_obstacle_mesh_plane(&s->shapes[k], point, normal, half_size)) return -1;
    obstacle_add(s, k);
    return 0;
}
