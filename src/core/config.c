/* config.c — INI configuration: libinih parsing, includes, overrides, schema
 * validation and the canonical dump (contract in config.h).
 *
 * Rules this file enforces, so that config_dump() always loads back to the
 * same config:
 *  - A key is "section.name": dot-separated parts, each non-empty and made of
 *    letters, digits, '_' and '-'.  The name is the part after the last dot,
 *    so `[a.b] c = 1` and `[a] b.c = 1` both give "a.b.c".  Keys are kept as
 *    written and compared case-sensitively.  "include" is never a key.
 *  - A value has no control characters, no leading or trailing whitespace
 *    and no ';' that INI would read as a comment (at the start or after
 *    whitespace); "name = value" must fit on one inih line (197 characters)
 *    and a section name in inih's buffer (49 characters).
 *  - Indented continuation lines (inih's multi-line values) are rejected
 *    rather than silently overriding the value.
 * Entries remember their origin ("file.ini:LINE", "command line", "default").
 * Loading is all-or-nothing: on error the config is left unchanged.
 */
#ifndef _GNU_SOURCE
#define _XOPEN_SOURCE 700 /* realpath, strdup, strcasecmp without -D_GNU_SOURCE (the fuzz build) */
#endif

#include "phive/config.h"
#include "phive/errors.h"

#include <ini.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum {
    MAX_INCLUDE_DEPTH = 16,
    /* inih reads each line into INI_MAX_LINE bytes holding the text plus "\r\n\0". */
    MAX_LINE_TEXT = INI_MAX_LINE - 3,
    /* inih keeps the section name in a char[50] (MAX_SECTION in ini.c, not in
     * ini.h) and silently truncates longer ones. */
    MAX_SECTION_NAME = 50 - 1,
};

typedef union {
    long i;
    double r;
    int b;
} typed_value;

typedef struct {
    char *key;    /* "section.name" */
    char *value;
    char *origin; /* where the winning definition came from */
    bool typed;   /* checked by config_validate; type/as are valid */
    cfg_type type;
    typed_value as;
} entry;

struct config {
    entry *entries; /* sorted by (section, name): lookups bisect, the dump walks in order */
    size_t count, capacity;
    bool validated; /* cleared by every change, so getters never see unchecked values */
};

/* ---- small helpers ---------------------------------------------------- */

/* printf into a fresh malloc'd string (NULL when out of memory). */
__attribute__((format(printf, 1, 2))) static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        return NULL;
    char *s = malloc((size_t)len + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

static int out_of_memory(void) { return err_set("config: out of memory"); }

/* Growable string used by the dump and by messages listing several keys. */
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} strbuf;

static void sb_append(strbuf *sb, const char *s, size_t n)
{
    if (sb->failed)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 256;
        while (sb->len + n + 1 > cap)
            cap *= 2;
        char *grown = realloc(sb->data, cap);
        if (grown == NULL) {
            sb->failed = true;
            return;
        }
        sb->data = grown;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

static void sb_puts(strbuf *sb, const char *s) { sb_append(sb, s, strlen(s)); }

/* Length of the section part of a key: everything before the last dot. */
static size_t section_length(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? (size_t)(dot - key) : strlen(key);
}

/* The name part of a key: after the last dot ("" when there is no dot). */
static const char *name_part(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key + strlen(key);
}

/* Order by section, then name: the order the dump needs. */
static int compare_keys(const char *a, const char *b)
{
    size_t a_len = section_length(a), b_len = section_length(b);
    int by_section = memcmp(a, b, a_len < b_len ? a_len : b_len);
    if (by_section != 0)
        return by_section;
    if (a_len != b_len)
        return a_len < b_len ? -1 : 1;
    return strcmp(name_part(a), name_part(b));
}

/* Bisect for key; returns its index or where it would be inserted. */
static size_t find_index(const config *c, const char *key, bool *found)
{
    size_t lo = 0, hi = c->count;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = compare_keys(c->entries[mid].key, key);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static entry *find_entry(const config *c, const char *key)
{
    bool found;
    size_t at = find_index(c, key, &found);
    return found ? &c->entries[at] : NULL;
}

/* ---- entries ----------------------------------------------------------- */

config *config_new(void) { return calloc(1, sizeof(config)); }

void config_free(config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++) {
        free(c->entries[i].key);
        free(c->entries[i].value);
        free(c->entries[i].origin);
    }
    free(c->entries);
    free(c);
}

static bool is_name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
           ch == '-';
}

