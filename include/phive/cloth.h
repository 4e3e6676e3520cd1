/* cloth.h — the differentiable cloth simulator (cloth module): ϕ-SfT's
 * deformation model, the Wang et al. material on ARCSim's linearised
 * backward Euler, with an exact adjoint.  Double precision in every build.
 *
 * Mesh (cloth_mesh)
 *   Triangles (OBJ quads arrive fan-triangulated) with per-vertex material
 *   coordinates u (metres): the OBJ's UVs × uv_scale, or the template's
 *   (x, y) when it lies flat.  Rest data: per face Dm⁻¹ and area A_f, per
 *   vertex the lumped area ⅓ΣA_f (mass = density × it), per interior edge
 *   (hinge) the vertices (x0, x1 | x2, x3) with faces (x0, x1, x2) and
 *   (x1, x0, x3) (consistently oriented), rest length l, A0 + A1, the edge in
 *   material space and the rest angle θ̄ = 0 (flat material space).
 *
 * Parameters (cloth_params; the same struct holds their gradients)
 *   density (kg/m²), stretching (6×4, N/m) and bending (3×5, N·m) entries
 *   as in cloth_material.h, wind (3, m/s), the initial state x0, v0
 *   (n × 3), corrective velocities c (frames × n × 3, may be NULL) and the
 *   handle positions at frame boundaries (frames + 1) × n_handles × 3.
 *
 * One substep (h = frame_time / substeps), frame f, substep s
 *   1. v' = v + c[f]/substeps                           (ϕ-SfT's correctives)
 *   2. A Δv = b with
 *        A = M + h(h + d)·H_int(x) + h²·H_prox
 *        b = h·(M g + f_wind(x, v') − ∇E_int(x) − (h + d)·H_int(x) v'
 *               + f_prox(x) − h·H_prox v')
 *      M = diag(mass), d = damping (ARCSim's stiffness-proportional
 *      material damping), E_int the stretching and bending energies with
 *      the stiffnesses evaluated at the current strain and curvature and
 *      held constant in ∇E and H (ARCSim), H_int ARCSim's Gauss–Newton-like
 *      Hessians (kernels/cloth_material.h), f_wind ARCSim's face wind
 *      (ρ_air·A|v_n|v_n n + drag·A(v_rel − v_n n), A the rest area, n the
 *      current normal, v_rel = wind − mean face velocity, ⅓ per vertex,
 *      explicit), and the proximity penalties of the collision module
 *      (pairs closer than the thickness, ½k·g² with the pair's normal and
 *      weights held fixed in the step).
 *      Handle vertices are Dirichlet rows: Δv_i = (p_i − x_i)/h − v'_i with
 *      p_i the handle position at the end of the substep (linear between
 *      frame keys), so the vertex lands exactly on its handle.
 *      A is assembled as 3×3 blocks and solved by a PETSc KSP (MATSEQBAIJ;
 *      CG with point-block Jacobi by default; any PETSc solver through
 *      cloth_settings.petsc_options).
 *   3. v'' = v' + Δv, x'' = x + h·v''.
 *   4. Impact zones (collision module): x_out = P(x, x''), v_out = v'' +
 *      (x_out − x'')/h.  (Skipped without collisions.)
 *
 * Adjoint (cloth_rollout_backward)
 *   Reverse mode through exactly the steps above: λ solves A λ = ∂L/∂Δv
 *   with the same KSP (A is symmetric; λ = 0 on handle rows); the
 *   dependence of A and b on x (the third-derivative contractions
 *   ∂ₓ[λᵀ∇E] and ∂ₓ[λᵀ H v'']) is taken element by element by central finite
 *   differences of the element's scalar λᵀ(−∇E_e) − (h + d)λᵀH_e v'' over
 *   its 9 or 12 coordinates (step 1e-6 × the element's rest size; error
 *   ~1e-10 relative, proven by the rollout gradient checks), the stiffness
 *   dependence on the strain included; wind analytically; parameters
 *   (density, the 24 + 15 table entries, wind, handles, correctives, x0, v0)
 *   exactly.  Proximity pairs keep their normals and weights fixed; impact
 *   zones are differentiated as Liang et al. 2019.
 *   Memory: every substep's record is kept when it fits in
 *   record_limit_mb; otherwise only the frame states are stored and each
 *   frame's substeps are recomputed from its start state during the
 *   backward (checkpointing per frame).
 *
 * Functions return 0 or −1 with err_set().
 */
#ifndef PHIVE_CLOTH_H
#define PHIVE_CLOTH_H

#include <stddef.h>

#include "phive/cloth_material.h"
#include "phive/job.h"
#include "phive/mesh.h"

typedef struct {
    int n_verts, n_faces, n_hinges;
    int *faces;              /* 3 × n_faces */
    double *x_template;      /* 3 × n_verts: the template's positions */
    double *u;               /* 2 × n_verts: material coordinates (m) */
    double *face_dinv;       /* 4 × n_faces: Dm⁻¹, row-major */
    double *face_area;       /* n_faces: rest area */
    double *vert_area;       /* n_verts: lumped rest area */
    int *hinges;             /* 4 × n_hinges: x0, x1 (the edge), x2, x3 (the wing tips) */
    double *hinge_len;       /* rest edge length */
    double *hinge_area;      /* A0 + A1 */
    double *hinge_du;        /* 2 × n_hinges: x1 − x0 in material space */
    double *hinge_theta_rest;
} cloth_mesh;

enum cloth_material_space { CLOTH_SPACE_UV = 0, CLOTH_SPACE_XY = 1 };

