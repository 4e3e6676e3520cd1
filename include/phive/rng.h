/* rng.h — seeded, counter-based random numbers (Philox4x32-10).
 *
 * An rng_t is a key (from the job seed and a stream id) plus a position; its
 * whole state is two 64-bit words, stored in checkpoints so that a resumed
 * job draws exactly the numbers an uninterrupted run would.
 */
#ifndef PHIVE_RNG_H
#define PHIVE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t key;      /* derived from seed and stream */
    uint64_t position; /* counter of 4-word blocks drawn */
} rng_t;

void rng_seed(rng_t *rng, uint64_t seed, uint64_t stream);
double rng_uniform(rng_t *rng);                 /* [0, 1) */
double rng_normal(rng_t *rng);                  /* N(0, 1), Box–Muller */
/* Stateless draw: two uniforms for element `index` of draw `stream` under this key. */
void rng_uniform2_at(const rng_t *rng, uint64_t stream, uint64_t index, double u[2]);

#endif
