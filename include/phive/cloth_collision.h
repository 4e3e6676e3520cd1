/* cloth_collision.h — cloth collisions as ARCSim does them (and ϕ-SfT through the
 * differentiable ARCSim): proximity (repulsion) constraints for the implicit step,
 * Harmon et al. 2008 impact zones after it, and the Liang et al. 2019 backward of the
 * zone projection through a QR decomposition of the zone's constraint matrix.
 * The per-pair math (continuous collision detection, closest points, the penalty
 * energy) is PHIVE_HD static inline in kernels/cloth_collision.h, which includes this.
 *
 * Data: plain arrays, double precision like the whole cloth module.  Cloth positions x[3·v + axis], triangles
 * faces[3·f + k], masses m[v].  A vertex is immovable (infinite mass) when m ≤ 0 or
 * pinned[v] ≠ 0.  Obstacles are triangle meshes with positions at the start (x0) and
 * the end (x1) of the substep (equal for a static obstacle; rigid motion assumed for
 * the feature areas, which are taken once from the positions given at build).  In
 * every 4-vertex record a vertex id v ≥ 0 is a cloth vertex and v < 0 is obstacle
 * vertex −1 − v.  Pair types (slots): vertex–face (vertex, face0..2), edge–edge
 * (edge a0, a1, edge b0, b1); cloth–cloth vertex–face (vertex not in the face) and
 * edge–edge (no shared vertex), cloth vertex–obstacle face, obstacle vertex–cloth
 * face, cloth edge–obstacle edge (the cloth–cloth ones only with
 * options.self_collisions).  Candidates come from BVHs over the (swept) boxes of
 * vertices, faces and edges.
 *
 * 1. Proximity (repulsion) constraints, for the implicit step as penalty forces.
 *   cloth_proximity_find() takes the positions x at the start of the step (obstacle at
 *   x0) and returns every pair closer than 2τ (τ = options.repulsion_thickness; 2τ is
 *   ARCSim's search radius dmin) as a cloth_contact {v[4], w[4], n, offset}:
 *     Σ_i w_i x_i is the separation vector of the closest points, n the unit normal
 *     pointing from the second feature to the first (w = (1, −b0, −b1, −b2) for
 *     vertex–face with the face's barycentric coordinates b; (1 − s, s, −(1 − u), −u)
 *     for edge–edge), and the constraint value is
 *       g(x) = Σ_{cloth slots i} w_i n·x_i + offset,
 *       offset = Σ_{obstacle slots i} w_i n·o_i − τ   (o: the obstacle at x1, the end of
 *                                                      the substep the step solves for).
 *   g is linear in x: n and w are held constant within a step; that linear g is what
 *   the simulator differentiates.  Pairs are kept as ARCSim's proximity.cpp keeps them:
 *   a vertex–face pair only when the vertex projects inside the face (barycentric
 *   ≥ −1e-6), an edge–edge pair only when the closest points of the two lines lie in
 *   both edges (and the edges are not parallel); then, per cloth vertex and side, the
 *   nearest face; per cloth face and side, the nearest vertex; per cloth edge and
 *   side, the nearest edge (side: whether the other feature lies along or against the
 *   feature's normal).  A pair that wins several of these is listed once (ARCSim lists
 *   it once per win).  ARCSim's boundary vertex–edge half-cylinder constraints and
 *   its in_wedge test for edges are not done.
 *   Energy per contact (kernels: cloth_contact_energy), with v = max(−g, 0):
 *     CLOTH_PENALTY_QUADRATIC (default): E = ½k v², ∇E = −k v·(w_i n)_i,
 *       H = k (w wᵀ) ⊗ (n nᵀ) while g < 0;
 *     CLOTH_PENALTY_ARCSIM: ARCSim 0.3.1's IneqCon::energy, E = k v³/(6τ),
 *       ∇E = −k v²/(2τ)·(w_i n)_i, H = (k v/τ)(w wᵀ) ⊗ (n nᵀ)  (H depends on x: the
 *       kernels' cloth_contact_penalty gives d³E/dg³ for the adjoint).
 *   k = options.stiffness (1e6, ARCSim's collision_stiffness), times min(area of the
 *   two features) as ARCSim's make_constraint does when the cloth's rest face areas
 *   were given to cloth_collision_create (vertex: ⅓ of its faces' areas, edge: ⅓ of
 *   its one or two faces', face: its own; obstacle features: from the obstacle's
 *   geometry at build); plain k when they were not.  Obstacle slots have zero gradient
 *   and Hessian (the obstacle is prescribed).
 *
 * 2. Impact zones (cloth_collide), after the simulator proposes end positions x1 from
 *   collision-free start positions x0.  Repeated until a pass finds nothing
 *   (options.max_iterations passes at most):
 *   a. detect on x0 → x (x = x1 at first, then the projected positions): continuous
 *      collision detection per pair (the coplanarity cubic, solved on [0, 1] by
 *      bracketing between its critical points and bisection, degenerate and
 *      near-zero coefficients included; a root counts when the pair's distance there
 *      is < 1e-6 of its size and the point lies in the face / both edges, tolerance
 *      1e-6, parallel edges excepted), giving the earliest impact's n (face normal or
 *      edge cross product at the time of impact, oriented against the pair's relative
 *      motion) and w (barycentric weights there); and, for the pairs that do not cross,
 *      end proximity: closest points at x closer than (1 − 1e-2)·τ_p (τ_p =
 *      options.projection_thickness, ARCSim's 1e-4), n along the separation at x;
 *   b. keep independent impacts (earliest first, no shared movable vertex; ARCSim's
 *      independent_impacts), add each as a constraint g_k(x) = n_k·Σ_i w_ki x_i − τ_p
 *      ≥ 0 (n, w fixed; immovable vertices, at x1 or the obstacle's x1, go into the
 *      constant), and merge zones that share a movable vertex;
 *   c. project every zone that changed, from x1:
 *        x* = argmin ½ Σ_i m_i ‖x_i − x1_i‖²  s.t.  G x ≥ d  (the zone's constraints),
 *      the active set chosen by a dual active-set loop (Goldfarb–Idnani), then solved
 *      exactly on it: with A = G_W M^{-1/2} and Aᵀ = QR (LAPACK dgeqrf),
 *        x* = x1 + M^{-1/2} Q R^{-T} (d_W − G_W x1) = x1 + M⁻¹ G_Wᵀ λ,  λ = R⁻¹R^{-T}(d_W − G_W x1) ≥ 0.
 *   A later pass re-tests only the pairs with a vertex the projections moved (the others'
 *   results cannot change), and starts each grown zone's active-set loop from the union of
 *   its parts' active sets.
 *   On return every non-adjacent pair is at least (1 − 1e-2)·τ_p apart and no pair
 *   crossed during x0 → x_out (up to the rounding of `double`).  Vertices in no zone keep
 *   x1 bit for bit.  Pairs of immovable vertices only are not tested.
 *   The record (cloth_impact_record) holds each final zone's active constraints with
 *   their w, n and the masses of their vertices: everything the backward needs.
 *
 * 3. Backward (Liang et al. 2019), n, w and the constraint set held fixed:
 *     dL/dx1_free += g − M^{1/2} Q Qᵀ M^{-1/2} g      (g = dL/dx* of the zone's free vertices),
 *     dL/dx1_imm  += g_imm − G_immᵀ R⁻¹ Qᵀ M^{-1/2} g  (pinned cloth vertices of the zone),
 *     dL/do1      += − G_obsᵀ R⁻¹ Qᵀ M^{-1/2} g         (obstacle vertices, optional),
 *   i.e. (I − M⁻¹Gᵀ(GM⁻¹Gᵀ)⁻¹G)ᵀ for the free vertices, with the same QR recomputed
 *   from the record; every other vertex passes dL/dx* through.  Nothing flows to x0:
 *   the constraints' dependence on x0 and x1 through the time of impact is ignored
 *   (as n, w and d are held fixed).  Accumulates (+=), as every backward in phive.
 *
 * Units: SI (metres, kg).  Functions return 0 or −1 with err_set(); sizes, indices and
 * NaN/Inf inputs are checked.  No global state: a cloth_collision holds the cloth's
 * topology and options and is read-only after creation (calls may share it); each call
 * allocates its own scratch.
 */