/* Build from a triangle mesh: material space from its UVs × uv_scale (one UV per vertex; seams are
 * an error) or from (x, y) of its positions.  `what` names the mesh in messages. */
int cloth_mesh_build(cloth_mesh *cm, const mesh *m, int space, double uv_scale, const char *what);
/* A rectangular nx × ny vertex grid of size w × h metres in the z = 0 plane, centred at the
 * origin, material space = (x, y), alternating diagonals. */
int cloth_mesh_grid(cloth_mesh *cm, int nx, int ny, double width, double height);
void cloth_mesh_free(cloth_mesh *cm);
/* The mesh with the given positions (n_verts × 3) as a phive mesh (float), for writing. */
int cloth_mesh_to_mesh(const cloth_mesh *cm, const double *x, mesh *out);

typedef struct {
    double density;
    double stretching[CLOTH_STRETCH_ENTRIES];
    double bending[CLOTH_BEND_ENTRIES];
    double wind[3];
    double *x0, *v0;       /* n_verts × 3 */
    double *correctives;   /* frames × n_verts × 3, or NULL */
    double *handles;       /* (frames + 1) × n_handles × 3, or NULL without handles */
    int n_verts, frames, n_handles;
} cloth_params;

/* Allocate the arrays (zeroed); with_correctives 0 leaves correctives NULL. */
int cloth_params_alloc(cloth_params *p, int n_verts, int frames, int n_handles, int with_correctives);
void cloth_params_free(cloth_params *p);
/* Zero every value (a gradient before accumulation). */
void cloth_params_zero(cloth_params *p);
/* Material entries from a loaded material; x0 = the template; handles keep their vertices still. */
void cloth_params_set_material(cloth_params *p, const cloth_material *m);

/* A static or moving obstacle: a triangle mesh with positions per frame boundary. */
typedef struct {
    int n_verts, n_faces;
    int *faces;       /* 3 × n_faces */
    double *x;        /* (frames + 1) × n_verts × 3, or n_verts × 3 when static */
    int moving;
} cloth_obstacle;

typedef struct {
    double frame_time;      /* s per frame (ARCSim's demos: 0.04) */
    int substeps;           /* per frame (2) */
    int frames;             /* frames the parameters cover */
    double gravity[3];      /* m/s² */
    double damping;         /* stiffness-proportional damping (s) */
    double air_density;     /* ρ_air (1 kg/m³) */
    double wind_drag;       /* ARCSim's drag coefficient (0) */
    int stretch_mode;       /* enum cloth_stretch_mode */
    int curvature_mode;     /* enum cloth_curvature_mode */
    int n_handles;
    const int *handle_verts; /* n_handles vertex indices */
    int collisions;         /* 0: none; 1: proximity penalties and impact zones */
    double thickness;       /* collision thickness (m) */
    double collision_stiffness;
    int self_collisions;
    int n_obstacles;
    const cloth_obstacle *obstacles;
    const char *petsc_options; /* e.g. "-ksp_type cg -pc_type pbjacobi -ksp_rtol 1e-10", or NULL */
    double record_limit_mb; /* keep every substep's record below this, else recompute per frame */
    int threads;            /* OpenMP threads for the element loops (0 = default) */
} cloth_settings;

/* ARCSim's demo defaults: 0.04 s frames, 2 substeps, gravity (0, 0, −9.8), no damping,
 * ρ_air 1, drag 0, direct stiffness, curvature clamp, no collisions (thickness 5e-3,
 * stiffness 1e6 when enabled), record limit 1024 MiB. */
void cloth_settings_default(cloth_settings *s);

typedef struct cloth_sim cloth_sim;

/* The mesh and settings must outlive the simulator. */
int cloth_sim_create(cloth_sim **out, const cloth_mesh *mesh, const cloth_settings *s);
void cloth_sim_free(cloth_sim *sim);

/* Simulate frames 0 … n_frames (n_frames ≤ settings.frames) from p->x0, p->v0.  The frame
 * states stay in the simulator for the backward and for cloth_sim_state. */
int cloth_rollout_forward(cloth_sim *sim, const cloth_params *p, int n_frames);
/* Positions and velocities (n_verts × 3) at frame f of the last forward (0 ≤ f ≤ n_frames). */
const double *cloth_sim_positions(const cloth_sim *sim, int f);
const double *cloth_sim_velocities(const cloth_sim *sim, int f);

/* Reverse mode of the last forward: grad_x and grad_v ((n_frames + 1) × n_verts × 3; grad_v may be
 * NULL) are ∂L/∂(positions, velocities) per frame; accumulates ∂L/∂params into g (shaped like p). */
int cloth_rollout_backward(cloth_sim *sim, const cloth_params *p, const double *grad_x, const double *grad_v,
                           cloth_params *g);

/* Timing and counters of the last forward / backward. */
typedef struct {
    double forward_s, backward_s, assemble_s, solve_s, adjoint_elements_s, collision_s;
    long ksp_iterations, substeps, recomputed_substeps;
} cloth_stats;
void cloth_sim_stats(const cloth_sim *sim, cloth_stats *out);

/* Total internal + gravitational potential + kinetic energy of a state (NaN when p's
 * stretching is not finite); the stiffness table, if used, is rebuilt from p. */
double cloth_energy(cloth_sim *sim, const cloth_params *p, const double *x, const double *v);
/* Net force on each vertex at x (internal + gravity + wind at velocity v), n_verts × 3. */
int cloth_forces(cloth_sim *sim, const cloth_params *p, const double *x, const double *v, double *f);

/* The `simulate` job type (src/cloth/simulate_job.c and the keys it shares with synth_cloth in
 * cloth_scene.h). */
extern const job_type cloth_simulate_job;

#endif
