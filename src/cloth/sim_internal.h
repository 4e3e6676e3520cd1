/* sim_internal.h — the simulator's state shared by its forward (sim.c) and
 * adjoint (adjoint.c) halves (cloth module, internal). */
#ifndef PHIVE_CLOTH_SIM_INTERNAL_H
#define PHIVE_CLOTH_SIM_INTERNAL_H

#include "phive/cloth.h"
#include "phive/cloth_collision.h"
#include "system.h"

/* What the backward needs of one substep: its start positions, the velocity after the
 * correctives, the solved Δv (3n each), the proximity contacts of its system and the impact
 * zones of its collision response. */
typedef struct {
    double *x_start, *v_prime, *dv;
    cloth_contact_list contacts;
    cloth_impact_record impacts;
} cloth_substep_record;

struct cloth_sim {
    const cloth_mesh *mesh;
    cloth_settings s;
    int n;      /* vertices */
    double h;   /* substep length */
    int threads; /* OpenMP threads of the element loops (settings.threads, or OpenMP's default) */
    /* block sparsity of A (vertex adjacency through faces and hinges) and each element's slots */
    int *row_ptr, *cols, nnzb;
    int *diag_slot;   /* n */
    int *face_slot;   /* 9 per face: block (a, b) of the face's vertices at 3a + b */
    int *hinge_slot;  /* 16 per hinge */
    int *transpose_slot;
    /* elements write their contributions into per-element buffers in parallel; each vertex then
     * gathers its own in a fixed order (incidence lists), so sums are deterministic */
    int *inc_ptr, *inc;          /* vertex → corners: 3·face + a, or 3·n_faces + 4·hinge + a */
    double *face_vec, *hinge_vec; /* CLOTH_CHANNELS × 9 per face, × 12 per hinge */
    double *face_mat, *hinge_mat; /* 81 per face, 144 per hinge */
    double *face_aux, *hinge_aux; /* adjoint: ∂L/∂k (4) and ∂L/∂wind (3) per face, ∂L/∂ke per hinge */
    cloth_system *sys;
    /* collisions (settings.collisions): the cloth's topology, all obstacles as one mesh whose
     * x0/x1 are set per substep, masses for the zone projections */
    cloth_collision *col;
    cloth_obstacle_mesh obs;
    double *mass, *x_pre;
    unsigned char *constrained; /* n: handle vertices */
    int *handle_of;             /* n: handle index or −1 */
    cloth_stretch_table *table; /* stretch_mode TABLE only */
    /* trajectory of the last forward */
    int n_frames;
    double *x_frames, *v_frames; /* (frames + 1) × 3n */
    int store_all;               /* every substep recorded, or only the current frame's */
    cloth_substep_record *records;
    int n_records;
    /* work */
    double *b, *dvc, *lam, *u, *w, *gvp;
    cloth_stats stats;
};

#define CLOTH_CHANNELS 3

/* out (3n) += channel ch of the element vectors, gathered per vertex. */
void cloth_gather_vectors(const cloth_sim *sim, int ch, double *out);

/* Fill A's values and b for the substep starting at x with velocity vp (after correctives),
 * frame f, substep s; handle rows eliminated (dvc gets their Δv). */
void cloth_assemble(cloth_sim *sim, const cloth_params *p, int f, int s, const double *x, const double *vp,
                    const cloth_contact_list *contacts);
/* Whether slots i, j of a contact are coupled in A (see add_contacts in sim.c). */
int cloth_contact_coupled(const cloth_sim *sim, const cloth_contact *c, int i, int j);
/* Slot of block (i, j) in A, or −1 when the structure has no such block. */
int cloth_block_slot(const cloth_sim *sim, int i, int j);
/* The substep's handle target positions' interpolation weight of key f + 1. */
double cloth_handle_weight(const cloth_sim *sim, int s);
/* One substep forward: x, v in/out; rec gets what the backward needs. */
int cloth_substep_forward(cloth_sim *sim, const cloth_params *p, int f, int s, double *x, double *v,
                          cloth_substep_record *rec);
double cloth_now(void);

#endif
