/* neus_mesh.c — the surface of a NeuS model: marching cubes of its SDF (see nsr.h).
 *
 * neus_sdf_mesh is the one implementation of the mesh export: the neus job
 * calls it at the end of training (<job dir>/mesh.ply) and `phive mesh`
 * (neus_mesh_export) on the parameters of a job's checkpoint.  The model is
 * rebuilt from the job's effective config with neus_job_model, the function
 * training uses, so both see the same tensors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phive/ckpt.h"
#include "phive/errors.h"
#include "phive/h5io.h"
#include "phive/log.h"
#include "phive/mcubes.h"
#include "phive/nsr.h"
#include "phive/nsr_data.h"

#define GRID_ROWS 32768 /* grid points per SDF forward pass */

int neus_sdf_grid(const neus_model *m, const param_set *p, int res, double lo, double hi, int z0, int z1, float *grid)
{
    if (res < 2 || z0 < 0 || z1 < z0 || z1 >= res) return err_set("SDF grid: slices %d..%d of %d", z0, z1, res);
    mlp_buffers buf;
    real *x = malloc((size_t)GRID_ROWS * 3 * sizeof *x);
    if (!x) return err_set("out of memory for the mesh grid");
    if (mlp_buffers_alloc(&buf, &m->sdf, GRID_ROWS)) {
        free(x);
        return -1;
    }
    long total = (long)res * res * (z1 - z0 + 1);
    double step = (hi - lo) / (res - 1);
    for (long start = 0; start < total; start += GRID_ROWS) {
        int rows = (int)(total - start < GRID_ROWS ? total - start : GRID_ROWS);
        for (int r = 0; r < rows; ++r) {
            long cell = start + r;
            long idx[3] = {cell % res, (cell / res) % res, z0 + cell / ((long)res * res)};
            for (int c = 0; c < 3; ++c) x[3 * r + c] = (real)(lo + step * idx[c]);
        }
        m->enc_xyz.ops->forward(&m->enc_xyz, p, x, rows, buf.act[0]);
        mlp_forward_cols(&m->sdf, p, &buf, rows, 1); /* the SDF column only, not the features */
        const real *y = buf.act[m->sdf.n_layers];
        for (int r = 0; r < rows; ++r) grid[start + r] = (float)y[(size_t)r * m->sdf_out];
    }
    mlp_buffers_free(&buf, &m->sdf);
    free(x);
    return 0;
}

int neus_sdf_mesh(const neus_model *m, const param_set *p, int res, const double scale_mat0[16], mesh *out)
{
    if (res < 2) return err_set("mesh resolution %d: at least 2 grid points per axis", res);
    size_t n = (size_t)res * res * res;
    float *grid = malloc(n * sizeof *grid);
    if (!grid) return err_set("out of memory for a %d^3 grid", res);
    int status = neus_sdf_grid(m, p, res, -1.01, 1.01, 0, res - 1, grid);
    if (!status) {
        mcubes_options o;
        mcubes_options_init(&o);
        o.orientation = MCUBES_TOWARD_INCREASING;
        /* world = S · (−1.01 + step·i, …, 1) */
        double step = 2.02 / (res - 1), A[16] = {step, 0, 0, -1.01, 0, step, 0, -1.01, 0, 0, step, -1.01, 0, 0, 0, 1};
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                double acc = 0;
                for (int k = 0; k < 4; ++k) acc += scale_mat0[4 * i + k] * A[4 * k + j];
                o.grid_to_world[4 * i + j] = acc;
            }
        status = mcubes_extract(grid, (size_t)res, (size_t)res, (size_t)res, &o, out);
    }
    free(grid);
    return status;
}

/* ---- phive mesh ------------------------------------------------------------------------------- */

/* result.h5's copy of the config, for checkpoints written before they stored it; *text NULL when
 * there is no result.h5 either. */
static int result_config_text(const char *job_dir, char **text, char *origin, size_t size)
{
    snprintf(origin, size, "%s/result.h5", job_dir);
    if (access(origin, F_OK)) return 0;
    hid_t file;
    if (h5_open_read(origin, &file)) return -1;
    int status = h5_attr_exists(file, ".", "config") ? h5_attr_read_str(file, ".", "config", text) : 0;
    h5_close(file);
    return status ? -1 : 0;
}

