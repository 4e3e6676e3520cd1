/* mesh_internal.h — helpers shared by the mesh format modules (src/geom/mesh*.c only). */
#ifndef PHIVE_MESH_INTERNAL_H
#define PHIVE_MESH_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "phive/mesh.h"

/* The whole file in memory, NUL-terminated (*size excludes the NUL). */
int mesh_load_file(const char *path, char **data, size_t *size);
/* Make room for `needed` elements, growing the capacity geometrically. */
int mesh_grow(void **array, size_t *capacity, size_t needed, size_t elem_size);
/* Parse one decimal number after optional blanks (' ', '\t', '\r'); returns
 * the end of the number, or NULL when none is there or it is not finite.
 * Exact fast path up to 19 significant digits and exponents within ±22;
 * strtod (C locale, as phive never calls setlocale) beyond. */
const char *mesh_parse_number(const char *s, double *value);

/* Atomic writer: "<path>.tmp.<pid>" is renamed over `path` on commit. */
typedef struct {
    FILE *file;
    char *path, *tmp_path;
    char *buffer; /* stdio buffer */
} mesh_writer;
int mesh_writer_open(mesh_writer *w, const char *path);
/* fflush + fsync + close + rename; aborts (removes the temporary) on failure. */
int mesh_writer_commit(mesh_writer *w);
void mesh_writer_abort(mesh_writer *w);

#endif
