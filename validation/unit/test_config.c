/* test_config.c — unit tests of the INI configuration (src/core/config.c).
 *
 * Each test works in its own mkdtemp directory (removed with its contents by
 * the teardown).  Messages are compared exactly where their wording is part
 * of the user interface, by substring elsewhere.  The getter-abort tests
 * fork so that the abort() happens in a child.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "phive/config.h"
#include "phive/errors.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

typedef tu_scratch fixture; /* teardown removes the directory with its contents */

static int setup(void **state) { return tu_scratch_setup(state, "config"); }
static int teardown(void **state) { return tu_scratch_teardown(state); }

static void write_file(const fixture *fx, const char *name, const char *text)
{
    char path[512];
    tu_scratch_path(fx, name, path, sizeof path);
    tu_write_text(path, text);
}

static void make_subdir(const fixture *fx, const char *name)
{
    char path[512];
    tu_scratch_path(fx, name, path, sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
}

/* Load fx->dir/name into a new config; the test owns the result. */
static config *load_ok(const fixture *fx, const char *name)
{
    char path[512];
    tu_scratch_path(fx, name, path, sizeof path);
    config *c = config_new();
    assert_non_null(c);
    int rc = config_load_file(c, path);
    if (rc != 0)
        fail_msg("loading %s: %s", path, err_message());
    return c;
}

/* Load expecting failure; callers then inspect err_message(). */
static void load_fails(const fixture *fx, const char *name)
{
    char path[512];
    tu_scratch_path(fx, name, path, sizeof path);
    config *c = config_new();
    assert_int_equal(config_load_file(c, path), -1);
    assert_true(err_message()[0] != '\0');
    config_free(c);
}

/* ---- a small schema shared by the validation tests ------------------- */

static const cfg_spec sdf_schema[] = {
    {.key = "sdf.width", .type = CFG_INT, .def = NULL, .min = 1, .max = 4096, .help = "grid width"},
    {.key = "sdf.height", .type = CFG_INT, .def = "64", .min = 1, .max = 4096},
    {.key = "sdf.offset", .type = CFG_INT, .def = "0", .min = 1, .max = 0}, /* min > max: no range */
    {.key = "sdf.mode", .type = CFG_CHOICE, .def = "exact", .choices = "exact|fast|lazy"},
    {.key = "sdf.name", .type = CFG_STRING, .def = "unnamed"},
    {.key = NULL},
};

static const cfg_spec solver_schema[] = {
    {.key = "solver.tol", .type = CFG_REAL, .def = "1e-6", .min = 0, .max = 1},
    {.key = "solver.verbose", .type = CFG_BOOL, .def = "no", .min = 1, .max = 0},
    {.key = "solver.scale", .type = CFG_REAL, .def = "1.5", .min = 1, .max = 0},
    {.key = "render.width", .type = CFG_INT, .def = "10", .min = 1, .max = 0},
    {.key = "output.width", .type = CFG_INT, .def = "10", .min = 1, .max = 0},
    {.key = NULL},
};

static const cfg_spec *const schemas[] = {sdf_schema, solver_schema, NULL};

/* Validate `text` (origin "x.ini") against the shared schema. */
static int validate_text(const char *text, config **out)
{
    config *c = config_new();
    assert_non_null(c);
    if (config_load_string(c, text, "x.ini", NULL) != 0)
        fail_msg("loading: %s", err_message());
    int rc = config_validate(c, schemas);
    if (out != NULL)
        *out = c;
    else
        config_free(c);
    return rc;
}

static void assert_invalid(const char *text, const char *expected_message)
{
    assert_int_equal(validate_text(text, NULL), -1);
    assert_string_equal(err_message(), expected_message);
}

/* ---- loading ------------------------------------------------------------ */

static void test_load_basic_file(void **state)
{
    fixture *fx = *state;
    write_file(fx, "a.ini",
               "; comment\n# another\n[sdf]\nwidth = 128\nname = hello world ; trailing comment\n\n[solver]\n"
               "tol=0.5\n");
    config *c = load_ok(fx, "a.ini");
    assert_string_equal(config_lookup(c, "sdf.width"), "128");
    assert_string_equal(config_lookup(c, "sdf.name"), "hello world");
    assert_string_equal(config_lookup(c, "solver.tol"), "0.5");
    assert_null(config_lookup(c, "sdf.height"));
    assert_null(config_lookup(c, "width"));
    config_free(c);
}

static void test_later_definition_wins(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "[s]\nk = 1\n[t]\nk = 2\n[s]\nk = 3\n", "x.ini", NULL), 0);
    assert_string_equal(config_lookup(c, "s.k"), "3");
    assert_string_equal(config_lookup(c, "t.k"), "2");
    /* A second load on the same config overrides the first. */
    assert_int_equal(config_load_string(c, "[s]\nk = 4\n", "y.ini", NULL), 0);
    assert_string_equal(config_lookup(c, "s.k"), "4");
    config_free(c);
}

