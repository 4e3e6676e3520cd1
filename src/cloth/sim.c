/* sim.c — the simulator's set-up and forward rollout (see cloth.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include <omp.h>

#include "phive/errors.h"
#include "sim_internal.h"

#include "cloth_collision.h" /* kernels/ */
#include "cloth_forces.h"

double cloth_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ------------------------------------------------------------------ settings and parameters */

void cloth_settings_default(cloth_settings *s)
{
    memset(s, 0, sizeof *s);
    s->frame_time = 0.04;
    s->substeps = 2;
    s->frames = 1;
    s->gravity[2] = -9.8;
    s->air_density = 1;
    s->stretch_mode = CLOTH_STRETCH_DIRECT;
    s->curvature_mode = CLOTH_CURVATURE_CLAMP;
    s->thickness = 5e-3;
    s->collision_stiffness = 1e6;
    s->record_limit_mb = 1024;
}

int cloth_params_alloc(cloth_params *p, int n_verts, int frames, int n_handles, int with_correctives)
{
    memset(p, 0, sizeof *p);
    p->n_verts = n_verts, p->frames = frames, p->n_handles = n_handles;
    const size_t n3 = 3 * (size_t)n_verts;
    p->x0 = calloc(n3, sizeof(double));
    p->v0 = calloc(n3, sizeof(double));
    if (with_correctives) p->correctives = calloc((size_t)frames * n3, sizeof(double));
    if (n_handles) p->handles = calloc((size_t)(frames + 1) * 3 * (size_t)n_handles, sizeof(double));
    if (!p->x0 || !p->v0 || (with_correctives && !p->correctives) || (n_handles && !p->handles)) {
        cloth_params_free(p);
        return err_set("cloth parameters: out of memory for %d vertices × %d frames", n_verts, frames);
    }
    return 0;
}

void cloth_params_free(cloth_params *p)
{
    free(p->x0), free(p->v0), free(p->correctives), free(p->handles);
    memset(p, 0, sizeof *p);
}

void cloth_params_zero(cloth_params *p)
{
    const size_t n3 = 3 * (size_t)p->n_verts;
    p->density = 0;
    memset(p->stretching, 0, sizeof p->stretching);
    memset(p->bending, 0, sizeof p->bending);
    memset(p->wind, 0, sizeof p->wind);
    memset(p->x0, 0, n3 * sizeof(double));
    memset(p->v0, 0, n3 * sizeof(double));
    if (p->correctives) memset(p->correctives, 0, (size_t)p->frames * n3 * sizeof(double));
    if (p->handles) memset(p->handles, 0, (size_t)(p->frames + 1) * 3 * (size_t)p->n_handles * sizeof(double));
}

void cloth_params_set_material(cloth_params *p, const cloth_material *m)
{
    p->density = m->density;
    memcpy(p->stretching, &m->stretching[0][0], sizeof p->stretching);
    memcpy(p->bending, &m->bending[0][0], sizeof p->bending);
}

/* ------------------------------------------------------------------ block structure */