#ifndef PHIVE_CLOTH_COLLISION_H
#define PHIVE_CLOTH_COLLISION_H


enum cloth_pair_type {
    CLOTH_PAIR_VF = 0,     /* cloth vertex – cloth face */
    CLOTH_PAIR_EE = 1,     /* cloth edge – cloth edge */
    CLOTH_PAIR_VF_OBS = 2, /* cloth vertex – obstacle face */
    CLOTH_PAIR_FV_OBS = 3, /* obstacle vertex – cloth face (slot 0 is the obstacle vertex) */
    CLOTH_PAIR_EE_OBS = 4, /* cloth edge – obstacle edge (slots 2, 3 are the obstacle's) */
};

enum cloth_penalty {
    CLOTH_PENALTY_QUADRATIC = 0, /* E = ½k·min(g, 0)² */
    CLOTH_PENALTY_ARCSIM = 1,    /* E = k·max(−g, 0)³/(6τ), ARCSim 0.3.1 */
};

typedef struct {
    double repulsion_thickness;  /* τ of the proximity constraints, m (5e-3, ARCSim's demos) */
    double stiffness;            /* k, ARCSim's collision_stiffness (1e6); × feature area when known */
    int penalty;               /* enum cloth_penalty (QUADRATIC) */
    double projection_thickness; /* τ_p the impact zones enforce, m (1e-4, ARCSim's magic) */
    int max_iterations;        /* detection passes of cloth_collide (100, as ARCSim) */
    int self_collisions;       /* 1: cloth–cloth pairs too (default); 0: cloth–obstacle pairs only */
} cloth_collision_options;

