/* material.c — ARCSim material files and the 30³ stretching table (see cloth_material.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/cloth_material.h"
#include "phive/errors.h"
#include "phive/fileio.h"

#include "cloth_material.h" /* kernels/: the per-element math */

void cloth_material_options_init(cloth_material_options *o)
{
    o->density_mult = o->stretching_mult = o->bending_mult = o->thicken = 1;
}

static int check_multiplier(const char *path, const char *name, double value)
{
    if (!(value > 0) || !isfinite(value))
        return err_set("%s: %s %g must be positive and finite", path, name, value);
    return 0;
}

/* A number of the file stored as `double`: finite before and after the conversion. */
static int json_real(const char *path, const char *what, const cJSON *item, double *out)
{
    if (!cJSON_IsNumber(item)) return err_set("%s: %s is not a number", path, what);
    if (!isfinite(item->valuedouble)) return err_set("%s: %s is not finite", path, what);
    double v = (double)item->valuedouble;
    if (!isfinite(v)) return err_set("%s: %s = %g does not fit a %s", path, what, item->valuedouble, PHIVE_REAL_NAME);
    *out = v;
    return 0;
}

static int json_matrix(const char *path, const char *key, const cJSON *item, int rows, int cols, double *out)
{
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != rows)
        return err_set("%s: '%s' must be an array of %d rows of %d numbers", path, key, rows, cols);
    int r = 0;
    for (const cJSON *row = item->child; row; row = row->next, ++r) {
        if (!cJSON_IsArray(row)) return err_set("%s: '%s' row %d is not an array", path, key, r);
        int n = cJSON_GetArraySize(row);
        if (n != cols) return err_set("%s: '%s' row %d has %d entries, expected %d", path, key, r, n, cols);
        int c = 0;
        for (const cJSON *v = row->child; v; v = v->next, ++c) {
            char what[64];
            snprintf(what, sizeof what, "'%s'[%d][%d]", key, r, c);
            if (json_real(path, what, v, &out[cols * r + c])) return -1;
        }
    }
    return 0;
}

static int line_of(const char *text, const char *at)
{
    int line = 1;
    for (const char *p = text; p < at && *p; ++p) line += *p == '\n';
    return line;
}

static int parse_material(const char *path, const cJSON *root, cloth_material *m)
{
    static const char *const known[] = {"density", "stretching", "bending", "units"};
    const cJSON *found[4] = {NULL, NULL, NULL, NULL};
    if (!cJSON_IsObject(root)) return err_set("%s: expected a JSON object with density, stretching and bending", path);
    for (const cJSON *item = root->child; item; item = item->next) {
        int k = 0;
        while (k < 4 && strcmp(item->string, known[k])) ++k;
        if (k == 4)
            return err_set("%s: unknown key '%s' (a material file has density, stretching, bending and "
                           "optionally units)", path, item->string);
        if (found[k]) return err_set("%s: duplicate key '%s'", path, item->string);
        found[k] = item;
    }
    for (int k = 0; k < 3; ++k)
        if (!found[k]) return err_set("%s: missing key '%s'", path, known[k]);
    int phisft = 0;
    if (found[3]) {
        const char *units = cJSON_GetStringValue(found[3]);
        if (!units) return err_set("%s: 'units' must be a string (\"si\" or \"phisft\")", path);
        if (!strcmp(units, "phisft"))
            phisft = 1;
        else if (strcmp(units, "si"))
            return err_set("%s: unknown units '%s' (expected \"si\" or \"phisft\")", path, units);
    }
    if (json_real(path, "'density'", found[0], &m->density)) return -1;
    if (!(m->density > 0)) return err_set("%s: 'density' %g must be positive", path, (double)m->density);
    if (json_matrix(path, "stretching", found[1], CLOTH_STRETCH_ROWS, CLOTH_STRETCH_K, &m->stretching[0][0]) ||
        json_matrix(path, "bending", found[2], CLOTH_BEND_ANGLES, CLOTH_BEND_CURVATURES, &m->bending[0][0]))
        return -1;
    if (phisft) {
        for (int e = 0; e < CLOTH_STRETCH_ENTRIES; ++e) (&m->stretching[0][0])[e] *= (double)CLOTH_PHISFT_STRETCHING_TO_SI;
        for (int e = 0; e < CLOTH_BEND_ENTRIES; ++e) (&m->bending[0][0])[e] *= (double)CLOTH_PHISFT_BENDING_TO_SI;
    }
    return 0;
}

