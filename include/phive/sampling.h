/* sampling.h — points on mesh surfaces and radius thinning of point sets (geom module).
 *
 * Everything here is seeded and deterministic: the same inputs and seed give
 * the same output bit for bit, whatever the number of OpenMP threads.  Sample
 * i draws its random numbers with rng_uniform2_at at counter i (streams
 * private to this module), so it does not depend on who computes it.
 * Output arrays are allocated by the caller.
 */
#ifndef PHIVE_SAMPLING_H
#define PHIVE_SAMPLING_H

#include <stddef.h>
#include <stdint.h>

#include "phive/mesh.h"

/* Area-weighted uniform samples on the triangles of m (evaluation protocols:
 * "sample as many points as the ground-truth cloud has, area-weighted, seeded").
 *   points       n × 3, the samples
 *   face         n face indices, or NULL
 *   barycentric  n × 3 weights of the face's vertices (faces[3f+0..2]), sum 1,
 *                or NULL; interpolate normals or colours with them
 * Fails (-1, err_set) when m has no faces, a face index is out of range, a
 * vertex is non-finite, or the total area is zero.  Zero-area faces are never
 * chosen. */
int mesh_sample_surface(const mesh *m, size_t n, uint64_t seed, float *points, uint32_t *face, float *barycentric);

/* A seeded uniform random permutation of 0..n-1 (Fisher–Yates over Philox). */
int sampling_permutation(size_t n, uint64_t seed, uint32_t *order);

/* Greedy radius thinning in a given visiting order, as DTU's evaluation does
 * after shuffling: point order[k] is kept unless a point kept before it lies
 * within distance <= radius (sklearn radius_neighbors convention).  The kept
 * set is therefore pairwise farther apart than radius, and every dropped point
 * is within radius of a kept one.
 *   order   a permutation of 0..n-1 (NULL = 0, 1, ..., n-1)
 *   keep    n flags, 1 = kept (indexed like points)
 *   n_kept  number of kept points (may be NULL)
 * Uses a spatial hash grid of cell size radius: O(n) expected. */
int points_thin_radius_ordered(const float *points, size_t n, const uint32_t *order, double radius, uint8_t *keep,
                               size_t *n_kept);

/* The same after visiting the points in sampling_permutation(n, seed) order. */
int points_thin_radius(const float *points, size_t n, double radius, uint64_t seed, uint8_t *keep, size_t *n_kept);

#endif
