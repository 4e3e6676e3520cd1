/* mesh.c — cloth meshes: material space, rest data, hinges (see cloth.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/cloth.h"
#include "phive/errors.h"

#include "cloth_material.h" /* kernels/: cloth_face_rest */

void cloth_mesh_free(cloth_mesh *cm)
{
    free(cm->faces), free(cm->x_template), free(cm->u), free(cm->face_dinv), free(cm->face_area);
    free(cm->vert_area), free(cm->hinges), free(cm->hinge_len), free(cm->hinge_area), free(cm->hinge_du);
    free(cm->hinge_theta_rest);
    memset(cm, 0, sizeof *cm);
}

typedef struct {
    int a, b;    /* a < b */
    int face;    /* the face */
    int forward; /* 1 when the face runs a → b */
} half_edge;

static int half_edge_cmp(const void *pa, const void *pb)
{
    const half_edge *x = pa, *y = pb;
    if (x->a != y->a) return x->a < y->a ? -1 : 1;
    if (x->b != y->b) return x->b < y->b ? -1 : 1;
    return x->face < y->face ? -1 : x->face > y->face;
}

static int opposite_vertex(const int *f, int a, int b)
{
    for (int k = 0; k < 3; ++k)
        if (f[k] != a && f[k] != b) return f[k];
    return -1;
}

/* Rest data once faces, u and x_template are set. */
static int build_rest_data(cloth_mesh *cm, const char *what)
{
    const int nv = cm->n_verts, nf = cm->n_faces;
    cm->face_dinv = malloc(4 * (size_t)nf * sizeof(double));
    cm->face_area = malloc((size_t)nf * sizeof(double));
    cm->vert_area = calloc((size_t)nv, sizeof(double));
    half_edge *he = malloc(3 * (size_t)nf * sizeof *he);
    if (!cm->face_dinv || !cm->face_area || !cm->vert_area || !he) {
        free(he);
        return err_set("%s: out of memory building the cloth mesh", what);
    }
    for (int f = 0; f < nf; ++f) {
        const int *v = cm->faces + 3 * f;
        if (v[0] == v[1] || v[1] == v[2] || v[0] == v[2]) {
            free(he);
            return err_set("%s: face %d repeats a vertex", what, f);
        }
        const double area = cloth_face_rest(cm->u + 2 * v[0], cm->u + 2 * v[1], cm->u + 2 * v[2], cm->face_dinv + 4 * f);
        if (!(area > 0)) {
            free(he);
            return err_set("%s: face %d has zero area in material space", what, f);
        }
        cm->face_area[f] = area;
        for (int k = 0; k < 3; ++k) {
            cm->vert_area[v[k]] += area / 3;
            const int a = v[k], b = v[(k + 1) % 3];
            he[3 * f + k] = (half_edge){a < b ? a : b, a < b ? b : a, f, a < b};
        }
    }
    for (int i = 0; i < nv; ++i)
        if (!(cm->vert_area[i] > 0)) {
            free(he);
            return err_set("%s: vertex %d belongs to no face", what, i);
        }
    qsort(he, 3 * (size_t)nf, sizeof *he, half_edge_cmp);
    int n_hinges = 0;
    for (int i = 0; i < 3 * nf;) {
        int j = i + 1;
        while (j < 3 * nf && he[j].a == he[i].a && he[j].b == he[i].b) ++j;
        if (j - i > 2) {
            err_set("%s: edge %d–%d is shared by %d faces (non-manifold)", what, he[i].a, he[i].b, j - i);
            free(he);
            return -1;
        }
        if (j - i == 2) {
            if (he[i].forward == he[i + 1].forward) {
                err_set("%s: faces %d and %d are oriented inconsistently across edge %d–%d", what, he[i].face,
                        he[i + 1].face, he[i].a, he[i].b);
                free(he);
                return -1;
            }
            ++n_hinges;
        }
        i = j;
    }
    cm->n_hinges = n_hinges;
    cm->hinges = malloc(4 * (size_t)(n_hinges ? n_hinges : 1) * sizeof(int));
    cm->hinge_len = malloc((size_t)(n_hinges ? n_hinges : 1) * sizeof(double));
    cm->hinge_area = malloc((size_t)(n_hinges ? n_hinges : 1) * sizeof(double));
    cm->hinge_du = malloc(2 * (size_t)(n_hinges ? n_hinges : 1) * sizeof(double));
    cm->hinge_theta_rest = calloc((size_t)(n_hinges ? n_hinges : 1), sizeof(double));
    if (!cm->hinges || !cm->hinge_len || !cm->hinge_area || !cm->hinge_du || !cm->hinge_theta_rest) {
        free(he);
        return err_set("%s: out of memory building the cloth mesh", what);
    }
    int h = 0;
    for (int i = 0; i + 1 < 3 * nf; ++i) {
        if (he[i].a != he[i + 1].a || he[i].b != he[i + 1].b) continue;
        /* face 0 runs x0 → x1 */
        const half_edge *f0 = he[i].forward ? &he[i] : &he[i + 1], *f1 = he[i].forward ? &he[i + 1] : &he[i];
        int *q = cm->hinges + 4 * h;
        q[0] = f0->a, q[1] = f0->b;
        q[2] = opposite_vertex(cm->faces + 3 * f0->face, q[0], q[1]);
        q[3] = opposite_vertex(cm->faces + 3 * f1->face, q[0], q[1]);
        const double du0 = cm->u[2 * q[1]] - cm->u[2 * q[0]], du1 = cm->u[2 * q[1] + 1] - cm->u[2 * q[0] + 1];
        cm->hinge_du[2 * h] = du0, cm->hinge_du[2 * h + 1] = du1;
        cm->hinge_len[h] = sqrt(du0 * du0 + du1 * du1);
        cm->hinge_area[h] = cm->face_area[f0->face] + cm->face_area[f1->face];
        ++h, ++i;
    }
    free(he);
    return 0;
}

