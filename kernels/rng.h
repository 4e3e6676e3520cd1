/* rng.h — Philox4x32-10 (Salmon et al. 2011), the project's one generator.
 *
 * Counter-based: the output is a pure function of (key, counter), so sample
 * i of iteration t can be drawn by whichever rank or thread handles it, and
 * a job is reproducible for a fixed seed whatever the rank count.
 */
#ifndef PHIVE_KERNELS_RNG_H
#define PHIVE_KERNELS_RNG_H

#include <stdint.h>

#include "common.h"

PHIVE_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi)
{
    uint64_t product = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(product >> 32);
    return (uint32_t)product;
}

/* Ten rounds of Philox4x32 on counter c with key k; writes 4 random words. */
PHIVE_HD void philox4x32(const uint32_t c[4], const uint32_t k[2], uint32_t out[4])
{
    uint32_t x0 = c[0], x1 = c[1], x2 = c[2], x3 = c[3];
    uint32_t k0 = k[0], k1 = k[1];
    for (int round = 0; round < 10; ++round) {
        uint32_t hi0, hi1;
        uint32_t lo0 = philox_mulhilo(0xD2511F53u, x0, &hi0);
        uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, x2, &hi1);
        x0 = hi1 ^ x1 ^ k0;
        x1 = lo1;
        x2 = hi0 ^ x3 ^ k1;
        x3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = x0; out[1] = x1; out[2] = x2; out[3] = x3;
}

/* A uniform double in [0, 1) from two words (53 random bits). */
PHIVE_HD double philox_to_unit(uint32_t hi, uint32_t lo)
{
    uint64_t bits = ((uint64_t)hi << 21) ^ (uint64_t)(lo >> 11);
    return (double)(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

/* Two uniforms in [0, 1) for element `index` of draw `stream` under `key`. */
PHIVE_HD void philox_uniform2(const uint32_t key[2], uint64_t stream, uint64_t index, double u[2])
{
    uint32_t counter[4] = {(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream,
                           (uint32_t)(stream >> 32)};
    uint32_t words[4];
    philox4x32(counter, key, words);
    u[0] = philox_to_unit(words[0], words[1]);
    u[1] = philox_to_unit(words[2], words[3]);
}

#endif