static void test_keys_are_case_sensitive(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "[SDF]\nWidth = 1\n[sdf]\nwidth = 2\n", "x.ini", NULL), 0);
    assert_string_equal(config_lookup(c, "SDF.Width"), "1");
    assert_string_equal(config_lookup(c, "sdf.width"), "2");
    assert_null(config_lookup(c, "sdf.Width"));
    assert_int_equal(config_validate(c, schemas), -1);
    assert_string_equal(err_message(), "unknown key 'SDF.Width' (from x.ini:2); did you mean 'sdf.width'?");
    config_free(c);
}

static void test_dotted_section_equals_dotted_name(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "[a.b]\nc = 1\n[a]\nb.c = 2\n", "x.ini", NULL), 0);
    assert_string_equal(config_lookup(c, "a.b.c"), "2");
    char *dump = config_dump(c);
    assert_string_equal(dump, "[a.b]\nc = 2\n");
    free(dump);
    config_free(c);
}

static void test_malformed_line_reports_line_number(void **state)
{
    fixture *fx = *state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "[s]\nk = 1\nthis is not ini\nj = 2\n", "x.ini", NULL), -1);
    assert_string_equal(err_message(), "x.ini:3: malformed line");
    assert_int_equal(config_load_string(c, "[s]\n[unclosed\n", "y.ini", NULL), -1);
    assert_string_equal(err_message(), "y.ini:2: malformed line");
    config_free(c);

    /* The earliest error wins even when a later line fails in the handler. */
    write_file(fx, "bad.ini", "[s]\nk = 1\n\nnot ini\n[bad section]\nk = 2\n");
    load_fails(fx, "bad.ini");
    char expected[600];
    snprintf(expected, sizeof expected, "%s/bad.ini:4: malformed line", fx->dir);
    assert_string_equal(err_message(), expected);
}

static void test_key_before_section_rejected(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "; header\nk = 1\n[s]\n", "x.ini", NULL), -1);
    assert_string_equal(err_message(), "x.ini:2: key 'k' is outside any [section]");
    config_free(c);
}

static void test_bad_names_rejected(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "[my section]\nk = 1\n", "x.ini", NULL), -1);
    assert_error_contains("x.ini:2: invalid key 'my section.k'");
    assert_int_equal(config_load_string(c, "[s]\nbad key = 1\n", "x.ini", NULL), -1);
    assert_error_contains("x.ini:2: invalid key 's.bad key'");
    config_free(c);
}

static void test_continuation_line_rejected(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "[s]\nk = 1\n  2\n", "x.ini", NULL), -1);
    assert_string_equal(err_message(),
                        "x.ini:3: indented line continues the value of 'k'; multi-line values are not supported");
    /* Indentation right after a section header is an ordinary key. */
    assert_int_equal(config_load_string(c, "[s]\n  k = 1\n", "x.ini", NULL), 0);
    assert_string_equal(config_lookup(c, "s.k"), "1");
    config_free(c);
}

static void test_overlong_line_rejected(void **state)
{
    (void)state;
    char text[600];
    int n = snprintf(text, sizeof text, "[s]\nk = ");
    memset(text + n, 'x', 300);
    strcpy(text + n + 300, "=y\n");
    config *c = config_new();
    assert_int_equal(config_load_string(c, text, "x.ini", NULL), -1);
    assert_string_equal(err_message(), "x.ini:2: line longer than 197 characters");
    assert_null(config_lookup(c, "s.k"));
    config_free(c);
}

static void test_long_section_name_rejected(void **state)
{
    (void)state;
    /* inih truncates section names to 49 characters; refuse rather than misread. */
    char text[128], key[128];
    snprintf(text, sizeof text, "[%s]\nk = 1\n", "s123456789s123456789s123456789s123456789s12345678");
    config *c = config_new();
    assert_int_equal(config_load_string(c, text, "x.ini", NULL), 0); /* 49: fits */
    snprintf(text, sizeof text, "\xEF\xBB\xBF[%s]\nk = 1\n", "s123456789s123456789s123456789s123456789s123456789");
    assert_int_equal(config_load_string(c, text, "x.ini", NULL), -1); /* 50, after a BOM */
    assert_string_equal(err_message(), "x.ini:1: section name longer than 49 characters");
    snprintf(key, sizeof key, "%s.k", "s123456789s123456789s123456789s123456789s123456789");
    assert_int_equal(config_set(c, key, "1", "test"), -1);
    assert_error_contains("section name longer than 49 characters");
    config_free(c);
}

