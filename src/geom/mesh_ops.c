/* mesh_ops.c — connected components (union-find), largest component, face
 * removal by a vertex mask, compaction of unreferenced vertices (contract in
 * phive/mesh_ops.h). */
#include "phive/mesh_ops.h"

#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"

/* Every face index must name a vertex, or the union-find and the remaps would
 * read out of bounds. */
static int check_faces(const mesh *m, const char *what)
{
    if (m->n_vertices > UINT32_MAX) return err_set("%s: %zu vertices exceed 32-bit indices", what, m->n_vertices);
    if ((m->n_faces && !m->faces) || (m->n_vertices && !m->positions))
        return err_set("%s: the mesh's counts promise arrays that are NULL", what);
    for (size_t i = 0; i < 3 * m->n_faces; ++i)
        if (m->faces[i] >= m->n_vertices)
            return err_set("%s: face %zu uses vertex %u of %zu", what, i / 3, m->faces[i], m->n_vertices);
    return 0;
}

/* Root of v with path halving; a parent is never above its child, so roots
 * are the smallest index of their set, whatever the face order. */
static uint32_t find_root(uint32_t *parent, uint32_t v)
{
    while (parent[v] != v) {
        parent[v] = parent[parent[v]];
        v = parent[v];
    }
    return v;
}

static void unite(uint32_t *parent, uint32_t a, uint32_t b)
{
    a = find_root(parent, a), b = find_root(parent, b);
    if (a < b) parent[b] = a;
    else if (b < a) parent[a] = b;
}

int mesh_components(const mesh *m, uint32_t *vertex_label, uint32_t *face_label, size_t *n_components)
{
    if (check_faces(m, "mesh_components")) return -1;
    uint32_t *parent = vertex_label; /* the labels array doubles as the forest */
    for (size_t v = 0; v < m->n_vertices; ++v) parent[v] = (uint32_t)v;
    for (size_t f = 0; f < m->n_faces; ++f) {
        const uint32_t *t = m->faces + 3 * f;
        unite(parent, t[0], t[1]);
        unite(parent, t[0], t[2]);
    }
    /* Parents never point upwards (parent[v] <= v, see unite), so one ascending
     * pass meets every root first and finds the parent's slot already holding
     * its label: the forest turns into labels in place, numbered by smallest
     * vertex. */
    size_t count = 0;
    for (size_t v = 0; v < m->n_vertices; ++v)
        vertex_label[v] = parent[v] == v ? (uint32_t)count++ : vertex_label[parent[v]];
    for (size_t f = 0; face_label && f < m->n_faces; ++f) face_label[f] = vertex_label[m->faces[3 * f]];
    if (n_components) *n_components = count;
    return 0;
}

/* Move the faces with keep_face[f] != 0 to the front (face_uvs alike). */
static size_t compact_faces(mesh *m, const uint8_t *keep_face)
{
    size_t kept = 0;
    for (size_t f = 0; f < m->n_faces; ++f) {
        if (!keep_face[f]) continue;
        if (kept != f) {
            memcpy(m->faces + 3 * kept, m->faces + 3 * f, 3 * sizeof *m->faces);
            if (m->face_uvs) memcpy(m->face_uvs + 3 * kept, m->face_uvs + 3 * f, 3 * sizeof *m->face_uvs);
        }
        ++kept;
    }
    size_t removed = m->n_faces - kept;
    m->n_faces = kept;
    return removed;
}

/* Face f survives when all three of its vertices are kept. */
static void faces_of_kept_vertices(const mesh *m, const uint8_t *keep, uint8_t *keep_face)
{
    for (size_t f = 0; f < m->n_faces; ++f) {
        const uint32_t *t = m->faces + 3 * f;
        keep_face[f] = keep[t[0]] && keep[t[1]] && keep[t[2]];
    }
}

int mesh_remove_faces_by_vertex_mask(mesh *m, const uint8_t *keep, size_t *n_removed)
{
    if (check_faces(m, "mesh_remove_faces_by_vertex_mask")) return -1;
    uint8_t *keep_face = malloc(m->n_faces ? m->n_faces : 1);
    if (!keep_face) return err_set("mesh_remove_faces_by_vertex_mask: out of memory for %zu faces", m->n_faces);
    faces_of_kept_vertices(m, keep, keep_face);
    size_t removed = compact_faces(m, keep_face);
    free(keep_face);
    if (n_removed) *n_removed = removed;
    return 0;
}

/* Drop the vertices with remap[v] == UINT32_MAX, renumbering the rest in
 * order into remap; the arrays shrink in place since a vertex only ever moves
 * towards the front.  The faces must not use a dropped vertex.  Cannot fail,
 * so callers allocate first and then edit. */
