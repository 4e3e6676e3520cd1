/* simulate_job.c — the `simulate` job type (phive simulate CONFIG): a forward cloth
 * simulation written as one mesh per frame and an HDF5 trajectory (see cloth.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "phive/cloth_scene.h"
#include "phive/errors.h"
#include "phive/log.h"

static const cfg_spec simulate_schema[] = {
    {"cloth.mesh", CFG_STRING, "", 0, -1, NULL, "template OBJ/PLY (empty: a grid)"},
    {"cloth.material_space", CFG_CHOICE, "uv", 0, -1, "uv|xy", "material coordinates of a template: UVs × uv_scale or its (x, y)"},
    {"cloth.uv_scale", CFG_REAL, "1", 1e-6, 1e6, NULL, "metres per UV unit"},
    {"cloth.grid", CFG_INT, "20", 2, 2000, NULL, "grid: vertices along the width"},
    {"cloth.grid_rows", CFG_INT, "0", 0, 2000, NULL, "grid: vertices along the height (0: square cells)"},
    {"cloth.width", CFG_REAL, "0.5", 1e-4, 1e3, NULL, "grid width (m)"},
    {"cloth.height", CFG_REAL, "0.5", 1e-4, 1e3, NULL, "grid height (m)"},
    {"cloth.orientation", CFG_CHOICE, "horizontal", 0, -1, "horizontal|vertical", "grid plane: x–y, or x–z (hanging)"},
    {"cloth.center", CFG_STRING, "0,0,0", 0, -1, NULL, "grid centre x,y,z (m)"},
    CLOTH_SCENE_KEYS,
    {"sim.frames", CFG_INT, "50", 1, 1e6, NULL, "frames to simulate"},
    {"sim.gravity", CFG_STRING, "0,0,-9.8", 0, -1, NULL, "gravity x,y,z (m/s²)"},
    {"sim.wind", CFG_STRING, "0,0,0", 0, -1, NULL, "wind velocity x,y,z (m/s)"},
    {"handles.pin", CFG_CHOICE, "none", 0, -1, "none|corners2|corners4|edge", "pinned grid vertices: two top corners, all four, the top edge"},
    {"handles.shift", CFG_STRING, "0,0,0", 0, -1, NULL, "handles' displacement over the whole run x,y,z (m)"},
    {"handles.amplitude", CFG_STRING, "0,0,0", 0, -1, NULL, "handles' sinusoidal motion amplitude x,y,z (m)"},
    {"handles.period", CFG_REAL, "1", 1e-3, 1e6, NULL, "period of the sinusoidal motion (s)"},
    {"collision.enabled", CFG_BOOL, "false", 0, -1, NULL, "proximity penalties and impact zones"},
    {"collision.sphere", CFG_STRING, "", 0, -1, NULL, "a static sphere obstacle x,y,z,radius (empty: none)"},
    {"collision.floor", CFG_STRING, "", 0, -1, NULL, "a floor plane at this height z (empty: none)"},
    {"output.format", CFG_CHOICE, "obj", 0, -1, "obj|ply", "per-frame mesh format"},
    {"output.every", CFG_INT, "1", 1, 1e6, NULL, "write every N-th frame's mesh"},
    {NULL, 0, NULL, 0, 0, NULL, NULL},
};

typedef struct {
    cloth_scene scene;
    cloth_params params;
    cloth_sim *sim;
    double sphere[4];
    int has_sphere;
} simulation;

static void simulation_free(simulation *s)
{
    cloth_sim_free(s->sim);
    cloth_params_free(&s->params);
    cloth_scene_free(&s->scene);
}

static int build_mesh(simulation *s, const config *cfg)
{
    const char *path = config_str(cfg, "cloth.mesh");
    if (path[0]) {
        mesh m;
        if (mesh_read(path, &m)) return -1;
        const int space = !strcmp(config_str(cfg, "cloth.material_space"), "xy") ? CLOTH_SPACE_XY : CLOTH_SPACE_UV;
        int rc = cloth_mesh_build(&s->scene.mesh, &m, space, config_real(cfg, "cloth.uv_scale"), path);
        mesh_free(&m);
        return rc;
    }
    const int nx = (int)config_int(cfg, "cloth.grid");
    const double w = config_real(cfg, "cloth.width"), h = config_real(cfg, "cloth.height");
    int ny = (int)config_int(cfg, "cloth.grid_rows");
    if (!ny) ny = (int)lround((nx - 1) * h / w) + 1 < 2 ? 2 : (int)lround((nx - 1) * h / w) + 1;
    double c[3];
    if (config_reals(cfg, "cloth.center", 3, c)) return -1;
    const int vertical = !strcmp(config_str(cfg, "cloth.orientation"), "vertical");
    const double axis_u[3] = {1, 0, 0}, axis_v[3] = {0, vertical ? 0 : 1, vertical ? 1 : 0};
    return cloth_scene_grid(&s->scene, nx, ny, w, h, c, axis_u, axis_v);
}

static int add_obstacles(simulation *s, const config *cfg)
{
    if (config_str(cfg, "collision.sphere")[0]) {
        if (config_reals(cfg, "collision.sphere", 4, s->sphere)) return -1;
        if (!(s->sphere[3] > 0)) return err_set("collision.sphere: the radius must be positive");
        if (cloth_scene_add_sphere(&s->scene, s->sphere, s->sphere[3], (int)config_int(cfg, "collision.sphere_detail")))
            return -1;
        s->has_sphere = 1;
    }
    if (config_str(cfg, "collision.floor")[0]) {
        double z, point[3] = {0, 0, 0}, normal[3] = {0, 0, 1};
        if (config_reals(cfg, "collision.floor", 1, &z)) return -1;
        point[2] = z;
        if (cloth_scene_add_plane(&s->scene, point, normal, 100)) return -1;
    }
    return 0;
}

static int setup(simulation *s, const config *cfg)
{
    memset(s, 0, sizeof *s);
    cloth_scene_init(&s->scene);
    cloth_settings *st = &s->scene.settings;
    st->frames = (int)config_int(cfg, "sim.frames");
    st->collisions = config_bool(cfg, "collision.enabled");
    cloth_material mat;
    double wind[3], shift[3], amp[3];
    if (cloth_scene_configure(&s->scene, cfg, &mat) || config_reals(cfg, "sim.gravity", 3, st->gravity) ||
        config_reals(cfg, "sim.wind", 3, wind) || config_reals(cfg, "handles.shift", 3, shift) ||
        config_reals(cfg, "handles.amplitude", 3, amp) || build_mesh(s, cfg) ||
        cloth_scene_pin(&s->scene, config_str(cfg, "handles.pin")) || add_obstacles(s, cfg))
        return -1;
    if (st->n_obstacles && !st->collisions)
        return err_set("collision.sphere / collision.floor need collision.enabled = true");
    const cloth_mesh *m = &s->scene.mesh;
    if (cloth_params_alloc(&s->params, m->n_verts, st->frames, st->n_handles, 0)) return -1;
    cloth_params_set_material(&s->params, &mat);
    memcpy(s->params.wind, wind, sizeof wind);
    memcpy(s->params.x0, m->x_template, 3 * (size_t)m->n_verts * sizeof(double));
    const double period = config_real(cfg, "handles.period");
    for (int f = 0; f <= st->frames; ++f) {
        const double t = f * st->frame_time, frac = (double)f / st->frames;
        for (int k = 0; k < st->n_handles; ++k)
            for (int d = 0; d < 3; ++d)
                s->params.handles[3 * ((size_t)f * st->n_handles + k) + d] =
                    m->x_template[3 * s->scene.handles[k] + d] + frac * shift[d] + amp[d] * sin(2 * M_PI * t / period);
    }
    return cloth_sim_create(&s->sim, m, st);
}

/* Smallest clearance of the cloth's vertices from the sphere obstacle's surface (its
 * icosphere is inscribed: the plane distance to the nearest outside face bounds it). */