static int cmp_key(const void *a, const void *b)
{
    const long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static int slot_of(const cloth_sim *sim, int i, int j)
{
    const int *lo = sim->cols + sim->row_ptr[i], *hi = sim->cols + sim->row_ptr[i + 1];
    while (lo < hi) {
        const int *mid = lo + (hi - lo) / 2;
        if (*mid < j) lo = mid + 1;
        else hi = mid;
    }
    return (int)(lo - sim->cols);
}

int cloth_block_slot(const cloth_sim *sim, int i, int j)
{
    const int k = slot_of(sim, i, j);
    return k < sim->row_ptr[i + 1] && sim->cols[k] == j ? k : -1;
}

/* Vertex adjacency of the elements (faces, hinges) as sorted CSR with the diagonal, and each
 * element's block slots. */
static int build_structure(cloth_sim *sim)
{
    const cloth_mesh *m = sim->mesh;
    const int n = sim->n;
    const size_t pairs = 9 * (size_t)m->n_faces + 16 * (size_t)m->n_hinges + (size_t)n;
    long long *key = malloc(pairs * sizeof *key);
    if (!key) return err_set("cloth simulator: out of memory for the matrix structure");
    size_t k = 0;
    for (int i = 0; i < n; ++i) key[k++] = (long long)i * n + i;
    for (int f = 0; f < m->n_faces; ++f)
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) key[k++] = (long long)m->faces[3 * f + a] * n + m->faces[3 * f + b];
    for (int h = 0; h < m->n_hinges; ++h)
        for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b) key[k++] = (long long)m->hinges[4 * h + a] * n + m->hinges[4 * h + b];
    qsort(key, pairs, sizeof *key, cmp_key);
    size_t unique = 0;
    for (size_t i = 0; i < pairs; ++i)
        if (i == 0 || key[i] != key[i - 1]) key[unique++] = key[i];
    sim->nnzb = (int)unique;
    sim->row_ptr = calloc((size_t)n + 1, sizeof(int));
    sim->cols = malloc(unique * sizeof(int));
    sim->diag_slot = malloc((size_t)n * sizeof(int));
    sim->face_slot = malloc(9 * (size_t)m->n_faces * sizeof(int));
    sim->hinge_slot = malloc(16 * (size_t)(m->n_hinges ? m->n_hinges : 1) * sizeof(int));
    sim->transpose_slot = malloc(unique * sizeof(int));
    if (!sim->row_ptr || !sim->cols || !sim->diag_slot || !sim->face_slot || !sim->hinge_slot || !sim->transpose_slot) {
        free(key);
        return err_set("cloth simulator: out of memory for the matrix structure");
    }
    for (size_t i = 0; i < unique; ++i) {
        sim->row_ptr[key[i] / n + 1]++;
        sim->cols[i] = (int)(key[i] % n);
    }
    free(key);
    for (int i = 0; i < n; ++i) sim->row_ptr[i + 1] += sim->row_ptr[i];
    for (int i = 0; i < n; ++i) {
        sim->diag_slot[i] = slot_of(sim, i, i);
        for (int q = sim->row_ptr[i]; q < sim->row_ptr[i + 1]; ++q) sim->transpose_slot[q] = slot_of(sim, sim->cols[q], i);
    }
    for (int f = 0; f < m->n_faces; ++f)
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b)
                sim->face_slot[9 * f + 3 * a + b] = slot_of(sim, m->faces[3 * f + a], m->faces[3 * f + b]);
    for (int h = 0; h < m->n_hinges; ++h)
        for (int a = 0; a < 4; ++a)
            for (int b = 0; b < 4; ++b)
                sim->hinge_slot[16 * h + 4 * a + b] = slot_of(sim, m->hinges[4 * h + a], m->hinges[4 * h + b]);
    /* incidence lists, corners in element order */
    const size_t corners = 3 * (size_t)m->n_faces + 4 * (size_t)m->n_hinges;
    sim->inc_ptr = calloc((size_t)n + 1, sizeof(int));
    sim->inc = malloc(corners * sizeof(int));
    const size_t nh = m->n_hinges ? (size_t)m->n_hinges : 1;
    sim->face_vec = malloc(CLOTH_CHANNELS * 9 * (size_t)m->n_faces * sizeof(double));
    sim->hinge_vec = malloc(CLOTH_CHANNELS * 12 * nh * sizeof(double));
    sim->face_mat = malloc(81 * (size_t)m->n_faces * sizeof(double));
    sim->hinge_mat = malloc(144 * nh * sizeof(double));
    sim->face_aux = malloc(7 * (size_t)m->n_faces * sizeof(double));
    sim->hinge_aux = malloc(nh * sizeof(double));
    if (!sim->inc_ptr || !sim->inc || !sim->face_vec || !sim->hinge_vec || !sim->face_mat || !sim->hinge_mat ||
        !sim->face_aux || !sim->hinge_aux)
        return err_set("cloth simulator: out of memory for the element buffers");
    for (int f = 0; f < m->n_faces; ++f)
        for (int a = 0; a < 3; ++a) sim->inc_ptr[m->faces[3 * f + a] + 1]++;
    for (int h = 0; h < m->n_hinges; ++h)
        for (int a = 0; a < 4; ++a) sim->inc_ptr[m->hinges[4 * h + a] + 1]++;
    for (int i = 0; i < n; ++i) sim->inc_ptr[i + 1] += sim->inc_ptr[i];
    int *fill = malloc((size_t)n * sizeof(int));
    if (!fill) return err_set("cloth simulator: out of memory");
    memcpy(fill, sim->inc_ptr, (size_t)n * sizeof(int));
    for (int f = 0; f < m->n_faces; ++f)
        for (int a = 0; a < 3; ++a) sim->inc[fill[m->faces[3 * f + a]]++] = 3 * f + a;
    for (int h = 0; h < m->n_hinges; ++h)
        for (int a = 0; a < 4; ++a) sim->inc[fill[m->hinges[4 * h + a]]++] = 3 * m->n_faces + 4 * h + a;
    free(fill);
    return 0;
}