/* Counts and the arrays every cloth mesh has before its rest data. */
static int alloc_mesh(cloth_mesh *cm, int nv, int nf, const char *what)
{
    cm->n_verts = nv, cm->n_faces = nf;
    cm->faces = malloc(3 * (size_t)nf * sizeof(int));
    cm->x_template = malloc(3 * (size_t)nv * sizeof(double));
    cm->u = malloc(2 * (size_t)nv * sizeof(double));
    if (!cm->faces || !cm->x_template || !cm->u) {
        cloth_mesh_free(cm);
        return err_set("%s: out of memory", what);
    }
    return 0;
}

int cloth_mesh_build(cloth_mesh *cm, const mesh *m, int space, double uv_scale, const char *what)
{
    memset(cm, 0, sizeof *cm);
    if (m->n_faces == 0) return err_set("%s: the cloth mesh has no faces", what);
    if (mesh_validate(m)) return err_context("%s", what);
    if (m->n_vertices > 0x7fffffff / 4 || m->n_faces > 0x7fffffff / 4) return err_set("%s: mesh too large", what);
    const int nv = (int)m->n_vertices;
    if (alloc_mesh(cm, nv, (int)m->n_faces, what)) return -1;
    for (size_t i = 0; i < 3 * m->n_faces; ++i) cm->faces[i] = (int)m->faces[i];
    for (size_t i = 0; i < 3 * m->n_vertices; ++i) {
        cm->x_template[i] = m->positions[i];
        if (!isfinite(cm->x_template[i])) {
            cloth_mesh_free(cm);
            return err_set("%s: vertex %zu has a non-finite coordinate", what, i / 3);
        }
    }
    if (space == CLOTH_SPACE_UV) {
        if (!m->uvs || !m->face_uvs) {
            cloth_mesh_free(cm);
            return err_set("%s: material space 'uv' needs texture coordinates on every face", what);
        }
        if (!(uv_scale > 0)) {
            cloth_mesh_free(cm);
            return err_set("%s: uv_scale must be positive", what);
        }
        int *uv_of = malloc((size_t)nv * sizeof(int));
        if (!uv_of) {
            cloth_mesh_free(cm);
            return err_set("%s: out of memory", what);
        }
        for (int i = 0; i < nv; ++i) uv_of[i] = -1;
        for (size_t c = 0; c < 3 * m->n_faces; ++c) {
            const int v = (int)m->faces[c], t = (int)m->face_uvs[c];
            const float *a = m->uvs + 2 * (size_t)t;
            if (uv_of[v] >= 0 && uv_of[v] != t) {
                const float *b = m->uvs + 2 * (size_t)uv_of[v];
                if (a[0] != b[0] || a[1] != b[1]) {
                    free(uv_of);
                    cloth_mesh_free(cm);
                    return err_set("%s: vertex %d has two texture coordinates (a UV seam); the cloth needs one "
                                   "material-space position per vertex",
                                   what, v);
                }
            }
            uv_of[v] = t;
        }
        for (int i = 0; i < nv; ++i) {
            cm->u[2 * i] = uv_of[i] >= 0 ? uv_scale * m->uvs[2 * (size_t)uv_of[i]] : 0;
            cm->u[2 * i + 1] = uv_of[i] >= 0 ? uv_scale * m->uvs[2 * (size_t)uv_of[i] + 1] : 0;
        }
        free(uv_of);
    } else {
        for (int i = 0; i < nv; ++i) cm->u[2 * i] = cm->x_template[3 * i], cm->u[2 * i + 1] = cm->x_template[3 * i + 1];
    }
    if (build_rest_data(cm, what)) {
        cloth_mesh_free(cm);
        return -1;
    }
    return 0;
}