/* The job's validated effective config (owned by the caller), which must be a neus job's. */
static int job_config(const char *job_dir, const char *ckpt, config **out)
{
    char *text = NULL, origin[4200];
    snprintf(origin, sizeof origin, "%s", ckpt);
    if (ckpt_read_config(ckpt, &text)) return -1;
    if (!text && result_config_text(job_dir, &text, origin, sizeof origin)) return -1;
    if (!text) return err_set("%s stores no config and %s/result.h5 does not exist: cannot rebuild the model", ckpt, job_dir);
    config *cfg = config_new();
    int status = cfg ? config_load_string(cfg, text, origin, NULL) : err_set("out of memory");
    free(text);
    const char *type = status ? NULL : config_lookup(cfg, "job.type");
    if (!status && (!type || strcmp(type, nsr_neus_job.name)))
        status = err_set("%s: job.type is '%s'; phive mesh needs a %s job", origin, type ? type : "", nsr_neus_job.name);
    const cfg_spec *schemas[] = {job_common_schema, nsr_neus_job.schema, NULL};
    if (!status && config_validate(cfg, schemas)) status = err_context("%s", origin);
    if (status) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

/* scale_mat_0 of the job's data set (cameras only, no image decoded). */
static int job_scale_mat(const config *cfg, double scale_mat0[16])
{
    nsr_dataset ds;
    char root[4096];
    if (neus_load_data(cfg, 1, root, sizeof root, &ds)) return -1;
    memcpy(scale_mat0, ds.scale_mat0, sizeof ds.scale_mat0);
    nsr_dataset_free(&ds);
    return 0;
}

/* Model of cfg with the checkpoint's parameters (read only); *iteration: the checkpoint's. */
static int load_model(const config *cfg, const char *ckpt, neus_model *m, param_set *p, long *iteration)
{
    if (neus_job_model(cfg, m, p) || neus_restore_structure(m, p, NULL, ckpt)) return -1;
    train_state state = {.params = p}; /* the config is the checkpoint's own: no hash to compare */
    if (ckpt_load(ckpt, &state)) return -1;
    *iteration = state.iteration;
    return 0;
}

/* The job directory and its checkpoint, checked before anything is read. */
static int check_job(const char *job_dir, const char *ckpt)
{
    struct stat st;
    if (stat(job_dir, &st) || !S_ISDIR(st.st_mode)) return err_set("%s: no such job directory", job_dir);
    if (access(ckpt, R_OK)) return err_set("%s: no checkpoint (has the job run?): %s", ckpt, strerror(errno));
    return 0;
}

/* The job's directory (without trailing slashes, so "dir/" names files "dir/x"), its checkpoint
 * and its validated config (*cfg, owned by the caller), checked before any tensor is read. */
static int open_job(const char *job_dir_arg, char *job_dir, size_t dir_size, char *ckpt, size_t ckpt_size, config **cfg)
{
    if (snprintf(job_dir, dir_size, "%s", job_dir_arg) >= (int)dir_size)
        return err_set("job directory path too long: %s", job_dir_arg);
    for (size_t n = strlen(job_dir); n > 1 && job_dir[n - 1] == '/'; --n) job_dir[n - 1] = '\0';
    snprintf(ckpt, ckpt_size, "%s/ckpt.h5", job_dir);
    *cfg = NULL;
    return check_job(job_dir, ckpt) || job_config(job_dir, ckpt, cfg) ? -1 : 0;
}

int neus_checkpoint_model(const char *job_dir_arg, config **cfg, neus_model *m, param_set *p, long *iteration)
{
    char job_dir[4096], ckpt[4200];
    memset(m, 0, sizeof *m);
    params_init(p);
    if (open_job(job_dir_arg, job_dir, sizeof job_dir, ckpt, sizeof ckpt, cfg)) return -1;
    if (load_model(*cfg, ckpt, m, p, iteration)) {
        params_free(p);
        neus_model_free(m);
        config_free(*cfg);
        *cfg = NULL;
        return -1;
    }
    return 0;
}

int neus_mesh_export(const char *job_dir_arg, int resolution, const char *out, int force)
{
    char job_dir[4096], ckpt[4200], default_out[4200];
    config *cfg = NULL;
    if (open_job(job_dir_arg, job_dir, sizeof job_dir, ckpt, sizeof ckpt, &cfg)) return -1;
    int res = resolution > 0 ? resolution : (int)config_int(cfg, "mesh.resolution");
    if (res < 2) {
        config_free(cfg);
        return err_set("%s: the job's mesh.resolution is %d (no mesh): give --resolution N", ckpt, res);
    }
    snprintf(default_out, sizeof default_out, "%s/mesh_%d.ply", job_dir, res);
    const char *path = out ? out : default_out;
    double scale_mat0[16];
    neus_model model;
    memset(&model, 0, sizeof model);
    param_set params;
    params_init(&params);
    mesh surface;
    mesh_init(&surface);
    long iteration = 0;
    /* an existing output is refused before the work, and kept as it is */
    int status = (!force && !access(path, F_OK) ? err_set("%s exists (--force replaces it)", path) : 0) ||
                 job_scale_mat(cfg, scale_mat0) || load_model(cfg, ckpt, &model, &params, &iteration) ||
                 neus_sdf_mesh(&model, &params, res, scale_mat0, &surface) || mesh_write(path, &surface);
    if (!status)
        log_info("%s: %zu vertices, %zu faces (resolution %d, checkpoint of iteration %ld)", path, surface.n_vertices,
                 surface.n_faces, res, iteration);
    mesh_free(&surface);
    params_free(&params);
    neus_model_free(&model);
    config_free(cfg);
    return status ? -1 : 0;
}