/* An incidence entry: whether it is a face's corner, the element and the vertex's slot in it. */
static int corner_of(const cloth_sim *sim, int corner, int *element, int *slot)
{
    const int nf3 = 3 * sim->mesh->n_faces, is_face = corner < nf3;
    *element = is_face ? corner / 3 : (corner - nf3) / 4;
    *slot = is_face ? corner % 3 : (corner - nf3) % 4;
    return is_face;
}

void cloth_gather_vectors(const cloth_sim *sim, int ch, double *out)
{
#pragma omp parallel for num_threads(sim->threads) schedule(static)
    for (int i = 0; i < sim->n; ++i)
        for (int k = sim->inc_ptr[i]; k < sim->inc_ptr[i + 1]; ++k) {
            int e, a;
            const double *v = corner_of(sim, sim->inc[k], &e, &a)
                                  ? sim->face_vec + 27 * (size_t)e + 9 * ch + 3 * a
                                  : sim->hinge_vec + 36 * (size_t)e + 12 * ch + 3 * a;
            for (int d = 0; d < 3; ++d) out[3 * i + d] += v[d];
        }
}

/* A += scale·(element Hessians), gathered per block row. */
static void gather_matrix(cloth_sim *sim, double scale)
{
    double *values = cloth_system_values(sim->sys);
#pragma omp parallel for num_threads(sim->threads) schedule(static)
    for (int i = 0; i < sim->n; ++i)
        for (int k = sim->inc_ptr[i]; k < sim->inc_ptr[i + 1]; ++k) {
            int e, a;
            const int is_face = corner_of(sim, sim->inc[k], &e, &a), count = is_face ? 3 : 4, dim = 3 * count;
            const double *H = is_face ? sim->face_mat + 81 * (size_t)e : sim->hinge_mat + 144 * (size_t)e;
            const int *slots = is_face ? sim->face_slot + 9 * e : sim->hinge_slot + 16 * e;
            for (int q = 0; q < count; ++q) {
                double *block = values + 9 * (size_t)slots[count * a + q];
                for (int r = 0; r < 3; ++r)
                    for (int c = 0; c < 3; ++c) block[3 * c + r] += scale * H[dim * (3 * a + r) + 3 * q + c];
            }
        }
}

/* ------------------------------------------------------------------ collisions */

/* The obstacles' positions at time key f + t (t in [0, 1]) into dst (all obstacles in order). */
static void obstacles_at(const cloth_sim *sim, int f, double t, double *dst)
{
    size_t o = 0;
    for (int k = 0; k < sim->s.n_obstacles; ++k) {
        const cloth_obstacle *ob = &sim->s.obstacles[k];
        const size_t n3 = 3 * (size_t)ob->n_verts;
        const double *a = ob->x + (ob->moving ? (size_t)f * n3 : 0), *b = ob->moving ? a + n3 : a;
        for (size_t i = 0; i < n3; ++i) dst[o + i] = (1 - t) * a[i] + t * b[i];
        o += n3;
    }
}

static int create_collisions(cloth_sim *sim)
{
    const cloth_settings *s = &sim->s;
    const cloth_mesh *m = sim->mesh;
    cloth_collision_options opt;
    cloth_collision_options_init(&opt);
    opt.repulsion_thickness = s->thickness;
    opt.stiffness = s->collision_stiffness;
    opt.self_collisions = s->self_collisions;
    if (cloth_collision_create(&sim->col, m->n_verts, m->n_faces, m->faces, m->face_area, &opt)) return -1;
    for (int k = 0; k < s->n_obstacles; ++k) {
        const cloth_obstacle *ob = &s->obstacles[k];
        cloth_obstacle_mesh one = {0};
        if (cloth_obstacle_mesh_init(&one, ob->n_verts, ob->x, ob->n_faces, ob->faces) ||
            cloth_obstacle_mesh_append(&sim->obs, &one)) {
            cloth_obstacle_mesh_free(&one);
            return err_context("obstacle %d", k);
        }
        cloth_obstacle_mesh_free(&one);
    }
    sim->mass = malloc((size_t)sim->n * sizeof(double));
    sim->x_pre = malloc(3 * (size_t)sim->n * sizeof(double));
    if (!sim->mass || !sim->x_pre) return err_set("cloth simulator: out of memory");
    return 0;
}