/* Every dot-separated part non-empty and made of name characters, at least two parts. */
static bool is_valid_key(const char *key)
{
    size_t part_len = 0;
    int parts = 1;
    for (const char *p = key; *p; p++) {
        if (*p == '.') {
            if (part_len == 0)
                return false;
            parts++;
            part_len = 0;
        } else if (!is_name_char(*p)) {
            return false;
        } else {
            part_len++;
        }
    }
    return parts >= 2 && part_len > 0;
}

static int check_key(const char *key, const char *origin)
{
    if (!is_valid_key(key))
        return err_set("%s: invalid key '%s': expected section.name, each part made of letters, digits, '_' and '-'",
                       origin, key);
    if (strcmp(name_part(key), "include") == 0)
        return err_set("%s: '%s': 'include' is a directive in INI files, not a key", origin, key);
    if (section_length(key) > MAX_SECTION_NAME)
        return err_set("%s: '%s': section name longer than %d characters", origin, key, MAX_SECTION_NAME);
    return 0;
}

/* inih strips leading/trailing whitespace and cuts at an inline comment; a
 * value it would alter cannot be dumped faithfully, so refuse it up front. */
static const char *unrepresentable_reason(const char *value)
{
    size_t len = strlen(value);
    if (len > 0 && (isspace((unsigned char)value[0]) || isspace((unsigned char)value[len - 1])))
        return "starts or ends with whitespace";
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch < 0x20 || ch == 0x7f)
            return "contains a control character";
        if (strchr(INI_INLINE_COMMENT_PREFIXES, ch) && (i == 0 || isspace((unsigned char)value[i - 1])))
            return "contains ';' where INI starts a comment";
    }
    return NULL;
}

static int check_value(const char *key, const char *value, const char *origin)
{
    const char *reason = unrepresentable_reason(value);
    if (reason != NULL)
        return err_set("%s: %s = '%s' %s", origin, key, value, reason);
    /* The dump writes "name = value" lines; they must fit inih's line buffer. */
    size_t name_line = strlen(name_part(key)) + 3 + strlen(value);
    if (name_line > MAX_LINE_TEXT)
        return err_set("%s: %s: 'name = value' longer than %d characters", origin, key, MAX_LINE_TEXT);
    return 0;
}

/* Double the entry array; false when out of memory. */
static bool grow_entries(config *c)
{
    size_t capacity = c->capacity ? 2 * c->capacity : 16;
    entry *grown = realloc(c->entries, capacity * sizeof(entry));
    if (grown == NULL)
        return false;
    c->entries = grown;
    c->capacity = capacity;
    return true;
}

/* Insert or replace without checks (callers have validated key and value). */
static int store_entry(config *c, const char *key, const char *value, const char *origin)
{
    char *new_value = strdup(value), *new_origin = strdup(origin);
    if (new_value == NULL || new_origin == NULL) {
        free(new_value);
        free(new_origin);
        return out_of_memory();
    }
    bool found;
    size_t at = find_index(c, key, &found);
    if (!found) {
        char *new_key = strdup(key);
        if (new_key == NULL || (c->count == c->capacity && !grow_entries(c))) {
            free(new_key);
            free(new_value);
            free(new_origin);
            return out_of_memory();
        }
        memmove(&c->entries[at + 1], &c->entries[at], (c->count - at) * sizeof(entry));
        c->entries[at] = (entry){.key = new_key};
        c->count++;
    }
    entry *e = &c->entries[at];
    free(e->value);
    free(e->origin);
    e->value = new_value;
    e->origin = new_origin;
    e->typed = false;
    c->validated = false;
    return 0;
}

int config_set(config *c, const char *key, const char *value, const char *origin)
{
    if (origin == NULL)
        origin = "(unknown origin)";
    if (c == NULL || key == NULL || value == NULL)
        return err_set("%s: config_set: NULL argument", origin);
    if (check_key(key, origin) != 0 || check_value(key, value, origin) != 0)
        return -1;
    return store_entry(c, key, value, origin);
}

const char *config_lookup(const config *c, const char *key)
{
    const entry *e = c && key ? find_entry(c, key) : NULL;
    return e ? e->value : NULL;
}

/* Copy every entry of `from` into `to` (both already validated by config_set). */
static int merge_entries(config *to, const config *from)
{
    for (size_t i = 0; i < from->count; i++) {
        const entry *e = &from->entries[i];
        if (store_entry(to, e->key, e->value, e->origin) != 0)
            return -1;
    }
    return 0;
}

/* ---- overrides --------------------------------------------------------- */

