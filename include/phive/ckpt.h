/* ckpt.h — training checkpoints in HDF5 (ckpt.h5).
 *
 * A checkpoint holds everything a job needs to continue bit-identically:
 * the named parameter tensors (/params/<name>), Adam's moments
 * (/adam/m/<name>, /adam/v/<name>) and step, the RNG state, the iteration,
 * the metric series so far (/metrics/<name>), and the hash of the
 * effective config.  It is written atomically (h5io); loading checks every
 * shape and refuses a checkpoint of another config.
 */
#ifndef PHIVE_CKPT_H
#define PHIVE_CKPT_H

#include <stdint.h>

#include "phive/metrics.h"
#include "phive/opt.h"
#include "phive/params.h"
#include "phive/rng.h"

typedef struct {
    param_set *params;
    adam *opt;       /* may be NULL */
    rng_t *rng;      /* may be NULL */
    long iteration;  /* iterations completed */
    metrics *series; /* may be NULL */
    uint64_t config_hash;
} train_state;

int ckpt_save(const char *path, const train_state *s);
/* Fills params/opt/rng/series/iteration; an existing but unreadable file is an error (never deleted). */
int ckpt_load(const char *path, train_state *s);

#endif
