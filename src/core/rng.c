/* rng.c — stateful convenience over the Philox kernel in kernels/rng.h. */
#include "phive/rng.h"

#include <math.h>

#include "rng.h"

static void key_words(uint64_t key, uint32_t words[2])
{
    words[0] = (uint32_t)key;
    words[1] = (uint32_t)(key >> 32);
}

void rng_seed(rng_t *rng, uint64_t seed, uint64_t stream)
{
    /* splitmix64 of (seed, stream): nearby seeds give unrelated keys */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    rng->key = z ^ (z >> 31);
    rng->position = 0;
}

void rng_uniform2_at(const rng_t *rng, uint64_t stream, uint64_t index, double u[2])
{
    uint32_t key[2];
    key_words(rng->key, key);
    philox_uniform2(key, stream, index, u);
}

/* Stream 2^63 is reserved for the sequential generator. */
#define SEQUENTIAL_STREAM (1ull << 63)

double rng_uniform(rng_t *rng)
{
    double u[2];
    rng_uniform2_at(rng, SEQUENTIAL_STREAM, rng->position++, u);
    return u[0];
}

double rng_normal(rng_t *rng)
{
    double u[2];
    rng_uniform2_at(rng, SEQUENTIAL_STREAM, rng->position++, u);
    return sqrt(-2.0 * log(1.0 - u[0])) * cos(2.0 * M_PI * u[1]);
}