/* Trimmed copy of s[0..len) (NULL when out of memory). */
static char *trimmed_copy(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)*s)) {
        s++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    char *copy = malloc(len + 1);
    if (copy != NULL) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

int config_apply_override(config *c, const char *assignment, const char *origin)
{
    if (origin == NULL)
        origin = "command line";
    if (c == NULL || assignment == NULL)
        return err_set("%s: config_apply_override: NULL argument", origin);
    const char *equals = strchr(assignment, '=');
    if (equals == NULL)
        return err_set("%s: override '%s' is not of the form section.key=value", origin, assignment);
    /* Whitespace around the key and value is dropped, as in an INI file. */
    char *key = trimmed_copy(assignment, (size_t)(equals - assignment));
    char *value = trimmed_copy(equals + 1, strlen(equals + 1));
    int rc;
    if (key == NULL || value == NULL)
        rc = out_of_memory();
    else if (!is_valid_key(key))
        rc = err_set("%s: override '%s': '%s' is not a key of the form section.key", origin, assignment, key);
    else
        rc = config_set(c, key, value, origin);
    free(key);
    free(value);
    return rc;
}

/* ---- INI loading ------------------------------------------------------- */

/* Files being parsed, outermost first: cycle detection and chain messages. */
typedef struct {
    const char *display[MAX_INCLUDE_DEPTH + 1]; /* names as shown in messages */
    char *real[MAX_INCLUDE_DEPTH + 1];          /* realpath; NULL for a string */
    int depth;
} include_stack;

/* One piece of INI text being fed to inih, line by line, by read_line(). */
typedef struct {
    config *target;
    include_stack *stack;
    const char *origin; /* display name of this text */
    const char *dir;    /* prefix for relative includes: "" or ending in '/' */
    const char *next;   /* unread text */
    int lineno;         /* line most recently handed to inih */
    bool key_since_section;
    bool continuation; /* inih will read the current line as a continuation */
    int error_line;    /* first line where we failed; 0 = none */
} parse_state;

static int load_file(config *target, const char *path, include_stack *stack, const parse_state *includer,
                     const char *include_value);

/* Record that the current line failed (message already set); stops inih. */
static int fail_line(parse_state *st)
{
    if (st->error_line == 0)
        st->error_line = st->lineno;
    return 0;
}

/* Mirror inih's rule for continuation lines (an indented non-comment line
 * after a name=value line in the same section), so the handler can refuse
 * them instead of letting the continuation silently replace the value. */
static void classify_line(parse_state *st, const char *line)
{
    const char *start = line;
    while (isspace((unsigned char)*start))
        start++;
    st->continuation = false;
    if (*start == '\0' || strchr(INI_START_COMMENT_PREFIXES, *start))
        return;
    if (INI_ALLOW_MULTILINE && start > line && st->key_since_section) {
        st->continuation = true;
        return;
    }
    st->key_since_section = *start != '[';
}

/* A "[section]" line whose name inih would truncate. */
static bool section_name_too_long(const char *line)
{
    while (isspace((unsigned char)*line))
        line++;
    const char *close = *line == '[' ? strchr(line, ']') : NULL;
    return close != NULL && close - (line + 1) > MAX_SECTION_NAME;
}

/* inih's fgets-style reader.  Doing it ourselves gives the handler the line
 * number (Debian's handler has none) and catches lines too long for inih's
 * buffer, which it would otherwise split silently. */
static char *read_line(char *buffer, int size, void *stream)
{
    parse_state *st = stream;
    if (st->error_line != 0 || *st->next == '\0')
        return NULL;
    size_t len = strcspn(st->next, "\n");
    size_t with_newline = len + (st->next[len] == '\n');
    size_t text_len = len > 0 && st->next[len - 1] == '\r' ? len - 1 : len;
    st->lineno++;
    if (size < 4 || text_len > (size_t)size - 3) {
        err_set("%s:%d: line longer than %d characters", st->origin, st->lineno, size - 3);
        fail_line(st);
        return NULL;
    }
    memcpy(buffer, st->next, with_newline);
    buffer[with_newline] = '\0';
    st->next += with_newline;
    /* inih skips a UTF-8 byte order mark at the start of the text. */
    const char *content = buffer;
    if (st->lineno == 1 && strncmp(content, "\xEF\xBB\xBF", 3) == 0)
        content += 3;
    if (section_name_too_long(content)) {
        err_set("%s:%d: section name longer than %d characters", st->origin, st->lineno, MAX_SECTION_NAME);
        fail_line(st);
        return NULL;
    }
    classify_line(st, content);
    return buffer;
}

/* `include = path`: load path (relative to this file's directory) right here. */
static int include_file(parse_state *st, const char *value)
{
    if (value[0] == '\0')
        return err_set("%s:%d: include needs a file name", st->origin, st->lineno);
    char *path = value[0] == '/' ? strdup(value) : str_printf("%s%s", st->dir, value);
    if (path == NULL)
        return out_of_memory();
    int rc = load_file(st->target, path, st->stack, st, value);
    free(path);
    return rc;
}

static int store_parsed_entry(parse_state *st, const char *section, const char *name, const char *value)
{
    char *key = str_printf("%s.%s", section, name);
    char *origin = str_printf("%s:%d", st->origin, st->lineno);
    int rc = key && origin ? config_set(st->target, key, value, origin) : out_of_memory();
    free(key);
    free(origin);
    return rc;
}

/* inih handler: returns nonzero to go on, 0 after recording an error. */
static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    parse_state *st = user;
    if (st->continuation) {
        err_set("%s:%d: indented line continues the value of '%s'; multi-line values are not supported", st->origin,
                st->lineno, name);
        return fail_line(st);
    }
    if (strcmp(name, "include") == 0)
        return include_file(st, value) == 0 ? 1 : fail_line(st);
    if (section[0] == '\0') {
        err_set("%s:%d: key '%s' is outside any [section]", st->origin, st->lineno, name);
        return fail_line(st);
    }
    return store_parsed_entry(st, section, name, value) == 0 ? 1 : fail_line(st);
}

