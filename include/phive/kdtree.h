/* kdtree.h — exact nearest neighbours in 3D (geom module).
 *
 * Built once over a point array (the tree keeps its own reordered copy, so
 * the caller may free the points); queries are exact and thread-safe, and
 * the batch query runs over OpenMP threads.
 */
#ifndef PHIVE_KDTREE_H
#define PHIVE_KDTREE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kdtree kdtree;

kdtree *kdtree_build(const float *points, size_t n);
void kdtree_free(kdtree *t);
/* Index of the nearest point to q and its squared distance (double). */
size_t kdtree_nearest(const kdtree *t, const float q[3], double *dist2);
/* For each of n query points: nearest index (may be NULL) and squared distance. */
void kdtree_nearest_batch(const kdtree *t, const float *queries, size_t n, uint32_t *index, double *dist2);

#endif