int cloth_contact_coupled(const cloth_sim *sim, const cloth_contact *c, int i, int j)
{
    /* the two features: slot 0 | 1–3 (vertex–face), slots 0–1 | 2–3 (edge–edge) */
    const int split = c->type == CLOTH_PAIR_EE || c->type == CLOTH_PAIR_EE_OBS ? 2 : 1;
    if ((i < split) == (j < split)) return 1;
    for (int a = 0; a < split; ++a)
        for (int b = split; b < 4; ++b)
            if (c->v[a] >= 0 && c->v[b] >= 0 && cloth_block_slot(sim, c->v[a], c->v[b]) < 0) return 0;
    return 1;
}

/* Proximity penalties of the contacts into A and b (ARCSim's constraint forces: no damping):
 * A += h²H, b += −h(∇E + h H v').  A self-contact between vertices that share no element has
 * no blocks in A's structure: its two features are then decoupled (H's cross-feature blocks
 * dropped, in A and in the H v' term alike), which keeps A symmetric positive semi-definite
 * and the adjoint differentiates exactly what is solved. */
static void add_contacts(cloth_sim *sim, const cloth_contact_list *contacts, const double *x, const double *vp)
{
    double *values = cloth_system_values(sim->sys);
    const double h = sim->h;
    for (int k = 0; k < contacts->n; ++k) {
        const cloth_contact *c = &contacts->c[k];
        double grad[12], hess[144];
        cloth_contact_energy(c, x, grad, hess);
        for (int i = 0; i < 4; ++i) {
            if (c->v[i] < 0) continue;
            for (int j = 0; j < 4; ++j) {
                if (c->v[j] < 0 || !cloth_contact_coupled(sim, c, i, j)) continue;
                const int slot = cloth_block_slot(sim, c->v[i], c->v[j]);
                for (int r = 0; r < 3; ++r)
                    for (int cc = 0; cc < 3; ++cc) {
                        const double hrc = hess[12 * (3 * i + r) + 3 * j + cc];
                        values[9 * (size_t)slot + 3 * cc + r] += h * h * hrc;
                        sim->b[3 * c->v[i] + r] -= h * h * hrc * vp[3 * c->v[j] + cc];
                    }
            }
            for (int r = 0; r < 3; ++r) sim->b[3 * c->v[i] + r] -= h * grad[3 * i + r];
        }
    }
}

/* ------------------------------------------------------------------ create / free */

void cloth_sim_free(cloth_sim *sim)
{
    if (!sim) return;
    cloth_system_free(sim->sys);
    free(sim->row_ptr), free(sim->cols), free(sim->diag_slot), free(sim->face_slot), free(sim->hinge_slot);
    free(sim->transpose_slot), free(sim->constrained), free(sim->handle_of), free(sim->table);
    free(sim->x_frames), free(sim->v_frames);
    for (int r = 0; r < sim->n_records; ++r) {
        free(sim->records[r].x_start);
        cloth_contact_list_free(&sim->records[r].contacts);
        cloth_impact_record_free(&sim->records[r].impacts);
    }
    free(sim->records);
    free(sim->b), free(sim->dvc), free(sim->lam), free(sim->u), free(sim->w), free(sim->gvp);
    cloth_collision_free(sim->col);
    cloth_obstacle_mesh_free(&sim->obs);
    free(sim->mass), free(sim->x_pre);
    free(sim->inc_ptr), free(sim->inc), free(sim->face_vec), free(sim->hinge_vec), free(sim->face_mat);
    free(sim->hinge_mat), free(sim->face_aux), free(sim->hinge_aux);
    free(sim);
}