/* Parse one text into target; reports the first error by line. */
static int parse_text(config *target, const char *text, const char *origin, const char *dir, include_stack *stack)
{
    parse_state st = {.target = target, .stack = stack, .origin = origin, .dir = dir, .next = text};
    int rc = ini_parse_stream(read_line, &st, on_ini_entry, &st);
    /* inih's rc is its first bad line, which includes lines our handler failed. */
    if (rc > 0 && (st.error_line == 0 || rc < st.error_line))
        return err_set("%s:%d: malformed line", origin, rc);
    if (st.error_line != 0)
        return -1;
    if (rc < 0)
        return out_of_memory();
    return 0;
}

/* "a.ini -> b.ini -> next" for cycle and depth messages (NULL when out of memory). */
static char *include_chain(const include_stack *stack, const char *next)
{
    strbuf sb = {0};
    for (int i = 0; i < stack->depth; i++) {
        sb_puts(&sb, stack->display[i]);
        sb_puts(&sb, " -> ");
    }
    sb_puts(&sb, next);
    if (sb.failed) {
        free(sb.data);
        return NULL;
    }
    return sb.data;
}

static int include_chain_error(const include_stack *stack, const char *path, const char *what)
{
    char *chain = include_chain(stack, path);
    if (chain == NULL)
        return out_of_memory();
    err_set("%s: %s", what, chain);
    free(chain);
    return -1;
}

/* Whole file as a NUL-terminated string; refuses non-regular files (a FIFO or
 * /dev/zero would hang) and NUL bytes (inih would stop at them). */
static char *read_text_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        err_set("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        err_set("cannot read '%s': not a regular file", path);
        fclose(f);
        return NULL;
    }
    strbuf sb = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sb_append(&sb, chunk, n);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (read_errno != 0 || sb.failed) {
        read_errno ? err_set("cannot read '%s': %s", path, strerror(read_errno)) : out_of_memory();
        free(sb.data);
        return NULL;
    }
    if (sb.data == NULL)
        return strdup(""); /* empty file */
    if (strlen(sb.data) != sb.len) {
        err_set("cannot read '%s': contains a NUL byte (not a text file)", path);
        free(sb.data);
        return NULL;
    }
    return sb.data;
}

/* realpath, cycle and depth checks, then the file's text. */
static int open_source(const char *path, const include_stack *stack, char **real, char **text)
{
    *real = realpath(path, NULL);
    if (*real == NULL)
        return err_set("cannot open '%s': %s", path, strerror(errno));
    for (int i = 0; i < stack->depth; i++)
        if (stack->real[i] != NULL && strcmp(stack->real[i], *real) == 0)
            return include_chain_error(stack, path, "include cycle");
    if (stack->depth > MAX_INCLUDE_DEPTH)
        return include_chain_error(stack, path, "includes nested more than 16 deep");
    *text = read_text_file(path);
    return *text ? 0 : -1;
}

/* Directory part of path with its trailing '/', or "" (malloc'd). */
static char *directory_prefix(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) + 1 : 0;
    char *dir = malloc(len + 1);
    if (dir != NULL) {
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    return dir;
}