static void test_failed_load_leaves_config_unchanged(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_set(c, "s.k", "old", "test"), 0);
    assert_int_equal(config_load_string(c, "[s]\nk = new\nj = 1\nbroken\n", "x.ini", NULL), -1);
    assert_string_equal(config_lookup(c, "s.k"), "old");
    assert_null(config_lookup(c, "s.j"));
    config_free(c);
}

static void test_missing_file(void **state)
{
    fixture *fx = *state;
    load_fails(fx, "nope.ini");
    assert_error_contains("cannot open '");
    assert_error_contains("nope.ini': No such file or directory");
}

/* ---- includes ----------------------------------------------------------- */

static void test_include_override_order(void **state)
{
    fixture *fx = *state;
    write_file(fx, "base.ini", "[s]\nbefore = base\nafter = base\nonly_base = base\n");
    write_file(fx, "main.ini", "[s]\nbefore = main\ninclude = base.ini\nafter = main\n");
    config *c = load_ok(fx, "main.ini");
    assert_string_equal(config_lookup(c, "s.before"), "base"); /* the include overrides earlier lines */
    assert_string_equal(config_lookup(c, "s.after"), "main");  /* later lines override the include */
    assert_string_equal(config_lookup(c, "s.only_base"), "base");
    config_free(c);
}

static void test_include_before_first_section(void **state)
{
    fixture *fx = *state;
    write_file(fx, "base.ini", "[s]\nk = base\n");
    write_file(fx, "main.ini", "include = base.ini\n[t]\nk = main\n");
    config *c = load_ok(fx, "main.ini");
    assert_string_equal(config_lookup(c, "s.k"), "base");
    assert_string_equal(config_lookup(c, "t.k"), "main");
    config_free(c);
}

static void test_include_relative_to_including_file(void **state)
{
    fixture *fx = *state;
    make_subdir(fx, "sub");
    make_subdir(fx, "sub/deeper");
    write_file(fx, "top.ini", "[s]\ntop = 1\ninclude = sub/mid.ini\n");
    write_file(fx, "sub/mid.ini", "[s]\nmid = 1\ninclude = deeper/leaf.ini\n");
    write_file(fx, "sub/deeper/leaf.ini", "[s]\nleaf = 1\ninclude = ../sibling.ini\n");
    write_file(fx, "sub/sibling.ini", "[s]\nsibling = 1\n");
    config *c = load_ok(fx, "top.ini");
    assert_string_equal(config_lookup(c, "s.top"), "1");
    assert_string_equal(config_lookup(c, "s.mid"), "1");
    assert_string_equal(config_lookup(c, "s.leaf"), "1");
    assert_string_equal(config_lookup(c, "s.sibling"), "1");
    config_free(c);

    /* A string resolves its includes against base_dir. */
    c = config_new();
    assert_int_equal(config_load_string(c, "include = sub/mid.ini\n", "cli", fx->dir), 0);
    assert_string_equal(config_lookup(c, "s.leaf"), "1");
    config_free(c);
}

static void test_include_origin_names_included_file(void **state)
{
    fixture *fx = *state;
    write_file(fx, "base.ini", "[sdf]\n\nwidth = abc\n");
    write_file(fx, "main.ini", "include = base.ini\n");
    config *c = load_ok(fx, "main.ini");
    assert_int_equal(config_validate(c, schemas), -1);
    char expected[600];
    snprintf(expected, sizeof expected, "%s/base.ini:3: sdf.width = 'abc' is not an integer", fx->dir);
    assert_string_equal(err_message(), expected);
    config_free(c);
}

static void test_include_cycle(void **state)
{
    fixture *fx = *state;
    write_file(fx, "a.ini", "[s]\nk = 1\ninclude = b.ini\n");
    write_file(fx, "b.ini", "[s]\ninclude = a.ini\n");
    load_fails(fx, "a.ini");
    char expected[2048];
    snprintf(expected, sizeof expected, "%1$s/b.ini:2: include 'a.ini': include cycle: %1$s/a.ini -> %1$s/b.ini -> %1$s/a.ini",
             fx->dir);
    assert_string_equal(err_message(), expected);

    write_file(fx, "self.ini", "include = self.ini\n");
    load_fails(fx, "self.ini");
    assert_error_contains("include cycle");

    /* Including the same file twice (not nested) is not a cycle. */
    write_file(fx, "leaf.ini", "[s]\nleaf = 1\n");
    write_file(fx, "twice.ini", "include = leaf.ini\ninclude = leaf.ini\n");
    config *c = load_ok(fx, "twice.ini");
    assert_string_equal(config_lookup(c, "s.leaf"), "1");
    config_free(c);
}