/* A proximity constraint (see 1.): g(x) = Σ_{v_i ≥ 0} w_i n·x_{v_i} + offset. */
typedef struct {
    int v[4];       /* ≥ 0 cloth vertex, < 0 obstacle vertex −1 − v */
    double w[4];      /* Σ w_i x_i = separation vector */
    double n[3];      /* unit normal, held constant within the step */
    double offset;    /* obstacle slots' Σ w_i n·o_i − τ */
    double stiffness; /* k (area-scaled when areas are known) */
    double thickness; /* τ (the ARCSim penalty divides by it) */
    int type;       /* enum cloth_pair_type */
    int penalty;    /* enum cloth_penalty */
} cloth_contact;

typedef struct {
    cloth_contact *c;
    int n, capacity;
} cloth_contact_list; /* zero-initialise; cloth_contact_list_free() */

/* An impact-zone constraint: n·Σ_i w_i x_i ≥ τ_p, the immovable slots (mass 0) at
 * their x1 (cloth) or the obstacle's x1. */
typedef struct {
    int v[4];     /* as in cloth_contact */
    double w[4];
    double n[3];
    double mass[4]; /* the vertex's mass; 0: cannot move (obstacle, pinned, m ≤ 0) */
} cloth_zone_constraint;

/* Each zone's active constraints after cloth_collide (what the backward needs). */
typedef struct {
    int n_verts, n_obs_verts; /* sizes of the forward's x1 and obstacle */
    double thickness;           /* τ_p */
    int n_zones, n_con;
    int *zone_start;            /* n_zones + 1 offsets into con */
    cloth_zone_constraint *con; /* zone after zone */
    int zone_capacity, con_capacity;
} cloth_impact_record; /* zero-initialise; cloth_impact_record_free() */

typedef struct {
    int iterations;       /* detection passes run */
    int crossings;        /* constraints added from continuous collision detection */
    int proximities;      /* constraints added from end proximity */
    int zones;            /* zones in the result */
    int largest_zone;     /* free vertices of the largest zone */
    int active;           /* active constraints over all zones */
    int converged;        /* 1 when the last pass found nothing */
    double max_violation; /* largest max(−g_k, 0) over all zone constraints at x_out, m */
} cloth_collide_stats;

/* An obstacle: a triangle mesh, positions at the start and end of the substep (several
 * obstacles: append them into one).  Named apart from cloth.h's cloth_obstacle (an
 * obstacle's positions per frame, from which the simulator fills x0 and x1 per substep). */
typedef struct {
    int n_verts, n_faces, n_edges;
    double *x0, *x1; /* 3·n_verts each */
    int *faces;    /* 3·n_faces, counter-clockwise seen from outside */
    int *edges;    /* 2·n_edges, unique, smaller index first */
    double *vert_area, *edge_area, *face_area; /* from the geometry at build */
} cloth_obstacle_mesh; /* zero-initialise (an empty obstacle); cloth_obstacle_mesh_free() */