/* Load a file into target.  For an include, `includer` is the including
 * text; errors finding the file then name it, its line and the include. */
static int load_file(config *target, const char *path, include_stack *stack, const parse_state *includer,
                     const char *include_value)
{
    char *real = NULL, *text = NULL;
    if (open_source(path, stack, &real, &text) != 0) {
        free(real);
        if (includer != NULL)
            err_context("%s:%d: include '%s'", includer->origin, includer->lineno, include_value);
        return -1;
    }
    char *dir = directory_prefix(path);
    int rc;
    if (dir == NULL) {
        rc = out_of_memory();
    } else {
        stack->display[stack->depth] = path;
        stack->real[stack->depth] = real;
        stack->depth++;
        rc = parse_text(target, text, path, dir, stack);
        stack->depth--;
    }
    free(dir);
    free(text);
    free(real);
    return rc;
}

int config_load_file(config *c, const char *path)
{
    if (c == NULL || path == NULL)
        return err_set("config_load_file: NULL argument");
    /* Load into a scratch config so that a failure leaves c untouched. */
    config *staged = config_new();
    if (staged == NULL)
        return out_of_memory();
    include_stack stack = {.depth = 0};
    int rc = load_file(staged, path, &stack, NULL, NULL);
    if (rc == 0)
        rc = merge_entries(c, staged);
    config_free(staged);
    return rc;
}

int config_load_string(config *c, const char *text, const char *origin, const char *base_dir)
{
    if (origin == NULL)
        origin = "(string)";
    if (c == NULL || text == NULL)
        return err_set("%s: config_load_string: NULL argument", origin);
    bool has_dir = base_dir != NULL && base_dir[0] != '\0';
    bool needs_slash = has_dir && base_dir[strlen(base_dir) - 1] != '/';
    char *dir = str_printf("%s%s", has_dir ? base_dir : "", needs_slash ? "/" : "");
    config *staged = config_new();
    int rc;
    if (dir == NULL || staged == NULL) {
        rc = out_of_memory();
    } else {
        /* The string has no realpath, but it counts towards the include depth. */
        include_stack stack = {.display = {origin}, .real = {NULL}, .depth = 1};
        rc = parse_text(staged, text, origin, dir, &stack);
        if (rc == 0)
            rc = merge_entries(c, staged);
    }
    config_free(staged);
    free(dir);
    return rc;
}

/* ---- validation -------------------------------------------------------- */

/* Walk every spec of every schema (a NULL-terminated list of key==NULL
 * terminated arrays) with FOR_EACH_SPEC, built on these two helpers. */
static const cfg_spec *first_spec(const cfg_spec *const *schemas, size_t *schema_index)
{
    for (*schema_index = 0; schemas && schemas[*schema_index]; (*schema_index)++)
        if (schemas[*schema_index][0].key != NULL)
            return schemas[*schema_index];
    return NULL;
}

static const cfg_spec *next_spec(const cfg_spec *const *schemas, size_t *schema_index, const cfg_spec *spec)
{
    if (spec[1].key != NULL)
        return spec + 1;
    for ((*schema_index)++; schemas[*schema_index]; (*schema_index)++)
        if (schemas[*schema_index][0].key != NULL)
            return schemas[*schema_index];
    return NULL;
}

#define FOR_EACH_SPEC(spec, schemas, index)                                                                      \
    for (const cfg_spec *spec = first_spec(schemas, &index); spec != NULL; spec = next_spec(schemas, &index, spec))

static const cfg_spec *find_spec(const cfg_spec *const *schemas, const char *key)
{
    size_t index;
    FOR_EACH_SPEC(spec, schemas, index)
    {
        if (strcmp(spec->key, key) == 0)
            return spec;
    }
    return NULL;
}

/* Schema mistakes are programming errors, but report them rather than crash. */
static int check_schemas(const cfg_spec *const *schemas)
{
    size_t index;
    FOR_EACH_SPEC(spec, schemas, index)
    {
        if (check_key(spec->key, "schema") != 0)
            return -1;
        if (find_spec(schemas, spec->key) != spec)
            return err_set("schema: key '%s' is defined twice", spec->key);
        if (spec->type == CFG_CHOICE && (spec->choices == NULL || spec->choices[0] == '\0'))
            return err_set("schema: '%s' is a choice without choices", spec->key);
    }
    return 0;
}

/* The schema key nearest to `key` when it is near enough to be a typo:
 * within max(2, len/3) edits, or differing only in case (keys are case-sensitive). */