static void test_include_depth_limit(void **state)
{
    fixture *fx = *state;
    /* f0 includes f1 ... : 16 nested includes are fine, the 17th is not. */
    char name[32], text[64];
    for (int i = 0; i <= 17; i++) {
        snprintf(name, sizeof name, "f%d.ini", i);
        if (i < 17)
            snprintf(text, sizeof text, "[s]\nlevel%d = 1\ninclude = f%d.ini\n", i, i + 1);
        else
            snprintf(text, sizeof text, "[s]\nlevel%d = 1\n", i);
        write_file(fx, name, text);
    }
    config *c = load_ok(fx, "f1.ini"); /* f1 .. f17: 16 nested */
    assert_string_equal(config_lookup(c, "s.level17"), "1");
    config_free(c);
    load_fails(fx, "f0.ini"); /* f0 .. f17: 17 nested */
    assert_error_contains("includes nested more than 16 deep: ");
    assert_error_contains("f0.ini -> ");
    assert_error_contains("f16.ini -> ");
    assert_error_contains("/f17.ini");
}

static void test_include_missing_file(void **state)
{
    fixture *fx = *state;
    write_file(fx, "main.ini", "[s]\nk = 1\ninclude = gone.ini\n");
    load_fails(fx, "main.ini");
    char expected[1200];
    snprintf(expected, sizeof expected,
             "%1$s/main.ini:3: include 'gone.ini': cannot open '%1$s/gone.ini': No such file or directory", fx->dir);
    assert_string_equal(err_message(), expected);
}

static void test_include_empty_and_directory(void **state)
{
    fixture *fx = *state;
    make_subdir(fx, "sub");
    config *c = config_new();
    assert_int_equal(config_load_string(c, "include =\n", "x.ini", fx->dir), -1);
    assert_string_equal(err_message(), "x.ini:1: include needs a file name");
    assert_int_equal(config_load_string(c, "include = sub\n", "x.ini", fx->dir), -1);
    assert_error_contains("not a regular file");
    config_free(c);
}

/* ---- overrides ---------------------------------------------------------- */

static void test_override_applies_and_wins(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "[sdf]\nwidth = 10\n", "x.ini", NULL), 0);
    assert_int_equal(config_apply_override(c, "sdf.width=20", "command line"), 0);
    assert_string_equal(config_lookup(c, "sdf.width"), "20");
    assert_int_equal(config_apply_override(c, " sdf.name =  two words ", "command line"), 0);
    assert_string_equal(config_lookup(c, "sdf.name"), "two words");
    assert_int_equal(config_apply_override(c, "sdf.mode=a=b", "command line"), 0);
    assert_string_equal(config_lookup(c, "sdf.mode"), "a=b");
    assert_int_equal(config_apply_override(c, "sdf.empty=", "command line"), 0);
    assert_string_equal(config_lookup(c, "sdf.empty"), "");
    assert_int_equal(config_apply_override(c, "sdf.width=abc", "command line"), 0);
    config_free(c);
}

static void test_override_origin_in_errors(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "[sdf]\nwidth = 10\n", "x.ini", NULL), 0);
    assert_int_equal(config_apply_override(c, "sdf.width=5000", "command line"), 0);
    assert_int_equal(config_validate(c, schemas), -1);
    assert_string_equal(err_message(), "command line: sdf.width = 5000 is out of range [1, 4096]");
    config_free(c);
}

static void test_override_malformed(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_apply_override(c, "sdf.width", "command line"), -1);
    assert_string_equal(err_message(), "command line: override 'sdf.width' is not of the form section.key=value");
    const char *bad_keys[] = {"width=1", "=1", ".width=1", "sdf.=1", "sdf..width=1", "sdf.wi dth=1", " =1"};
    for (size_t i = 0; i < sizeof bad_keys / sizeof *bad_keys; i++) {
        err_clear();
        if (config_apply_override(c, bad_keys[i], "command line") != -1)
            fail_msg("override '%s' was accepted", bad_keys[i]);
        assert_error_contains("command line: override '");
    }
    const char *bad_values[] = {"s.k=a ;b", "s.k=;b", "s.k=a\nb", "s.k=a\tb"};
    for (size_t i = 0; i < sizeof bad_values / sizeof *bad_values; i++) {
        err_clear();
        if (config_apply_override(c, bad_values[i], "command line") != -1)
            fail_msg("override value '%s' was accepted", bad_values[i]);
        assert_error_contains("command line: s.k = '");
    }
    assert_int_equal(config_apply_override(c, "s.include=x.ini", "command line"), -1);
    assert_error_contains("'include' is a directive");
    char *dump = config_dump(c);
    assert_string_equal(dump, ""); /* nothing was stored */
    free(dump);
    config_free(c);
}