typedef struct cloth_collision cloth_collision;

#ifdef __cplusplus
extern "C" {
#endif

/* τ = 5e-3, k = 1e6, quadratic penalty, τ_p = 1e-4, 100 passes, self-collisions on. */
void cloth_collision_options_init(cloth_collision_options *o);

/* The cloth's topology (copied): n_verts vertices, n_faces triangles.  face_area
 * (n_faces rest areas, m²) may be NULL: then the penalty stiffness is not area-scaled.
 * opt NULL: the defaults. */
int cloth_collision_create(cloth_collision **out, int n_verts, int n_faces, const int *faces, const double *face_area,
                           const cloth_collision_options *opt);
void cloth_collision_free(cloth_collision *c);

/* ---- obstacles ---- */

/* A mesh (copied), x0 = x1 = x. */
int cloth_obstacle_mesh_init(cloth_obstacle_mesh *o, int n_verts, const double *x, int n_faces, const int *faces);
/* Icosphere: the icosahedron subdivided `subdivisions` times (0..7), 20·4^s faces,
 * vertices on the sphere, outward normals. */
int cloth_obstacle_mesh_sphere(cloth_obstacle_mesh *o, const double *center, double radius, int subdivisions);
/* A square of side 2·half_size centred at point, normal along normal (2 triangles). */
int cloth_obstacle_mesh_plane(cloth_obstacle_mesh *o, const double *point, const double *normal, double half_size);
/* Append other's mesh (both positions) to o. */
int cloth_obstacle_mesh_append(cloth_obstacle_mesh *o, const cloth_obstacle_mesh *other);
void cloth_obstacle_mesh_free(cloth_obstacle_mesh *o);

/* ---- 1. proximity ---- */

/* Contacts of the cloth at x (obstacle at x0, offsets at its x1; obs may be NULL), replacing
 * out's contents, in a deterministic order. */
int cloth_proximity_find(const cloth_collision *c, const double *x, const cloth_obstacle_mesh *obs, cloth_contact_list *out);
/* Σ E over the contacts at x; grad (3·n_verts, may be NULL) += ∇E. */
double cloth_proximity_energy(const cloth_contact_list *l, const double *x, double *grad);
void cloth_contact_list_free(cloth_contact_list *l);

/* ---- 2. impact zones ---- */

/* x_out (may alias x1, not x0) = x1 with every impact zone projected (see 2.).  mass:
 * n_verts; pinned may be NULL; obs may be NULL; rec and stats may be NULL.  rec is
 * overwritten.  When the passes run out with impacts left, returns −1 with x_out, rec and
 * stats holding the last iterate; when a zone's constraints cannot be met together (or
 * memory runs out), returns −1 with x_out part-way and rec, stats not written. */
int cloth_collide(const cloth_collision *c, const double *x0, const double *x1, const double *mass, const unsigned char *pinned,
                  const cloth_obstacle_mesh *obs, double *x_out, cloth_impact_record *rec, cloth_collide_stats *stats);

/* One zone's projection on its own (the op cloth_collide applies per zone): x_out (may
 * alias x1; n_verts) = x1 with the free vertices of the constraints projected onto
 * {n_k·Σ w_ki x_i ≥ thickness}; obs_x1 (n_obs_verts) the obstacle positions.  The
 * active set is appended to rec (may be NULL) as one zone; rec must be empty or hold
 * the same sizes.  A vertex must have the same mass in every constraint. */
int cloth_zone_project(int n_verts, int n_obs_verts, int n_con, const cloth_zone_constraint *con, const double *x1,
                       const double *obs_x1, double thickness, double *x_out, cloth_impact_record *rec);

/* ---- 3. backward ---- */

/* grad_x1 (n_verts) += (∂x* / ∂x1)ᵀ grad_x; grad_obs_x1 (n_obs_verts, may be NULL) +=
 * (∂x* / ∂o1)ᵀ grad_x.  grad_x must not alias the outputs. */
int cloth_collide_backward(const cloth_impact_record *rec, const double *grad_x, double *grad_x1, double *grad_obs_x1);

void cloth_impact_record_free(cloth_impact_record *r);

#ifdef __cplusplus
}
#endif

#endif