static const char *closest_schema_key(const cfg_spec *const *schemas, const char *key)
{
    int len = (int)strlen(key);
    int limit = len / 3 > 2 ? len / 3 : 2;
    const char *best = NULL;
    int best_distance = INT_MAX;
    size_t index;
    FOR_EACH_SPEC(spec, schemas, index)
    {
        int d = strcasecmp(key, spec->key) == 0 ? 0 : config_edit_distance(key, spec->key);
        if (d < best_distance) {
            best_distance = d;
            best = spec->key;
        }
    }
    return best_distance <= limit ? best : NULL;
}

/* "'a.width' or 'b.width'": schema keys with the same name in another
 * section, for when only the section is wrong ("" when none; NULL = OOM). */
static char *same_name_elsewhere(const cfg_spec *const *schemas, const char *key)
{
    strbuf sb = {0};
    sb_puts(&sb, "");
    size_t index;
    FOR_EACH_SPEC(spec, schemas, index)
    {
        if (strcmp(name_part(spec->key), name_part(key)) != 0)
            continue;
        sb_puts(&sb, sb.len ? " or '" : "'");
        sb_puts(&sb, spec->key);
        sb_puts(&sb, "'");
    }
    if (sb.failed) {
        free(sb.data);
        return NULL;
    }
    return sb.data;
}

static int report_unknown_key(const entry *e, const cfg_spec *const *schemas)
{
    const char *typo_of = closest_schema_key(schemas, e->key);
    if (typo_of != NULL)
        return err_set("unknown key '%s' (from %s); did you mean '%s'?", e->key, e->origin, typo_of);
    char *elsewhere = same_name_elsewhere(schemas, e->key);
    if (elsewhere == NULL)
        return out_of_memory();
    if (elsewhere[0] != '\0')
        err_set("unknown key '%s' (from %s); did you mean %s?", e->key, e->origin, elsewhere);
    else
        err_set("unknown key '%s' (from %s)", e->key, e->origin);
    free(elsewhere);
    return -1;
}

static int check_unknown_keys(const config *c, const cfg_spec *const *schemas)
{
    for (size_t i = 0; i < c->count; i++)
        if (find_spec(schemas, c->entries[i].key) == NULL)
            return report_unknown_key(&c->entries[i], schemas);
    return 0;
}

/* A range bound as users wrote it: integers without exponent, reals exactly. */
static void format_bound(char *out, size_t size, double bound, cfg_type type)
{
    if (type == CFG_INT && fabs(bound) < 1e18) {
        snprintf(out, size, "%.0f", bound);
        return;
    }
    snprintf(out, size, "%.15g", bound);
    if (strtod(out, NULL) != bound)
        snprintf(out, size, "%.17g", bound);
}

static int check_range(const cfg_spec *spec, double v, const char *text, const char *origin)
{
    if (spec->min > spec->max || (v >= spec->min && v <= spec->max))
        return 0;
    char lo[40], hi[40];
    format_bound(lo, sizeof lo, spec->min, spec->type);
    format_bound(hi, sizeof hi, spec->max, spec->type);
    return err_set("%s: %s = %s is out of range [%s, %s]", origin, spec->key, text, lo, hi);
}

static int parse_int(const cfg_spec *spec, const char *text, const char *origin, typed_value *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || isspace((unsigned char)text[0]))
        return err_set("%s: %s = '%s' is not an integer", origin, spec->key, text);
    if (errno == ERANGE)
        return err_set("%s: %s = %s is out of range for an integer", origin, spec->key, text);
    out->i = v;
    return check_range(spec, (double)v, text, origin);
}

static int parse_real(const cfg_spec *spec, const char *text, const char *origin, typed_value *out)
{
    char *end;
    double v = strtod(text, &end);
    if (text[0] == '\0' || *end != '\0' || isspace((unsigned char)text[0]))
        return err_set("%s: %s = '%s' is not a number", origin, spec->key, text);
    if (!isfinite(v))
        return err_set("%s: %s = '%s' is not a finite number", origin, spec->key, text);
    out->r = v;
    return check_range(spec, v, text, origin);
}

static int parse_bool(const cfg_spec *spec, const char *text, const char *origin, typed_value *out)
{
    static const char *const truths[] = {"true", "yes", "on", "1"};
    static const char *const falsehoods[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof truths / sizeof *truths; i++) {
        if (strcasecmp(text, truths[i]) == 0) {
            out->b = 1;
            return 0;
        }
        if (strcasecmp(text, falsehoods[i]) == 0) {
            out->b = 0;
            return 0;
        }
    }
    return err_set("%s: %s = '%s' is not a boolean (true/false, yes/no, on/off, 1/0)", origin, spec->key, text);
}

