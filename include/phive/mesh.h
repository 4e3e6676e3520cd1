/* mesh.h — triangle meshes and point clouds, and their file formats (geom module).
 *
 * A mesh is float vertex positions (xyz, SI units) with optional per-vertex
 * normals, colours (RGB 0..255), texture coordinates, and triangles
 * (polygons are fan-triangulated on load).  A point cloud is a mesh with no
 * faces.  Readers reject truncated or inconsistent files with a message
 * naming the file and the line or element (err_set); writers are atomic
 * (temporary file + rename).
 */
#ifndef PHIVE_MESH_H
#define PHIVE_MESH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n_vertices, n_faces;
    float *positions;   /* n_vertices × 3 */
    float *normals;     /* n_vertices × 3 or NULL */
    uint8_t *colors;    /* n_vertices × 3 or NULL */
    float *uvs;         /* n_uvs × 2 or NULL (OBJ vt) */
    size_t n_uvs;
    uint32_t *faces;    /* n_faces × 3 vertex indices */
    uint32_t *face_uvs; /* n_faces × 3 uv indices or NULL */
} mesh;

void mesh_init(mesh *m);
void mesh_free(mesh *m);
/* Allocate positions and faces (and zero the optional arrays); m's previous
 * arrays are not freed. */
int mesh_alloc(mesh *m, size_t n_vertices, size_t n_faces);

/* By extension: .obj or .ply (any case); .ply is written binary.  Readers
 * overwrite m without freeing it and leave it empty (mesh_init) on failure.
 * OBJ normals become per-vertex normals when every vertex is given one value
 * by the faces (or, with no normal in any face, when there are as many vn as
 * v); otherwise they are dropped, as are face_uvs unless every face has them. */
int mesh_read(const char *path, mesh *m);
int mesh_write(const char *path, const mesh *m);

int mesh_read_obj(const char *path, mesh *m);
int mesh_write_obj(const char *path, const mesh *m);
int mesh_read_ply(const char *path, mesh *m);
/* binary: 0 = ASCII, 1 = binary little endian. */
int mesh_write_ply(const char *path, const mesh *m, int binary);

/* Check that the arrays a mesh's counts promise are there and that every face
 * and face-uv index is in range (writers call it before touching the file). */
int mesh_validate(const mesh *m);

/* Area-weighted vertex normals (n_vertices × 3, unit; zero for vertices no face uses). */
void mesh_vertex_normals(const mesh *m, float *normals);

#endif