static double sphere_clearance(const simulation *s, const double *x)
{
    const cloth_obstacle_mesh *o = &s->scene.shapes[0];
    double worst = INFINITY;
    for (int i = 0; i < s->scene.mesh.n_verts; ++i) {
        double d = -INFINITY;
        for (int f = 0; f < o->n_faces; ++f) {
            const double *a = o->x0 + 3 * o->faces[3 * f], *b = o->x0 + 3 * o->faces[3 * f + 1],
                         *c = o->x0 + 3 * o->faces[3 * f + 2];
            double e1[3], e2[3], n[3];
            for (int k = 0; k < 3; ++k) e1[k] = b[k] - a[k], e2[k] = c[k] - a[k];
            n[0] = e1[1] * e2[2] - e1[2] * e2[1], n[1] = e1[2] * e2[0] - e1[0] * e2[2], n[2] = e1[0] * e2[1] - e1[1] * e2[0];
            const double ln = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
            d = fmax(d, ((x[3 * i] - a[0]) * n[0] + (x[3 * i + 1] - a[1]) * n[1] + (x[3 * i + 2] - a[2]) * n[2]) / ln);
        }
        worst = fmin(worst, d);
    }
    return worst;
}

static int write_frames(simulation *s, job_ctx *ctx)
{
    char dir[4200], path[4300];
    job_path(ctx, "frames", dir, sizeof dir);
    if (mkdir(dir, 0777) && errno != EEXIST) return err_set("%s: cannot create the frame directory", dir);
    const int every = (int)config_int(ctx->cfg, "output.every"), F = s->scene.settings.frames;
    const char *ext = config_str(ctx->cfg, "output.format");
    for (int f = 0; f <= F; f += every) {
        mesh m;
        if (cloth_mesh_to_mesh(&s->scene.mesh, cloth_sim_positions(s->sim, f), &m)) return -1;
        snprintf(path, sizeof path, "%s/frame_%04d.%s", dir, f, ext);
        int rc = mesh_write(path, &m);
        mesh_free(&m);
        if (rc) return -1;
    }
    const size_t n3 = 3 * (size_t)s->scene.mesh.n_verts;
    float *traj = malloc((size_t)(F + 1) * n3 * sizeof(float));
    float *faces = malloc(3 * (size_t)s->scene.mesh.n_faces * sizeof(float));
    if (!traj || !faces) {
        free(traj), free(faces);
        return err_set("out of memory for the trajectory");
    }
    for (int f = 0; f <= F; ++f) {
        const double *x = cloth_sim_positions(s->sim, f);
        for (size_t i = 0; i < n3; ++i) traj[f * n3 + i] = (float)x[i];
    }
    for (size_t i = 0; i < 3 * (size_t)s->scene.mesh.n_faces; ++i) faces[i] = (float)s->scene.mesh.faces[i];
    size_t tdims[3] = {(size_t)F + 1, (size_t)s->scene.mesh.n_verts, 3}, fdims[2] = {(size_t)s->scene.mesh.n_faces, 3};
    int rc = job_output_f32(ctx, "positions", traj, 3, tdims) || job_output_f32(ctx, "faces", faces, 2, fdims);
    free(traj), free(faces);
    return rc ? -1 : 0;
}