static int parse_choice(const cfg_spec *spec, const char *text, const char *origin)
{
    size_t len = strlen(text);
    for (const char *choice = spec->choices; choice != NULL;) {
        const char *bar = strchr(choice, '|');
        size_t choice_len = bar ? (size_t)(bar - choice) : strlen(choice);
        if (choice_len == len && strncmp(choice, text, len) == 0)
            return 0;
        choice = bar ? bar + 1 : NULL;
    }
    return err_set("%s: %s = '%s' is not one of %s", origin, spec->key, text, spec->choices);
}

/* Check text against spec's type and range; fills *out for the getters. */
static int parse_typed(const cfg_spec *spec, const char *text, const char *origin, typed_value *out)
{
    switch (spec->type) {
    case CFG_INT:
        return parse_int(spec, text, origin, out);
    case CFG_REAL:
        return parse_real(spec, text, origin, out);
    case CFG_BOOL:
        return parse_bool(spec, text, origin, out);
    case CFG_CHOICE:
        return parse_choice(spec, text, origin);
    case CFG_STRING:
        return 0;
    }
    return err_set("schema: '%s' has an unknown type %d", spec->key, (int)spec->type);
}

/* Every schema key: present and well typed, or defaulted with a valid default. */
static int check_values(const config *c, const cfg_spec *const *schemas)
{
    size_t index;
    FOR_EACH_SPEC(spec, schemas, index)
    {
        const entry *e = find_entry(c, spec->key);
        typed_value ignored;
        if (e != NULL) {
            if (parse_typed(spec, e->value, e->origin, &ignored) != 0)
                return -1;
        } else if (spec->def == NULL) {
            return err_set("missing required key '%s'%s%s%s", spec->key, spec->help ? " (" : "",
                           spec->help ? spec->help : "", spec->help ? ")" : "");
        } else if (check_value(spec->key, spec->def, "default") != 0 ||
                   parse_typed(spec, spec->def, "default", &ignored) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Everything checked: add the defaults and keep the typed values. */
static int fill_defaults_and_types(config *c, const cfg_spec *const *schemas)
{
    size_t index;
    FOR_EACH_SPEC(spec, schemas, index)
    {
        if (find_entry(c, spec->key) == NULL && store_entry(c, spec->key, spec->def, "default") != 0)
            return -1;
        entry *e = find_entry(c, spec->key);
        if (parse_typed(spec, e->value, e->origin, &e->as) != 0)
            return -1;
        e->type = spec->type;
        e->typed = true;
    }
    return 0;
}

int config_validate(config *c, const cfg_spec *const *schemas)
{
    if (c == NULL)
        return err_set("config_validate: NULL config");
    if (check_schemas(schemas) != 0 || check_unknown_keys(c, schemas) != 0 || check_values(c, schemas) != 0 ||
        fill_defaults_and_types(c, schemas) != 0)
        return -1;
    c->validated = true;
    return 0;
}

/* ---- typed getters ----------------------------------------------------- */

static const char *type_name(cfg_type type)
{
    static const char *const names[] = {"int", "real", "bool", "string", "choice"};
    return (unsigned)type < sizeof names / sizeof *names ? names[type] : "?";
}

/* Getters cannot fail by contract: a bad call is a bug in the caller. */
static const entry *checked_entry(const config *c, const char *key, const char *getter, bool any_type, cfg_type want)
{
    const entry *e = c && key ? find_entry(c, key) : NULL;
    const char *problem = NULL;
    if (c == NULL || !c->validated)
        problem = "the config is not validated (or changed since config_validate)";
    else if (e == NULL || !e->typed)
        problem = "the key is not in the validated schema";
    else if (!any_type && e->type != want)
        problem = "the key has another type";
    if (problem != NULL) {
        fprintf(stderr, "phive: internal error: %s(\"%s\"): %s (getter type %s, key type %s)\n", getter,
                key ? key : "(null)", problem, any_type ? "any" : type_name(want),
                e && e->typed ? type_name(e->type) : "none");
        abort();
    }
    return e;
}

long config_int(const config *c, const char *key) { return checked_entry(c, key, "config_int", false, CFG_INT)->as.i; }

double config_real(const config *c, const char *key)
{
    return checked_entry(c, key, "config_real", false, CFG_REAL)->as.r;
}

int config_bool(const config *c, const char *key)
{
    return checked_entry(c, key, "config_bool", false, CFG_BOOL)->as.b;
}

/* The text of any validated key (strings and choices, or a number as written). */
const char *config_str(const config *c, const char *key)
{
    return checked_entry(c, key, "config_str", true, CFG_STRING)->value;
}

/* ---- dump and hash ----------------------------------------------------- */

typedef void (*text_sink)(void *ctx, const char *s, size_t n);

/* The canonical INI text, written piecewise so that hashing needs no buffer. */
static void emit_config(const config *c, text_sink emit, void *ctx)
{
    for (size_t i = 0; i < c->count; i++) {
        const char *key = c->entries[i].key;
        size_t section_len = section_length(key);
        bool new_section = i == 0 || section_length(c->entries[i - 1].key) != section_len ||
                           memcmp(c->entries[i - 1].key, key, section_len) != 0;
        if (new_section) {
            if (i > 0)
                emit(ctx, "\n", 1);
            emit(ctx, "[", 1);
            emit(ctx, key, section_len);
            emit(ctx, "]\n", 2);
        }
        const char *name = name_part(key), *value = c->entries[i].value;
        emit(ctx, name, strlen(name));
        emit(ctx, " = ", 3); /* even before an empty value: readers split lines at " = " */
        emit(ctx, value, strlen(value));
        emit(ctx, "\n", 1);
    }
}

static void append_to_strbuf(void *ctx, const char *s, size_t n) { sb_append(ctx, s, n); }

char *config_dump(const config *c)
{
    if (c == NULL) {
        err_set("config_dump: NULL config");
        return NULL;
    }
    strbuf sb = {0};
    sb_puts(&sb, ""); /* an empty config dumps as "", not NULL */
    emit_config(c, append_to_strbuf, &sb);
    if (sb.failed) {
        free(sb.data);
        out_of_memory();
        return NULL;
    }
    return sb.data;
}

int config_foreach(const config *c, int (*fn)(const char *key, const char *value, void *user), void *user)
{
    for (size_t i = 0; i < c->count; i++) {
        int status = fn(c->entries[i].key, c->entries[i].value, user);
        if (status) return status;
    }
    return 0;
}

static void fnv1a_update(void *ctx, const char *s, size_t n)
{
    uint64_t *h = ctx;
    for (size_t i = 0; i < n; i++) {
        *h ^= (unsigned char)s[i];
        *h *= 1099511628211ULL;
    }
}

uint64_t config_hash(const config *c)
{
    uint64_t h = 14695981039346656037ULL;
    if (c != NULL)
        emit_config(c, fnv1a_update, &h);
    return h;
}

/* ---- edit distance ----------------------------------------------------- */

int config_edit_distance(const char *a, const char *b)
{
    a = a ? a : "";
    b = b ? b : "";
    size_t a_len = strlen(a), b_len = strlen(b);
    /* Two rows of the classic DP table, indexed by position in b. */
    int *previous = malloc((b_len + 1) * sizeof(int));
    int *current = malloc((b_len + 1) * sizeof(int));
    if (previous == NULL || current == NULL) {
        free(previous);
        free(current);
        return (int)(a_len > b_len ? a_len : b_len); /* an upper bound */
    }
    for (size_t j = 0; j <= b_len; j++)
        previous[j] = (int)j;
    for (size_t i = 1; i <= a_len; i++) {
        current[0] = (int)i;
        for (size_t j = 1; j <= b_len; j++) {
            int substitute = previous[j - 1] + (a[i - 1] != b[j - 1]);
            int delete = previous[j] + 1, insert = current[j - 1] + 1;
            int best = substitute < delete ? substitute : delete;
            current[j] = best < insert ? best : insert;
        }
        int *swap = previous;
        previous = current;
        current = swap;
    }
    int distance = previous[b_len];
    free(previous);
    free(current);
    return distance;
}

int config_list_length(const config *c, const char *key)
{
    const char *p = config_str(c, key);
    while (*p == ' ') ++p;
    if (!*p) return 0;
    int n = 1;
    for (; *p; ++p) n += *p == ',';
    return n;
}

int config_reals(const config *c, const char *key, int count, double *out)
{
    const char *text = config_str(c, key), *p = text;
    for (int i = 0; i < count; ++i) {
        char *end;
        out[i] = strtod(p, &end);
        if (end == p || !isfinite(out[i])) break;
        for (p = end; *p == ' '; ++p) {}
        if (i + 1 == count) return *p ? err_set("%s = '%s': expected %d comma-separated numbers", key, text, count) : 0;
        if (*p++ != ',') break;
    }
    return err_set("%s = '%s': expected %d comma-separated numbers", key, text, count);
}