static void test_set_rejects_values_dump_cannot_hold(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_set(c, "s.k", " padded", "test"), -1);
    assert_error_contains("starts or ends with whitespace");
    char long_value[300];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    assert_int_equal(config_set(c, "s.k", long_value, "test"), -1);
    assert_string_equal(err_message(), "test: s.k: 'name = value' longer than 197 characters");
    assert_int_equal(config_set(c, "s.k", "a;b # fine", "test"), 0);
    config_free(c);
}

/* ---- validation --------------------------------------------------------- */

static void test_unknown_key_suggestion(void **state)
{
    (void)state;
    assert_invalid("[sdf]\nwidth = 1\nwidht = 2\n",
                   "unknown key 'sdf.widht' (from x.ini:3); did you mean 'sdf.width'?");
    assert_invalid("[sdf]\nwidth = 1\n[sfd]\nheight = 2\n",
                   "unknown key 'sfd.height' (from x.ini:4); did you mean 'sdf.height'?");
    /* Far from every key: no suggestion. */
    assert_invalid("[sdf]\nwidth = 1\n[zzz]\nqqqqqq = 2\n", "unknown key 'zzz.qqqqqq' (from x.ini:4)");
    /* Only the section is wrong: suggest the keys with that name. */
    assert_invalid("[sdf]\nwidth = 1\n[geometry]\nmode = fast\n",
                   "unknown key 'geometry.mode' (from x.ini:4); did you mean 'sdf.mode'?");
    assert_invalid("[sdf]\nwidth = 1\n[geometry]\nwidth = 3\n",
                   "unknown key 'geometry.width' (from x.ini:4); did you mean 'sdf.width' or 'render.width' or "
                   "'output.width'?");
    config *c = config_new();
    assert_int_equal(config_set(c, "sdf.width", "1", "test"), 0);
    assert_int_equal(config_apply_override(c, "solver.tols=1", "command line"), 0);
    assert_int_equal(config_validate(c, schemas), -1);
    assert_string_equal(err_message(), "unknown key 'solver.tols' (from command line); did you mean 'solver.tol'?");
    config_free(c);
    /* Six edits in sixteen characters is beyond the max(2, len/3) limit. */
    c = config_new();
    assert_int_equal(config_set(c, "sdf.width", "1", "test"), 0);
    assert_int_equal(config_apply_override(c, "solver.tolerance=1", "command line"), 0);
    assert_int_equal(config_validate(c, schemas), -1);
    assert_string_equal(err_message(), "unknown key 'solver.tolerance' (from command line)");
    config_free(c);
}

static void test_int_errors(void **state)
{
    (void)state;
    assert_invalid("[sdf]\nwidth = abc\n", "x.ini:2: sdf.width = 'abc' is not an integer");
    assert_invalid("[sdf]\nwidth = 12abc\n", "x.ini:2: sdf.width = '12abc' is not an integer");
    assert_invalid("[sdf]\nwidth = 1.5\n", "x.ini:2: sdf.width = '1.5' is not an integer");
    assert_invalid("[sdf]\nwidth =\n", "x.ini:2: sdf.width = '' is not an integer");
    assert_invalid("[sdf]\nwidth = 0x10\n", "x.ini:2: sdf.width = '0x10' is not an integer");
    assert_invalid("[sdf]\nwidth = 5000\n", "x.ini:2: sdf.width = 5000 is out of range [1, 4096]");
    assert_invalid("[sdf]\nwidth = 0\n", "x.ini:2: sdf.width = 0 is out of range [1, 4096]");
    assert_invalid("[sdf]\nwidth = 1\noffset = 99999999999999999999999\n",
                   "x.ini:3: sdf.offset = 99999999999999999999999 is out of range for an integer");
    /* Bounds are inclusive; min > max disables the range. */
    config *c = NULL;
    assert_int_equal(validate_text("[sdf]\nwidth = 4096\noffset = -123456789\n", &c), 0);
    assert_int_equal(config_int(c, "sdf.width"), 4096);
    assert_int_equal(config_int(c, "sdf.offset"), -123456789);
    config_free(c);
    assert_int_equal(validate_text("[sdf]\nwidth = +1\n", &c), 0);
    assert_int_equal(config_int(c, "sdf.width"), 1);
    config_free(c);
}

