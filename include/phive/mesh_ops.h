/* mesh_ops.h — topological clean-up of triangle meshes (geom module).
 *
 * Connected components over shared vertices, keeping the largest one,
 * dropping faces by a per-vertex mask and compacting away vertices no face
 * uses.  These are the steps of the mesh cleaning that evaluation protocols
 * apply before measuring (NeuS/NeuralWarp mask cleaning, VolSDF's "largest
 * component above the ground plane").
 *
 * Edits are in place and keep what rides along: per-vertex normals and
 * colours follow their vertices, face_uvs follow their faces, uvs are left as
 * they are (face_uvs index them, not the vertices).  Face order and vertex
 * order are preserved among the survivors, so results are deterministic.
 * Functions return 0, or -1 with err_set() (a face index out of range, out of
 * memory); on failure the mesh is left unchanged.
 */
#ifndef PHIVE_MESH_OPS_H
#define PHIVE_MESH_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "phive/mesh.h"

/* Connected components: two vertices are connected when a face uses both
 * (sharing one vertex is enough; edge adjacency is not required).
 *   vertex_label  n_vertices entries, the component of each vertex; components
 *                 are numbered 0, 1, ... in the order of their smallest vertex
 *                 index.  A vertex no face uses is a component of its own.
 *   face_label    n_faces entries (or NULL): the component of each face.
 *   n_components  number of components (may be NULL). */
int mesh_components(const mesh *m, uint32_t *vertex_label, uint32_t *face_label, size_t *n_components);

/* Keep only the largest component, measured by its number of faces (not
 * vertices or area: a marching-cubes mesh's faces track its surface area
 * closely, and floating specks have few faces whatever their vertex count);
 * ties go to the component with the smallest vertex index.  The other faces
 * are removed and then every vertex no remaining face uses (isolated vertices
 * included).  A mesh without faces is left as it is.  n_faces_removed may be
 * NULL. */
int mesh_keep_largest_component(mesh *m, size_t *n_faces_removed);

/* Remove the vertices no face uses: positions, normals and colours are
 * compacted and faces renumbered.  n_removed may be NULL. */
int mesh_remove_unreferenced_vertices(mesh *m, size_t *n_removed);

/* Remove every face that uses a vertex with keep[v] == 0 (keep: n_vertices
 * flags).  Vertices stay; follow with mesh_remove_unreferenced_vertices() to
 * drop the rejected vertices together with those left without a face.
 * n_removed may be NULL. */
int mesh_remove_faces_by_vertex_mask(mesh *m, const uint8_t *keep, size_t *n_removed);

/* Remove the vertices with keep[v] == 0 and every face that uses one (the
 * NeuS cleaning's semantics).  Kept vertices stay even when they lose all
 * their faces, so a point cloud (no faces) is filtered like a mesh.  Either
 * count may be NULL. */
int mesh_remove_vertices_by_mask(mesh *m, const uint8_t *keep, size_t *n_vertices_removed, size_t *n_faces_removed);

#endif