int cloth_mesh_grid(cloth_mesh *cm, int nx, int ny, double width, double height)
{
    memset(cm, 0, sizeof *cm);
    if (nx < 2 || ny < 2 || !(width > 0) || !(height > 0)) return err_set("cloth grid: need nx, ny ≥ 2 and a positive size");
    const int nv = nx * ny;
    if (alloc_mesh(cm, nv, 2 * (nx - 1) * (ny - 1), "cloth grid")) return -1;
    for (int j = 0; j < ny; ++j)
        for (int i = 0; i < nx; ++i) {
            const int v = j * nx + i;
            cm->u[2 * v] = cm->x_template[3 * v] = width * ((double)i / (nx - 1) - 0.5);
            cm->u[2 * v + 1] = cm->x_template[3 * v + 1] = height * ((double)j / (ny - 1) - 0.5);
            cm->x_template[3 * v + 2] = 0;
        }
    int f = 0;
    for (int j = 0; j + 1 < ny; ++j)
        for (int i = 0; i + 1 < nx; ++i) {
            const int a = j * nx + i, b = a + 1, c = a + nx, d = c + 1;
            int *q = cm->faces + 3 * f;
            if ((i + j) % 2 == 0) {
                q[0] = a, q[1] = b, q[2] = d, q[3] = a, q[4] = d, q[5] = c;
            } else {
                q[0] = a, q[1] = b, q[2] = c, q[3] = b, q[4] = d, q[5] = c;
            }
            f += 2;
        }
    if (build_rest_data(cm, "cloth grid")) {
        cloth_mesh_free(cm);
        return -1;
    }
    return 0;
}

int cloth_mesh_to_mesh(const cloth_mesh *cm, const double *x, mesh *out)
{
    mesh_init(out);
    if (mesh_alloc(out, (size_t)cm->n_verts, (size_t)cm->n_faces)) return -1;
    for (size_t i = 0; i < 3 * (size_t)cm->n_verts; ++i) out->positions[i] = (float)x[i];
    for (size_t i = 0; i < 3 * (size_t)cm->n_faces; ++i) out->faces[i] = (uint32_t)cm->faces[i];
    return 0;
}