int cloth_material_load(const char *path, const cloth_material_options *opt, cloth_material *mat)
{
    cloth_material_options defaults;
    cloth_material_options_init(&defaults);
    if (!opt) opt = &defaults;
    if (check_multiplier(path, "density_mult", opt->density_mult) ||
        check_multiplier(path, "stretching_mult", opt->stretching_mult) ||
        check_multiplier(path, "bending_mult", opt->bending_mult) || check_multiplier(path, "thicken", opt->thicken))
        return -1;
    char *text;
    size_t size;
    if (file_read_all(path, &text, &size)) return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    if (!root) {
        int line = line_of(text, end ? end : text + size);
        free(text);
        return err_set("%s: malformed JSON near line %d", path, line);
    }
    cloth_material m;
    memset(&m, 0, sizeof m);
    int rc = parse_material(path, root, &m);
    cJSON_Delete(root);
    free(text);
    if (rc) return -1;
    const double dm = (double)(opt->density_mult * opt->thicken), sm = (double)(opt->stretching_mult * opt->thicken),
               bm = (double)(opt->bending_mult * opt->thicken);
    m.density *= dm;
    for (int e = 0; e < CLOTH_STRETCH_ENTRIES; ++e) (&m.stretching[0][0])[e] *= sm;
    for (int e = 0; e < CLOTH_BEND_ENTRIES; ++e) (&m.bending[0][0])[e] *= bm;
    int finite = isfinite(m.density);
    for (int e = 0; e < CLOTH_STRETCH_ENTRIES; ++e) finite &= isfinite((&m.stretching[0][0])[e]);
    for (int e = 0; e < CLOTH_BEND_ENTRIES; ++e) finite &= isfinite((&m.bending[0][0])[e]);
    if (!finite) return err_set("%s: the multipliers make values overflow a double", path);
    *mat = m;
    return 0;
}

/* A number as raw JSON text with 17 significant digits: cJSON's own printer accepts 15 digits
 * when they read back within a relative epsilon, which is not an exact round trip. */
static cJSON *json_number(double value)
{
    char text[32];
    snprintf(text, sizeof text, "%.17g", value);
    return cJSON_CreateRaw(text);
}

static cJSON *json_rows(const double *values, int rows, int cols)
{
    cJSON *array = cJSON_CreateArray();
    for (int r = 0; array && r < rows; ++r) {
        cJSON *row = cJSON_CreateArray();
        if (!row || !cJSON_AddItemToArray(array, row)) {
            cJSON_Delete(row);
            cJSON_Delete(array);
            return NULL;
        }
        for (int c = 0; c < cols; ++c) {
            cJSON *item = json_number(values[cols * r + c]);
            if (!item || !cJSON_AddItemToArray(row, item)) {
                cJSON_Delete(item);
                cJSON_Delete(array);
                return NULL;
            }
        }
    }
    return array;
}

int cloth_material_save(const char *path, const cloth_material *mat)
{
    int finite = isfinite(mat->density);
    for (int e = 0; e < CLOTH_STRETCH_ENTRIES; ++e) finite &= isfinite((&mat->stretching[0][0])[e]);
    for (int e = 0; e < CLOTH_BEND_ENTRIES; ++e) finite &= isfinite((&mat->bending[0][0])[e]);
    if (!finite) return err_set("%s: refusing to write a material with non-finite values", path);
    cJSON *root = cJSON_CreateObject();
    cJSON *st = json_rows(&mat->stretching[0][0], CLOTH_STRETCH_ROWS, CLOTH_STRETCH_K);
    cJSON *be = json_rows(&mat->bending[0][0], CLOTH_BEND_ANGLES, CLOTH_BEND_CURVATURES);
    char *text = NULL;
    if (root && st && be && cJSON_AddItemToObject(root, "density", json_number(mat->density)) &&
        cJSON_AddItemToObject(root, "stretching", st)) {
        st = NULL;
        if (cJSON_AddItemToObject(root, "bending", be)) {
            be = NULL;
            text = cJSON_Print(root);
        }
    }
    cJSON_Delete(st);
    cJSON_Delete(be);
    cJSON_Delete(root);
    if (!text) return err_set("%s: out of memory formatting the material", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* cJSON_Print's buffer ends in the NUL we overwrite; the length excludes it */
    int rc = file_write_atomic(path, text, len + 1);
    cJSON_free(text);
    return rc;
}

int cloth_stretch_table_build(cloth_stretch_table *t, const double *rows)
{
    for (int e = 0; e < CLOTH_STRETCH_ENTRIES; ++e)
        if (!isfinite(rows[e])) return err_set("stretching table: row %d entry %d is not finite", e / 4, e % 4);
    for (int i = 0; i < CLOTH_TABLE_N; ++i)
        for (int j = 0; j < CLOTH_TABLE_N; ++j)
            for (int l = 0; l < CLOTH_TABLE_N; ++l) {
                const int idx = cloth_table_index(i, j, l);
                /* the grid values in double, as ARCSim computes them */
                const double G[3] = {(double)(-0.25 + i / (double)CLOTH_TABLE_N), (double)(-0.25 + j / (double)CLOTH_TABLE_N),
                                   (double)(l / (double)CLOTH_TABLE_N)};
                cloth_stretch_coords(G, &t->strain[idx], &t->angle[idx], NULL, NULL);
                cloth_stretch_stiffness(rows, G, t->k[idx], NULL, NULL);
            }
    return 0;
}
