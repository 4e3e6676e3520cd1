/* ckpt.h — training checkpoints in HDF5 (ckpt.h5).
 *
 * A checkpoint holds everything a job needs to continue bit-identically:
 * the named parameter tensors (/params/<name>), Adam's moments
 * (/adam/m/<name>, /adam/v/<name>) and step, the RNG state, the iteration,
 * the metric series so far (/metrics/<name>), the integer arrays that
 * describe a model's structure (/structure/<name>: the active bricks of
 * sparse volumes, which fix the shapes of their tensors), and the hash of the
 * effective config; jobs also store the config's text (root attribute
 * `config`, as result.h5 has it) so that tools such as `phive mesh` can
 * rebuild the model of an interrupted job, which has no result.h5.  It is
 * written atomically (h5io); loading checks every shape and refuses a
 * checkpoint of another config.
 */
#ifndef PHIVE_CKPT_H
#define PHIVE_CKPT_H

#include <stdint.h>

#include "phive/metrics.h"
#include "phive/opt.h"
#include "phive/params.h"
#include "phive/rng.h"

/* A named array of a model's structure (ids, counts). */
typedef struct {
    const char *name;
    const uint64_t *data;
    size_t count;
} ckpt_array;

typedef struct {
    param_set *params;
    adam *opt;       /* may be NULL */
    rng_t *rng;      /* may be NULL */
    long iteration;  /* iterations completed */
    metrics *series; /* may be NULL */
    uint64_t config_hash; /* ckpt_load: 0 skips the check, for readers that take the checkpoint's own
                           * config (phive mesh), which an older schema may hash differently */
    const ckpt_array *structure; /* written by ckpt_save (may be NULL); read before loading with ckpt_read_array */
    int n_structure;
} train_state;

int ckpt_save(const char *path, const train_state *s);
/* ckpt_save plus the effective config's text (config_dump) in the root attribute `config`. */
int ckpt_save_with_config(const char *path, const train_state *s, const char *config_text);
/* Fills params/opt/rng/series/iteration; an existing but unreadable file is an error (never deleted). */
int ckpt_load(const char *path, train_state *s);
/* The config text a checkpoint stores (malloc'd), NULL when it stores none (checkpoints written
 * before jobs stored it); -1 (err_set naming the file) when the file cannot be read. */
int ckpt_read_config(const char *path, char **config_text);
/* Structure array `name` of a checkpoint (malloc'd; *data NULL and *count 0 when it has none), to
 * shape the model before ckpt_load; -1 (err_set naming the file) when it cannot be read. */
int ckpt_read_array(const char *path, const char *name, uint64_t **data, size_t *count);

#endif