static int simulate_run(job_ctx *ctx)
{
    if (ctx->dist->group_rank != 0) return JOB_COMPLETE; /* one sequential rollout: the group leader runs it */
    simulation s;
    int rc = setup(&s, ctx->cfg);
    if (!rc) {
        log_info("%s: %d vertices, %d faces, %d handles, %d frames × %d substeps", ctx->id, s.scene.mesh.n_verts,
                 s.scene.mesh.n_faces, s.scene.settings.n_handles, s.scene.settings.frames, s.scene.settings.substeps);
        rc = cloth_rollout_forward(s.sim, &s.params, s.scene.settings.frames);
    }
    if (!rc) rc = write_frames(&s, ctx);
    if (!rc) {
        cloth_stats st;
        cloth_sim_stats(s.sim, &st);
        rc = metrics_set(&ctx->final, "forward_s", st.forward_s) ||
             metrics_set(&ctx->final, "ms_per_substep", 1e3 * st.forward_s / st.substeps) ||
             metrics_set(&ctx->final, "ksp_iterations_per_substep", (double)st.ksp_iterations / st.substeps) ||
             metrics_set(&ctx->final, "collision_s", st.collision_s);
        double clearance = INFINITY;
        for (int f = 0; !rc && s.has_sphere && f <= s.scene.settings.frames; ++f)
            clearance = fmin(clearance, sphere_clearance(&s, cloth_sim_positions(s.sim, f)));
        if (!rc && s.has_sphere) rc = metrics_set(&ctx->final, "min_sphere_clearance", clearance);
        log_info("%s: %.2f s (%.2f ms per substep, %.1f KSP iterations per solve)%s", ctx->id, st.forward_s,
                 1e3 * st.forward_s / st.substeps, (double)st.ksp_iterations / st.substeps,
                 s.has_sphere ? " (sphere clearance in min_sphere_clearance)" : "");
    }
    simulation_free(&s);
    return rc ? -1 : JOB_COMPLETE;
}

const job_type cloth_simulate_job = {
    .name = "simulate",
    .summary = "forward cloth simulation: per-frame meshes and the HDF5 trajectory",
    .schema = simulate_schema,
    .run = simulate_run,
};
