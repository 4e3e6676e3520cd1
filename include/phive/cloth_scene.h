/* cloth_scene.h — a cloth scene from parts (cloth module), shared by the jobs that simulate
 * (`simulate`, `synth_cloth`): a grid placed in space, handle vertices picked on its border,
 * static obstacles, and the simulator settings read from the config keys those jobs share.
 *
 * Grid placement: cloth_mesh_grid's nx × ny grid of width × height metres has material
 * coordinates (u, v) centred at 0; vertex (u, v) is placed at center + u·axis_u + v·axis_v
 * (axis_u, axis_v orthonormal), so its faces' normals (x1 − x0) × (x2 − x0) point along
 * axis_u × axis_v.  "Top" below means the largest material v.
 *
 * Shared keys (CLOTH_SCENE_KEYS, rows of both jobs' schemas): cloth.material, sim.frame_time,
 * sim.substeps, sim.damping, sim.air_density, sim.wind_drag, sim.stretch, sim.curvature,
 * sim.petsc, collision.self, collision.thickness, collision.stiffness, collision.sphere_detail.
 * cloth_scene_configure() turns them (and run.threads) into settings; frames, gravity, wind,
 * handles, obstacles and whether collisions are on are each job's own.
 *
 * Functions return 0 or −1 with err_set() naming the key or value at fault.
 */
#ifndef PHIVE_CLOTH_SCENE_H
#define PHIVE_CLOTH_SCENE_H

#include "phive/cloth.h"
#include "phive/cloth_collision.h"
#include "phive/config.h"

#define CLOTH_SCENE_MAX_OBSTACLES 2

#define CLOTH_SCENE_KEYS                                                                                                \
    {"cloth.material", CFG_STRING, "configs/materials/phisft-init.json", 0, -1, NULL, "ARCSim material file"},          \
    {"sim.frame_time", CFG_REAL, "0.04", 1e-6, 10, NULL, "seconds per frame"},                                          \
    {"sim.substeps", CFG_INT, "2", 1, 1000, NULL, "implicit steps per frame"},                                          \
    {"sim.air_density", CFG_REAL, "1", 0, 1e3, NULL, "ρ_air of the wind force (kg/m³)"},                                \
    {"sim.wind_drag", CFG_REAL, "0", 0, 1e3, NULL, "tangential drag coefficient of the wind force"},                    \
    {"sim.damping", CFG_REAL, "0", 0, 10, NULL, "stiffness-proportional damping (s)"},                                  \
    {"sim.stretch", CFG_CHOICE, "direct", 0, -1, "direct|table", "stretching stiffness: the model, or ARCSim's 30³ table"}, \
    {"sim.curvature", CFG_CHOICE, "clamp", 0, -1, "clamp|abs|arcsim", "how the bending curvature coordinate is limited"}, \
    {"sim.petsc", CFG_STRING, "", 0, -1, NULL, "PETSc options of the linear solver, e.g. -ksp_type cg -pc_type pbjacobi"}, \
    {"collision.self", CFG_BOOL, "true", 0, -1, NULL, "cloth–cloth collisions too"},                                    \
    {"collision.thickness", CFG_REAL, "5e-3", 1e-6, 1, NULL, "repulsion thickness (m)"},                                \
    {"collision.stiffness", CFG_REAL, "1e6", 0, 1e12, NULL, "penalty stiffness (× feature area)"},                      \
    {"collision.sphere_detail", CFG_INT, "3", 0, 6, NULL, "icosphere subdivisions of the sphere"}

typedef struct {
    cloth_mesh mesh;
    cloth_settings settings; /* handle_verts and obstacles point into this struct */
    int *handles;
    cloth_obstacle obstacles[CLOTH_SCENE_MAX_OBSTACLES];
    cloth_obstacle_mesh shapes[CLOTH_SCENE_MAX_OBSTACLES];
} cloth_scene;

/* Empty scene with cloth_settings_default(). */
void cloth_scene_init(cloth_scene *s);
void cloth_scene_free(cloth_scene *s);

/* Settings from the shared keys and run.threads; the material from cloth.material. */
int cloth_scene_configure(cloth_scene *s, const config *cfg, cloth_material *mat);

/* The placed grid (see above) as the scene's mesh. */
int cloth_scene_grid(cloth_scene *s, int nx, int ny, double width, double height, const double center[3],
                     const double axis_u[3], const double axis_v[3]);

/* Handles by pattern: "none", "corners2" (the two top corners), "corners4", "edge" (the top
 * row), by material coordinates (the mesh's extreme u and v). */
int cloth_scene_pin(cloth_scene *s, const char *pattern);
/* Handles: every vertex within `radius` of the material point u (at least one: the nearest). */
int cloth_scene_pin_near(cloth_scene *s, const double u[2], double radius);

/* Static obstacles (at most CLOTH_SCENE_MAX_OBSTACLES): an icosphere, a square plane. */
int cloth_scene_add_sphere(cloth_scene *s, const double center[3], double radius, int subdivisions);
int cloth_scene_add_plane(cloth_scene *s, const double point[3], const double normal[3], double half_size);

#endif