int cloth_sim_create(cloth_sim **out, const cloth_mesh *mesh, const cloth_settings *s)
{
    *out = NULL;
    if (!(s->frame_time > 0) || s->substeps < 1 || s->frames < 1)
        return err_set("cloth simulator: need frame_time > 0, substeps ≥ 1 and frames ≥ 1");
    if (!(s->damping >= 0) || !(s->air_density >= 0) || !(s->wind_drag >= 0))
        return err_set("cloth simulator: damping, air density and drag must be ≥ 0");
    if (s->n_handles < 0 || (s->n_handles && !s->handle_verts)) return err_set("cloth simulator: bad handle list");
    cloth_sim *sim = calloc(1, sizeof *sim);
    if (!sim) return err_set("cloth simulator: out of memory");
    sim->mesh = mesh, sim->s = *s, sim->n = mesh->n_verts;
    sim->h = s->frame_time / s->substeps;
    sim->threads = s->threads > 0 ? s->threads : omp_get_max_threads();
    const size_t n3 = 3 * (size_t)sim->n;
    sim->constrained = calloc((size_t)sim->n, 1);
    sim->handle_of = malloc((size_t)sim->n * sizeof(int));
    sim->b = malloc(n3 * sizeof(double));
    sim->dvc = calloc(n3, sizeof(double));
    sim->lam = malloc(n3 * sizeof(double));
    sim->u = malloc(n3 * sizeof(double));
    sim->w = malloc(n3 * sizeof(double));
    sim->gvp = malloc(n3 * sizeof(double));
    if (!sim->constrained || !sim->handle_of || !sim->b || !sim->dvc || !sim->lam || !sim->u || !sim->w || !sim->gvp) {
        cloth_sim_free(sim);
        return err_set("cloth simulator: out of memory");
    }
    for (int i = 0; i < sim->n; ++i) sim->handle_of[i] = -1;
    for (int k = 0; k < s->n_handles; ++k) {
        const int v = s->handle_verts[k];
        if (v < 0 || v >= sim->n || sim->constrained[v]) {
            cloth_sim_free(sim);
            return err_set("cloth simulator: handle %d names vertex %d (the cloth has %d; each once)", k, v, sim->n);
        }
        sim->constrained[v] = 1, sim->handle_of[v] = k;
    }
    if (s->stretch_mode == CLOTH_STRETCH_TABLE && !(sim->table = malloc(sizeof *sim->table))) {
        cloth_sim_free(sim);
        return err_set("cloth simulator: out of memory for the stretching table");
    }
    if (s->collisions && create_collisions(sim)) {
        cloth_sim_free(sim);
        return -1;
    }
    if (build_structure(sim) ||
        cloth_system_create(&sim->sys, sim->n, sim->row_ptr, sim->cols, s->petsc_options)) {
        cloth_sim_free(sim);
        return -1;
    }
    *out = sim;
    return 0;
}

/* ------------------------------------------------------------------ assembly */

#define BLOCK(values, slot, r, c) (values)[9 * (size_t)(slot) + 3 * (c) + (r)]

static void gather(const double *src, const int *verts, int count, double *dst)
{
    for (int a = 0; a < count; ++a)
        for (int c = 0; c < 3; ++c) dst[3 * a + c] = src[3 * verts[a] + c];
}

/* vec = −h·(grad + c·H v') for an element of `count` vertices (its right-hand side share). */
static void element_rhs(const int *verts, int count, const double *grad, const double *hess, const double *vp, double h,
                        double c, double *vec)
{
    const int dim = 3 * count;
    for (int a = 0; a < dim; ++a) {
        double hv = 0;
        for (int q = 0; q < dim; ++q) hv += hess[dim * a + q] * vp[3 * verts[q / 3] + q % 3];
        vec[a] = -h * (grad[a] + c * hv);
    }
}

double cloth_handle_weight(const cloth_sim *sim, int s) { return (double)(s + 1) / sim->s.substeps; }

