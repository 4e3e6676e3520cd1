/* config.h — INI configuration with includes, overrides and a schema.
 *
 * A config is a set of "section.key" -> string value entries.  Files are
 * INI (parsed by libinih): `[section]`, `key = value`, `; comments`, and
 * `include = other.ini` (in any section or before the first one; relative to
 * the including file; the included entries apply at that point, so later
 * lines override them).  Command-line overrides are `section.key=value`.
 *
 * Validation against a schema (tables of cfg_spec) rejects unknown keys —
 * suggesting the nearest valid key — and values of the wrong type or out
 * of range, and fills defaults.  After config_validate() succeeds the typed
 * getters cannot fail; asking for a key outside the schema is a programming
 * error and aborts.
 */
#ifndef PHIVE_CONFIG_H
#define PHIVE_CONFIG_H

#include <stdint.h>

typedef enum { CFG_INT, CFG_REAL, CFG_BOOL, CFG_STRING, CFG_CHOICE } cfg_type;

typedef struct {
    const char *key;     /* "section.key" */
    cfg_type type;
    const char *def;     /* default value as text; NULL = required */
    double min, max;     /* inclusive range for CFG_INT / CFG_REAL (ignored when min > max) */
    const char *choices; /* CFG_CHOICE: "a|b|c" */
    const char *help;    /* one line for `phive help config` and the README */
} cfg_spec;

/* A schema is a NULL-key-terminated array of cfg_spec; several schemas
 * (core + job type) are passed as a NULL-terminated list of such arrays. */

typedef struct config config;

config *config_new(void);
void config_free(config *c);

/* Load an INI file (following includes; cycles and depth > 16 are errors). */
int config_load_file(config *c, const char *path);
/* Load INI text; `origin` names it in messages. Includes resolve relative to `base_dir` (may be NULL = cwd). */
int config_load_string(config *c, const char *text, const char *origin, const char *base_dir);
/* Apply "section.key=value"; `origin` names where it came from ("command line"). */
int config_apply_override(config *c, const char *assignment, const char *origin);
/* Set one entry directly (later sets win). */
int config_set(config *c, const char *key, const char *value, const char *origin);

/* Raw lookup before validation (NULL when absent). */
const char *config_lookup(const config *c, const char *key);

/* Check every entry against the schemas, fill defaults, check types and ranges. */
int config_validate(config *c, const cfg_spec *const *schemas);

/* Typed getters (valid after config_validate). */
long config_int(const config *c, const char *key);
double config_real(const config *c, const char *key);
int config_bool(const config *c, const char *key);
const char *config_str(const config *c, const char *key);
/* A string entry holding exactly `count` comma-separated finite numbers ("0,0,-9.8"). */
int config_reals(const config *c, const char *key, int count, double *out);
/* Entries of a comma-separated string entry (0 when it is empty), for config_reals. */
int config_list_length(const config *c, const char *key);

/* Effective config as canonical INI text (sections and keys sorted), malloc'd. */
char *config_dump(const config *c);
/* Call fn(key, value, user) for every entry in dump order; stops at, and returns, the first non-zero. */
int config_foreach(const config *c, int (*fn)(const char *key, const char *value, void *user), void *user);
/* FNV-1a 64-bit hash of config_dump(): identifies the effective config. */
uint64_t config_hash(const config *c);

/* Levenshtein distance, exposed for tests and for suggestions elsewhere. */
int config_edit_distance(const char *a, const char *b);

#endif