static void test_real_errors(void **state)
{
    (void)state;
    assert_invalid("[sdf]\nwidth = 1\n[solver]\ntol = abc\n", "x.ini:4: solver.tol = 'abc' is not a number");
    assert_invalid("[sdf]\nwidth = 1\n[solver]\ntol = 0.5x\n", "x.ini:4: solver.tol = '0.5x' is not a number");
    assert_invalid("[sdf]\nwidth = 1\n[solver]\ntol = nan\n", "x.ini:4: solver.tol = 'nan' is not a finite number");
    assert_invalid("[sdf]\nwidth = 1\n[solver]\nscale = -inf\n",
                   "x.ini:4: solver.scale = '-inf' is not a finite number");
    assert_invalid("[sdf]\nwidth = 1\n[solver]\nscale = 1e999\n",
                   "x.ini:4: solver.scale = '1e999' is not a finite number");
    assert_invalid("[sdf]\nwidth = 1\n[solver]\ntol = 1.5\n", "x.ini:4: solver.tol = 1.5 is out of range [0, 1]");
    assert_invalid("[sdf]\nwidth = 1\n[solver]\ntol = -1e-9\n", "x.ini:4: solver.tol = -1e-9 is out of range [0, 1]");
    config *c = NULL;
    assert_int_equal(validate_text("[sdf]\nwidth = 1\n[solver]\ntol = 1\nscale = -2.5e3\n", &c), 0);
    assert_true(config_real(c, "solver.tol") == 1.0);
    assert_true(config_real(c, "solver.scale") == -2500.0);
    config_free(c);
}

static void test_bool_values_and_errors(void **state)
{
    (void)state;
    const char *truths[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    const char *falsehoods[] = {"false", "no", "off", "0", "False", "OFF"};
    char text[128];
    for (size_t i = 0; i < sizeof truths / sizeof *truths; i++) {
        config *c = NULL;
        snprintf(text, sizeof text, "[sdf]\nwidth = 1\n[solver]\nverbose = %s\n", truths[i]);
        assert_int_equal(validate_text(text, &c), 0);
        assert_int_equal(config_bool(c, "solver.verbose"), 1);
        config_free(c);
        snprintf(text, sizeof text, "[sdf]\nwidth = 1\n[solver]\nverbose = %s\n", falsehoods[i]);
        assert_int_equal(validate_text(text, &c), 0);
        assert_int_equal(config_bool(c, "solver.verbose"), 0);
        config_free(c);
    }
    assert_invalid("[sdf]\nwidth = 1\n[solver]\nverbose = maybe\n",
                   "x.ini:4: solver.verbose = 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)");
    assert_invalid("[sdf]\nwidth = 1\n[solver]\nverbose = 2\n",
                   "x.ini:4: solver.verbose = '2' is not a boolean (true/false, yes/no, on/off, 1/0)");
}

static void test_choice_values_and_errors(void **state)
{
    (void)state;
    config *c = NULL;
    assert_int_equal(validate_text("[sdf]\nwidth = 1\nmode = lazy\n", &c), 0);
    assert_string_equal(config_str(c, "sdf.mode"), "lazy");
    config_free(c);
    assert_invalid("[sdf]\nwidth = 1\nmode = quick\n", "x.ini:3: sdf.mode = 'quick' is not one of exact|fast|lazy");
    assert_invalid("[sdf]\nwidth = 1\nmode = fas\n", "x.ini:3: sdf.mode = 'fas' is not one of exact|fast|lazy");
    assert_invalid("[sdf]\nwidth = 1\nmode = Fast\n", "x.ini:3: sdf.mode = 'Fast' is not one of exact|fast|lazy");
}

static void test_missing_required_key(void **state)
{
    (void)state;
    assert_invalid("[sdf]\nheight = 3\n", "missing required key 'sdf.width' (grid width)");
}

static void test_defaults_filled(void **state)
{
    (void)state;
    config *c = NULL;
    assert_int_equal(validate_text("[sdf]\nwidth = 7\n", &c), 0);
    assert_int_equal(config_int(c, "sdf.width"), 7);
    assert_int_equal(config_int(c, "sdf.height"), 64);
    assert_string_equal(config_str(c, "sdf.mode"), "exact");
    assert_string_equal(config_str(c, "sdf.name"), "unnamed");
    assert_string_equal(config_str(c, "sdf.height"), "64");
    assert_true(config_real(c, "solver.tol") == 1e-6);
    assert_int_equal(config_bool(c, "solver.verbose"), 0);
    assert_string_equal(config_lookup(c, "solver.scale"), "1.5");
    config_free(c);
}

static void test_bad_default_and_schema_reported(void **state)
{
    (void)state;
    static const cfg_spec bad_default[] = {{.key = "a.n", .type = CFG_INT, .def = "ten", .min = 1, .max = 0},
                                           {.key = NULL}};
    static const cfg_spec duplicate[] = {{.key = "a.n", .type = CFG_STRING, .def = ""},
                                         {.key = "a.n", .type = CFG_STRING, .def = ""},
                                         {.key = NULL}};
    static const cfg_spec no_choices[] = {{.key = "a.c", .type = CFG_CHOICE, .def = "x"}, {.key = NULL}};
    const cfg_spec *const s1[] = {bad_default, NULL}, *const s2[] = {duplicate, NULL}, *const s3[] = {no_choices, NULL};
    config *c = config_new();
    assert_int_equal(config_validate(c, s1), -1);
    assert_string_equal(err_message(), "default: a.n = 'ten' is not an integer");
    assert_int_equal(config_validate(c, s2), -1);
    assert_string_equal(err_message(), "schema: key 'a.n' is defined twice");
    assert_int_equal(config_validate(c, s3), -1);
    assert_string_equal(err_message(), "schema: 'a.c' is a choice without choices");
    assert_null(config_lookup(c, "a.n")); /* failed validation adds no defaults */
    config_free(c);
}

static void test_empty_config_and_schema(void **state)
{
    (void)state;
    config *c = config_new();
    const cfg_spec *const none[] = {NULL};
    assert_int_equal(config_validate(c, none), 0);
    assert_int_equal(config_validate(c, NULL), 0);
    assert_int_equal(config_set(c, "a.b", "1", "test"), 0);
    assert_int_equal(config_validate(c, none), -1);
    assert_string_equal(err_message(), "unknown key 'a.b' (from test)");
    config_free(c);
}

/* Run fn in a child and check that it aborts (stderr silenced). */
static void assert_aborts(void (*fn)(const config *), const config *c)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO);
        fn(c);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void get_unknown_int(const config *c) { (void)config_int(c, "sdf.nosuch"); }