void cloth_assemble(cloth_sim *sim, const cloth_params *p, int f, int s, const double *x, const double *vp,
                    const cloth_contact_list *contacts)
{
    const cloth_mesh *m = sim->mesh;
    const cloth_settings *st = &sim->s;
    const int n = sim->n;
    const double h = sim->h, c = h + st->damping;
    double *values = cloth_system_values(sim->sys);
    memset(values, 0, 9 * (size_t)sim->nnzb * sizeof(double));
    for (int i = 0; i < n; ++i) {
        const double mass = p->density * m->vert_area[i];
        for (int d = 0; d < 3; ++d) {
            BLOCK(values, sim->diag_slot[i], d, d) = mass;
            sim->b[3 * i + d] = h * mass * st->gravity[d];
        }
    }
#pragma omp parallel num_threads(sim->threads)
    {
#pragma omp for schedule(static) nowait
        for (int fc = 0; fc < m->n_faces; ++fc) {
            const int *v = m->faces + 3 * fc;
            double xe[9], k[4], grad[9], *hess = sim->face_mat + 81 * (size_t)fc, *vec = sim->face_vec + 27 * (size_t)fc;
            gather(x, v, 3, xe);
            cloth_face_stretch(st->stretch_mode, p->stretching, sim->table, xe, m->face_dinv + 4 * fc,
                               m->face_area[fc], k, grad, hess);
            element_rhs(v, 3, grad, hess, vp, h, c, vec);
            if (st->air_density > 0 || st->wind_drag > 0) {
                double ve[9], fw[3];
                gather(vp, v, 3, ve);
                cloth_wind_face(xe, ve, p->wind, st->air_density, st->wind_drag, m->face_area[fc], fw);
                for (int a = 0; a < 3; ++a)
                    for (int d = 0; d < 3; ++d) vec[3 * a + d] += h * fw[d] / 3;
            }
        }
#pragma omp for schedule(static)
        for (int e = 0; e < m->n_hinges; ++e) {
            const int *v = m->hinges + 4 * e;
            double xe[12], grad[12], *hess = sim->hinge_mat + 144 * (size_t)e, *vec = sim->hinge_vec + 36 * (size_t)e;
            gather(x, v, 4, xe);
            const double ke = cloth_hinge_stiffness(p->bending, m->hinge_du + 2 * e, xe, m->hinge_len[e],
                                                    m->hinge_area[e], st->curvature_mode, NULL);
            cloth_bend_energy(xe, m->hinge_len[e], m->hinge_area[e], ke, m->hinge_theta_rest[e], grad, hess, NULL);
            element_rhs(v, 4, grad, hess, vp, h, c, vec);
        }
    }
    cloth_gather_vectors(sim, 0, sim->b);
    gather_matrix(sim, h * c);
    if (contacts) add_contacts(sim, contacts, x, vp);
    if (!st->n_handles) return;
    /* Dirichlet rows: Δv_i = (p_i − x_i)/h − v'_i, moved to the right-hand side of the free rows */
    const double wgt = cloth_handle_weight(sim, s);
    for (int k = 0; k < st->n_handles; ++k) {
        const int i = st->handle_verts[k];
        const double *p0 = p->handles + 3 * ((size_t)f * st->n_handles + k), *p1 = p0 + 3 * (size_t)st->n_handles;
        for (int d = 0; d < 3; ++d) {
            const double target = (1 - wgt) * p0[d] + wgt * p1[d];
            sim->dvc[3 * i + d] = (target - x[3 * i + d]) / h - vp[3 * i + d];
        }
    }
    for (int k = 0; k < st->n_handles; ++k) {
        const int i = st->handle_verts[k];
        const double mass = p->density * m->vert_area[i];
        for (int q = sim->row_ptr[i]; q < sim->row_ptr[i + 1]; ++q) {
            const int j = sim->cols[q], t = sim->transpose_slot[q];
            if (!sim->constrained[j])
                for (int r = 0; r < 3; ++r)
                    for (int cc = 0; cc < 3; ++cc) sim->b[3 * j + r] -= BLOCK(values, t, r, cc) * sim->dvc[3 * i + cc];
            memset(values + 9 * (size_t)q, 0, 9 * sizeof(double));
            memset(values + 9 * (size_t)t, 0, 9 * sizeof(double));
        }
        for (int d = 0; d < 3; ++d) {
            BLOCK(values, sim->diag_slot[i], d, d) = mass;
            sim->b[3 * i + d] = mass * sim->dvc[3 * i + d];
        }
    }
}

/* ------------------------------------------------------------------ forward */

int cloth_substep_forward(cloth_sim *sim, const cloth_params *p, int f, int s, double *x, double *v,
                          cloth_substep_record *rec)
{
    const int n3 = 3 * sim->n;
    const double h = sim->h;
    char what[96];
    snprintf(what, sizeof what, "cloth step (frame %d, substep %d)", f, s);
    if (p->correctives) {
        const double *c = p->correctives + (size_t)f * n3;
        for (int i = 0; i < n3; ++i) v[i] += c[i] / sim->s.substeps;
    }
    memcpy(rec->x_start, x, n3 * sizeof(double));
    memcpy(rec->v_prime, v, n3 * sizeof(double));
    double t0 = cloth_now();
    rec->contacts.n = 0;
    if (sim->col) {
        obstacles_at(sim, f, (double)s / sim->s.substeps, sim->obs.x0);
        obstacles_at(sim, f, (double)(s + 1) / sim->s.substeps, sim->obs.x1);
        if (cloth_proximity_find(sim->col, x, &sim->obs, &rec->contacts)) return err_context("%s", what);
    }
    cloth_assemble(sim, p, f, s, x, v, &rec->contacts);
    double t1 = cloth_now();
    int its = 0;
    if (cloth_system_solve(sim->sys, sim->b, rec->dv, &its, what)) return -1;
    sim->stats.assemble_s += t1 - t0;
    sim->stats.solve_s += cloth_now() - t1;
    sim->stats.ksp_iterations += its;
    sim->stats.substeps++;
    for (int i = 0; i < n3; ++i) {
        v[i] += rec->dv[i];
        x[i] += h * v[i];
        if (!isfinite(x[i])) return err_set("%s: the state became non-finite", what);
    }
    if (sim->col) { /* impact zones: x_out = P(x''), v += (x_out − x'')/h */
        const double tc = cloth_now();
        for (int i = 0; i < sim->n; ++i) sim->mass[i] = p->density * sim->mesh->vert_area[i];
        memcpy(sim->x_pre, x, n3 * sizeof(double));
        if (cloth_collide(sim->col, rec->x_start, sim->x_pre, sim->mass, sim->constrained, &sim->obs, x, &rec->impacts,
                          NULL))
            return err_context("%s: collisions", what);
        for (int i = 0; i < n3; ++i) v[i] += (x[i] - sim->x_pre[i]) / h;
        sim->stats.collision_s += cloth_now() - tc;
    }
    return 0;
}

