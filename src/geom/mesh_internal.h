/* mesh_internal.h — helpers shared by the mesh format modules (src/geom/mesh*.c only).
 * Whole-file reads and atomic writes are phive/fileio.h's. */
#ifndef PHIVE_MESH_INTERNAL_H
#define PHIVE_MESH_INTERNAL_H

#include <stddef.h>

#include "phive/mesh.h"

/* Parses a whole file held in memory (NUL-terminated; size excludes the NUL)
 * into m, which starts empty; on failure it calls err_set naming path. */
typedef int (*mesh_parse_fn)(const char *path, const char *data, size_t size, mesh *m);
/* mesh_init(m), read path whole (phive/fileio.h), parse it; on failure m is
 * left empty. */
int mesh_read_file(const char *path, mesh *m, mesh_parse_fn parse);
/* Make room for `needed` elements, growing the capacity geometrically. */
int mesh_grow(void **array, size_t *capacity, size_t needed, size_t elem_size);
/* Parse one decimal number after optional blanks (' ', '\t', '\r'); returns
 * the end of the number, or NULL when none is there or it is not finite.
 * Exact fast path up to 19 significant digits and exponents within ±22;
 * strtod (C locale, as phive never calls setlocale) beyond. */
const char *mesh_parse_number(const char *s, double *value);

#endif