static void get_width_as_real(const config *c) { (void)config_real(c, "sdf.width"); }
static void get_width_as_int(const config *c) { (void)config_int(c, "sdf.width"); }

static void test_getter_misuse_aborts(void **state)
{
    (void)state;
    config *c = NULL;
    assert_int_equal(validate_text("[sdf]\nwidth = 7\n", &c), 0);
    assert_aborts(get_unknown_int, c);
    assert_aborts(get_width_as_real, c);
    /* Any change after validation requires validating again. */
    assert_int_equal(config_set(c, "sdf.width", "8", "test"), 0);
    assert_aborts(get_width_as_int, c);
    assert_int_equal(config_validate(c, schemas), 0);
    assert_int_equal(config_int(c, "sdf.width"), 8);
    config_free(c);

    config *unvalidated = config_new();
    assert_int_equal(config_set(unvalidated, "sdf.width", "8", "test"), 0);
    assert_aborts(get_width_as_int, unvalidated);
    config_free(unvalidated);
}

/* ---- dump and hash ------------------------------------------------------ */

static void test_dump_format(void **state)
{
    (void)state;
    config *c = config_new();
    assert_int_equal(config_load_string(c, "[zeta]\nb = 2\na = 1\n[alpha]\nz = last\nm = \n[alpha.sub]\nk = v\n",
                                        "x.ini", NULL),
                     0);
    char *dump = config_dump(c);
    assert_string_equal(dump, "[alpha]\nm = \nz = last\n\n[alpha.sub]\nk = v\n\n[zeta]\na = 1\nb = 2\n");
    free(dump);
    config_free(c);
}

/* dump -> load -> dump gives the same text and hash. */
static void assert_round_trip(const config *c)
{
    char *dump = config_dump(c);
    assert_non_null(dump);
    config *reloaded = config_new();
    if (config_load_string(reloaded, dump, "dump", NULL) != 0)
        fail_msg("reloading the dump failed: %s\n%s", err_message(), dump);
    char *again = config_dump(reloaded);
    assert_string_equal(again, dump);
    assert_true(config_hash(reloaded) == config_hash(c));
    free(again);
    free(dump);
    config_free(reloaded);
}