static void free_records(cloth_sim *sim)
{
    for (int r = 0; r < sim->n_records; ++r) {
        free(sim->records[r].x_start);
        cloth_contact_list_free(&sim->records[r].contacts);
        cloth_impact_record_free(&sim->records[r].impacts);
    }
    free(sim->records);
    sim->records = NULL, sim->n_records = 0;
}

static int alloc_records(cloth_sim *sim, int count)
{
    free_records(sim);
    sim->records = calloc((size_t)count, sizeof *sim->records);
    if (!sim->records) return err_set("cloth simulator: out of memory for %d substep records", count);
    sim->n_records = count;
    const size_t n3 = 3 * (size_t)sim->n;
    for (int r = 0; r < count; ++r) {
        double *block = malloc(3 * n3 * sizeof(double));
        if (!block) return err_set("cloth simulator: out of memory for %d substep records", count);
        sim->records[r].x_start = block, sim->records[r].v_prime = block + n3, sim->records[r].dv = block + 2 * n3;
    }
    return 0;
}

static int check_params(const cloth_sim *sim, const cloth_params *p)
{
    if (p->n_verts != sim->n) return err_set("cloth parameters: %d vertices, the mesh has %d", p->n_verts, sim->n);
    if (p->frames < sim->s.frames)
        return err_set("cloth parameters: %d frames, the simulation has %d", p->frames, sim->s.frames);
    if (sim->s.n_handles && (!p->handles || p->n_handles != sim->s.n_handles))
        return err_set("cloth parameters: %d handle trajectories, the simulation has %d handles", p->n_handles,
                       sim->s.n_handles);
    if (!(p->density > 0) || !isfinite(p->density)) return err_set("cloth parameters: density %g must be positive", p->density);
    for (int e = 0; e < CLOTH_STRETCH_ENTRIES; ++e)
        if (!isfinite(p->stretching[e])) return err_set("cloth parameters: stretching entry %d is not finite", e);
    for (int e = 0; e < CLOTH_BEND_ENTRIES; ++e)
        if (!isfinite(p->bending[e])) return err_set("cloth parameters: bending entry %d is not finite", e);
    return 0;
}

int cloth_rollout_forward(cloth_sim *sim, const cloth_params *p, int n_frames)
{
    if (n_frames < 0 || n_frames > sim->s.frames)
        return err_set("cloth rollout: %d frames asked, the simulation has %d", n_frames, sim->s.frames);
    if (check_params(sim, p)) return -1;
    const double start = cloth_now();
    sim->stats = (cloth_stats){0};
    if (sim->table && cloth_stretch_table_build(sim->table, p->stretching)) return -1;
    const size_t n3 = 3 * (size_t)sim->n;
    if (n_frames > sim->n_frames || !sim->x_frames) {
        free(sim->x_frames), free(sim->v_frames);
        sim->x_frames = malloc((size_t)(n_frames + 1) * n3 * sizeof(double));
        sim->v_frames = malloc((size_t)(n_frames + 1) * n3 * sizeof(double));
        if (!sim->x_frames || !sim->v_frames) return err_set("cloth rollout: out of memory for %d frames", n_frames);
    }
    sim->n_frames = n_frames;
    const int S = sim->s.substeps;
    const double record_mb = (double)n_frames * S * 3 * n3 * sizeof(double) / (1024.0 * 1024.0);
    sim->store_all = record_mb <= sim->s.record_limit_mb;
    if (alloc_records(sim, sim->store_all ? n_frames * S : S)) return -1;
    double *x = sim->x_frames, *v = sim->v_frames;
    memcpy(x, p->x0, n3 * sizeof(double));
    memcpy(v, p->v0, n3 * sizeof(double));
    for (int f = 0; f < n_frames; ++f) {
        double *xn = x + n3, *vn = v + n3;
        memcpy(xn, x, n3 * sizeof(double));
        memcpy(vn, v, n3 * sizeof(double));
        for (int s = 0; s < S; ++s)
            if (cloth_substep_forward(sim, p, f, s, xn, vn, &sim->records[sim->store_all ? f * S + s : s]))
                return -1;
        x = xn, v = vn;
    }
    sim->stats.forward_s = cloth_now() - start;
    return 0;
}