static size_t compact_marked_vertices(mesh *m, uint32_t *remap)
{
    size_t kept = 0;
    for (size_t v = 0; v < m->n_vertices; ++v) {
        if (remap[v] == UINT32_MAX) continue;
        remap[v] = (uint32_t)kept;
        if (kept != v) {
            memcpy(m->positions + 3 * kept, m->positions + 3 * v, 3 * sizeof *m->positions);
            if (m->normals) memcpy(m->normals + 3 * kept, m->normals + 3 * v, 3 * sizeof *m->normals);
            if (m->colors) memcpy(m->colors + 3 * kept, m->colors + 3 * v, 3 * sizeof *m->colors);
        }
        ++kept;
    }
    for (size_t i = 0; i < 3 * m->n_faces; ++i) m->faces[i] = remap[m->faces[i]];
    size_t removed = m->n_vertices - kept;
    m->n_vertices = kept;
    return removed;
}

/* Compact away the vertices no face uses (remap: n_vertices entries of scratch). */
static size_t compact_vertices(mesh *m, uint32_t *remap)
{
    for (size_t v = 0; v < m->n_vertices; ++v) remap[v] = UINT32_MAX;
    for (size_t i = 0; i < 3 * m->n_faces; ++i) remap[m->faces[i]] = 0;
    return compact_marked_vertices(m, remap);
}

int mesh_remove_unreferenced_vertices(mesh *m, size_t *n_removed)
{
    if (check_faces(m, "mesh_remove_unreferenced_vertices")) return -1;
    uint32_t *remap = malloc((m->n_vertices ? m->n_vertices : 1) * sizeof *remap);
    if (!remap) return err_set("mesh_remove_unreferenced_vertices: out of memory for %zu vertices", m->n_vertices);
    size_t removed = compact_vertices(m, remap);
    free(remap);
    if (n_removed) *n_removed = removed;
    return 0;
}

int mesh_remove_vertices_by_mask(mesh *m, const uint8_t *keep, size_t *n_vertices_removed, size_t *n_faces_removed)
{
    if (check_faces(m, "mesh_remove_vertices_by_mask")) return -1;
    uint8_t *keep_face = malloc(m->n_faces ? m->n_faces : 1);
    uint32_t *remap = malloc((m->n_vertices ? m->n_vertices : 1) * sizeof *remap);
    if (!keep_face || !remap) {
        free(keep_face);
        free(remap);
        return err_set("mesh_remove_vertices_by_mask: out of memory for %zu vertices", m->n_vertices);
    }
    faces_of_kept_vertices(m, keep, keep_face);
    size_t faces_removed = compact_faces(m, keep_face);
    for (size_t v = 0; v < m->n_vertices; ++v) remap[v] = keep[v] ? 0 : UINT32_MAX;
    size_t vertices_removed = compact_marked_vertices(m, remap);
    free(keep_face);
    free(remap);
    if (n_vertices_removed) *n_vertices_removed = vertices_removed;
    if (n_faces_removed) *n_faces_removed = faces_removed;
    return 0;
}

/* The component with the most faces; ties to the lowest label (smallest vertex). */
static uint32_t largest_label(const uint32_t *face_label, size_t n_faces, size_t *count, size_t n_components)
{
    for (size_t f = 0; f < n_faces; ++f) ++count[face_label[f]];
    uint32_t best = 0;
    for (size_t c = 1; c < n_components; ++c)
        if (count[c] > count[best]) best = (uint32_t)c;
    return best;
}

int mesh_keep_largest_component(mesh *m, size_t *n_faces_removed)
{
    if (check_faces(m, "mesh_keep_largest_component")) return -1;
    if (n_faces_removed) *n_faces_removed = 0;
    if (m->n_faces == 0) return 0;
    size_t nv = m->n_vertices, nf = m->n_faces, n_components = 0;
    uint32_t *vertex_label = malloc(nv * sizeof *vertex_label), *face_label = malloc(nf * sizeof *face_label);
    size_t *count = calloc(nv, sizeof *count);
    uint8_t *keep_face = malloc(nf);
    int status = vertex_label && face_label && count && keep_face
                     ? 0
                     : err_set("mesh_keep_largest_component: out of memory for %zu vertices, %zu faces", nv, nf);
    if (!status) status = mesh_components(m, vertex_label, face_label, &n_components);
    if (!status) {
        uint32_t best = largest_label(face_label, nf, count, n_components);
        for (size_t f = 0; f < nf; ++f) keep_face[f] = face_label[f] == best;
        size_t removed = compact_faces(m, keep_face);
        compact_vertices(m, vertex_label); /* the labels are spent: reuse them as the remap */
        if (n_faces_removed) *n_faces_removed = removed;
    }
    free(vertex_label);
    free(face_label);
    free(count);
    free(keep_face);
    return status;
}