static void test_dump_round_trip(void **state)
{
    (void)state;
    config *c = NULL;
    assert_int_equal(
        validate_text("[sdf]\nwidth = 12\nname = a = b : c ; comment\n[solver]\nverbose = on\ntol = 1e-3\n", &c), 0);
    assert_int_equal(config_apply_override(c, "sdf.name=semi;colon:#hash \"quoted\" [x]", "command line"), 0);
    assert_int_equal(config_set(c, "x.y.z", "", "test"), 0);
    assert_round_trip(c);
    config_free(c);
}

static void test_hash_stability_and_sensitivity(void **state)
{
    (void)state;
    config *a = config_new(), *b = config_new();
    assert_int_equal(config_load_string(a, "[s]\nx = 1\ny = 2\n[t]\nz = 3\n", "a.ini", NULL), 0);
    assert_int_equal(config_load_string(b, "[t]\nz = 3\n[s]\ny = 2\nx = 0\n", "b.ini", NULL), 0);
    assert_true(config_hash(a) != config_hash(b));
    assert_int_equal(config_apply_override(b, "s.x=1", "command line"), 0);
    assert_true(config_hash(a) == config_hash(b)); /* order and origin do not matter */
    uint64_t before = config_hash(a);
    assert_true(config_hash(a) == before);
    assert_int_equal(config_set(a, "s.x", "10", "test"), 0);
    assert_true(config_hash(a) != before);
    assert_int_equal(config_set(a, "s.x", "1", "test"), 0);
    assert_true(config_hash(a) == before);
    /* A value moving between keys changes the hash too. */
    assert_int_equal(config_set(a, "s.w", "", "test"), 0);
    assert_true(config_hash(a) != before);
    /* FNV-1a 64 of the empty dump is the offset basis. */
    config *empty = config_new();
    assert_true(config_hash(empty) == 14695981039346656037ULL);
    /* And of "[s]\nx = 1\n", computed independently. */
    assert_int_equal(config_set(empty, "s.x", "1", "test"), 0);
    uint64_t h = 14695981039346656037ULL;
    for (const char *p = "[s]\nx = 1\n"; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    assert_true(config_hash(empty) == h);
    config_free(empty);
    config_free(a);
    config_free(b);
}

/* ---- edit distance ------------------------------------------------------ */

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(config_edit_distance("", ""), 0);
    assert_int_equal(config_edit_distance("abc", ""), 3);
    assert_int_equal(config_edit_distance("", "abcd"), 4);
    assert_int_equal(config_edit_distance("same", "same"), 0);
    assert_int_equal(config_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(config_edit_distance("sitting", "kitten"), 3);
    assert_int_equal(config_edit_distance("flaw", "lawn"), 2);
    assert_int_equal(config_edit_distance("sdf.widht", "sdf.width"), 2);
    assert_int_equal(config_edit_distance("a", "b"), 1);
    assert_int_equal(config_edit_distance("intention", "execution"), 5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_load_basic_file),
        T(test_later_definition_wins),
        T(test_keys_are_case_sensitive),
        T(test_dotted_section_equals_dotted_name),
        T(test_malformed_line_reports_line_number),
        T(test_key_before_section_rejected),
        T(test_bad_names_rejected),
        T(test_continuation_line_rejected),
        T(test_overlong_line_rejected),
        T(test_long_section_name_rejected),
        T(test_failed_load_leaves_config_unchanged),
        T(test_missing_file),
        T(test_include_override_order),
        T(test_include_before_first_section),
        T(test_include_relative_to_including_file),
        T(test_include_origin_names_included_file),
        T(test_include_cycle),
        T(test_include_depth_limit),
        T(test_include_missing_file),
        T(test_include_empty_and_directory),
        T(test_override_applies_and_wins),
        T(test_override_origin_in_errors),
        T(test_override_malformed),
        T(test_set_rejects_values_dump_cannot_hold),
        T(test_unknown_key_suggestion),
        T(test_int_errors),
        T(test_real_errors),
        T(test_bool_values_and_errors),
        T(test_choice_values_and_errors),
        T(test_missing_required_key),
        T(test_defaults_filled),
        T(test_bad_default_and_schema_reported),
        T(test_empty_config_and_schema),
        T(test_getter_misuse_aborts),
        T(test_dump_format),
        T(test_dump_round_trip),
        T(test_hash_stability_and_sensitivity),
        T(test_edit_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