const double *cloth_sim_positions(const cloth_sim *sim, int f) { return sim->x_frames + 3 * (size_t)sim->n * f; }
const double *cloth_sim_velocities(const cloth_sim *sim, int f) { return sim->v_frames + 3 * (size_t)sim->n * f; }
void cloth_sim_stats(const cloth_sim *sim, cloth_stats *out) { *out = sim->stats; }

/* ------------------------------------------------------------------ energy and forces (tests) */

double cloth_energy(cloth_sim *sim, const cloth_params *p, const double *x, const double *v)
{
    if (sim->table && cloth_stretch_table_build(sim->table, p->stretching)) return NAN;
    const cloth_mesh *m = sim->mesh;
    double e = 0;
    for (int i = 0; i < sim->n; ++i) {
        const double mass = p->density * m->vert_area[i];
        e += 0.5 * mass * (v[3 * i] * v[3 * i] + v[3 * i + 1] * v[3 * i + 1] + v[3 * i + 2] * v[3 * i + 2]);
        for (int d = 0; d < 3; ++d) e -= mass * sim->s.gravity[d] * x[3 * i + d];
    }
    for (int fc = 0; fc < m->n_faces; ++fc) {
        double xe[9], k[4];
        gather(x, m->faces + 3 * fc, 3, xe);
        e += cloth_face_stretch(sim->s.stretch_mode, p->stretching, sim->table, xe, m->face_dinv + 4 * fc,
                                m->face_area[fc], k, NULL, NULL);
    }
    for (int h = 0; h < m->n_hinges; ++h) {
        double xe[12];
        gather(x, m->hinges + 4 * h, 4, xe);
        const double ke = cloth_hinge_stiffness(p->bending, m->hinge_du + 2 * h, xe, m->hinge_len[h],
                                                m->hinge_area[h], sim->s.curvature_mode, NULL);
        e += cloth_bend_energy(xe, m->hinge_len[h], m->hinge_area[h], ke, m->hinge_theta_rest[h], NULL, NULL, NULL);
    }
    return e;
}

int cloth_forces(cloth_sim *sim, const cloth_params *p, const double *x, const double *v, double *f)
{
    if (sim->table && cloth_stretch_table_build(sim->table, p->stretching)) return -1;
    const cloth_mesh *m = sim->mesh;
    for (int i = 0; i < sim->n; ++i)
        for (int d = 0; d < 3; ++d) f[3 * i + d] = p->density * m->vert_area[i] * sim->s.gravity[d];
    for (int fc = 0; fc < m->n_faces; ++fc) {
        const int *vv = m->faces + 3 * fc;
        double xe[9], ve[9], k[4], grad[9], fw[3];
        gather(x, vv, 3, xe);
        gather(v, vv, 3, ve);
        cloth_face_stretch(sim->s.stretch_mode, p->stretching, sim->table, xe, m->face_dinv + 4 * fc,
                           m->face_area[fc], k, grad, NULL);
        cloth_wind_face(xe, ve, p->wind, sim->s.air_density, sim->s.wind_drag, m->face_area[fc], fw);
        for (int a = 0; a < 3; ++a)
            for (int d = 0; d < 3; ++d) f[3 * vv[a] + d] += fw[d] / 3 - grad[3 * a + d];
    }
    for (int h = 0; h < m->n_hinges; ++h) {
        const int *vv = m->hinges + 4 * h;
        double xe[12], grad[12];
        gather(x, vv, 4, xe);
        const double ke = cloth_hinge_stiffness(p->bending, m->hinge_du + 2 * h, xe, m->hinge_len[h],
                                                m->hinge_area[h], sim->s.curvature_mode, NULL);
        cloth_bend_energy(xe, m->hinge_len[h], m->hinge_area[h], ke, m->hinge_theta_rest[h], grad, NULL, NULL);
        for (int a = 0; a < 4; ++a)
            for (int d = 0; d < 3; ++d) f[3 * vv[a] + d] -= grad[3 * a + d];
    }
    return 0;
}
