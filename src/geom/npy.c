/* npy.c — NumPy .npy/.npz files and the ndarray container (see array_io.h).
 * Files are read and written atomically through phive/fileio.h.
 *
 * The .npy format: "\x93NUMPY", major, minor, a little-endian header length
 * (2 bytes in 1.0, 4 bytes in 2.0/3.0), a Python dict literal with 'descr',
 * 'fortran_order' and 'shape', then the raw elements.
 */
#include "phive/array_io.h"
#include "phive/errors.h"
#include "phive/fileio.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>

/* ---------------------------------------------------------------- ndarray */

void ndarray_init(ndarray *a)
{
    memset(a, 0, sizeof *a);
    for (int k = 0; k < NDARRAY_MAX_DIMS; k++)
        a->dims[k] = 1;
    a->count = 1;
}

void ndarray_free(ndarray *a)
{
    free(a->data);
    ndarray_init(a);
}

/* Product of dims, or -1 when it would overflow size_t / elem_size. */
static int count_elements(int ndim, const size_t *dims, size_t elem_size, size_t *count)
{
    size_t n = 1;
    for (int k = 0; k < ndim; k++) {
        if (dims[k] != 0 && n > SIZE_MAX / elem_size / dims[k])
            return -1;
        n *= dims[k];
    }
    *count = n;
    return 0;
}

int ndarray_alloc(ndarray *a, int ndim, const size_t *dims)
{
    ndarray_free(a);
    if (ndim < 0 || ndim > NDARRAY_MAX_DIMS)
        return err_set("ndarray: %d dimensions (at most %d)", ndim, NDARRAY_MAX_DIMS);
    size_t count;
    if (count_elements(ndim, dims, sizeof(double), &count) < 0)
        return err_set("ndarray: shape too large");
    /* calloc(0) may return NULL; keep data non-NULL so callers need no special case. */
    double *data = calloc(count ? count : 1, sizeof *data);
    if (data == NULL)
        return err_set("ndarray: out of memory for %zu values", count);
    a->ndim = ndim;
    for (int k = 0; k < ndim; k++)
        a->dims[k] = dims[k];
    a->count = count;
    a->data = data;
    return 0;
}

size_t ndarray_index(const ndarray *a, const size_t *idx)
{
    size_t lin = 0;
    for (int k = 0; k < a->ndim; k++)
        lin = lin * a->dims[k] + idx[k];
    return lin;
}

int ndarray_to_float(const ndarray *a, float **out)
{
    float *f = malloc((a->count ? a->count : 1) * sizeof *f);
    if (f == NULL)
        return err_set("ndarray: out of memory for %zu floats", a->count);
    for (size_t i = 0; i < a->count; i++)
        f[i] = (float)a->data[i];
    *out = f;
    return 0;
}

int ndarray_colmajor_to_c(ndarray *a)
{
    if (a->ndim < 2 || a->count < 2)
        return 0; /* one memory order only */
    double *c = malloc(a->count * sizeof *c);
    if (c == NULL)
        return err_set("ndarray: out of memory reordering %zu values", a->count);
    size_t stride[NDARRAY_MAX_DIMS], idx[NDARRAY_MAX_DIMS] = {0}, off = 0;
    stride[0] = 1;
    for (int k = 1; k < a->ndim; k++)
        stride[k] = stride[k - 1] * a->dims[k - 1];
    /* Walk C order with an odometer, tracking the column-major offset. */
    for (size_t i = 0; i < a->count; i++) {
        c[i] = a->data[off];
        for (int k = a->ndim - 1; k >= 0; k--) {
            if (++idx[k] < a->dims[k]) {
                off += stride[k];
                break;
            }
            off -= (idx[k] - 1) * stride[k];
            idx[k] = 0;
        }
    }
    free(a->data);
    a->data = c;
    return 0;
}

/* ------------------------------------------------------------ npy header */

/* An element type: kind 'f', 'i', 'u' or 'b', its size, and byte order. */
typedef struct {
    char kind;
    int size;
    int swap; /* stored big-endian on this little-endian host, or vice versa */
} npy_dtype;

typedef struct {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && isspace((unsigned char)*c->p))
        c->p++;
}

static int accept_char(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string ('...' or "...") into buf. */
static int parse_string(cursor *c, char *buf, size_t size)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return -1;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (n + 1 >= size)
            return -1;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    buf[n] = '\0';
    return 0;
}

static int parse_bool(cursor *c, int *value)
{
    skip_space(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        c->p += 4;
        *value = 1;
        return 0;
    }
    if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        *value = 0;
        return 0;
    }
    return -1;
}

/* "(4, 4)", "(5,)", "()"; Python 2 files may write "4L". */
static int parse_shape(cursor *c, int *ndim, size_t *dims)
{
    if (!accept_char(c, '('))
        return -1;
    *ndim = 0;
    while (!accept_char(c, ')')) {
        skip_space(c);
        if (c->p >= c->end || !isdigit((unsigned char)*c->p))
            return -1;
        size_t v = 0;
        while (c->p < c->end && isdigit((unsigned char)*c->p)) {
            size_t d = (size_t)(*c->p++ - '0');
            if (v > (SIZE_MAX - d) / 10)
                return -1;
            v = v * 10 + d;
        }
        if (c->p < c->end && *c->p == 'L')
            c->p++;
        if (*ndim <= NDARRAY_MAX_DIMS) /* one past the limit marks "too many" */
            dims[(*ndim)++] = v;
        if (!accept_char(c, ',') && !(skip_space(c), c->p < c->end && *c->p == ')'))
            return -1;
    }
    return 0;
}

static int parse_descr(const char *descr, npy_dtype *t)
{
    char order = descr[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return -1;
    t->kind = descr[1];
    char *end;
    long size = strtol(descr + 2, &end, 10);
    if (*end != '\0' || descr[2] == '\0')
        return -1;
    t->size = (int)size;
    int ok = (t->kind == 'f' && (size == 4 || size == 8)) ||
             ((t->kind == 'i' || t->kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
             (t->kind == 'b' && size == 1);
    if (!ok)
        return -1;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    t->swap = order == '>' && size > 1;
#else
    t->swap = order == '<' && size > 1;
#endif
    return 0;
}

typedef struct {
    char descr[32];
    npy_dtype dtype;
    int fortran_order;
    int ndim;
    size_t dims[NDARRAY_MAX_DIMS + 1]; /* one spare to report "too many" */
} npy_header;

/* One "key: value" pair of the header dict. */
static int parse_entry(cursor *c, npy_header *h, unsigned *seen, const char *name)
{
    char key[32];
    if (parse_string(c, key, sizeof key) < 0 || !accept_char(c, ':'))
        return err_set("%s: malformed .npy header dict", name);
    if (strcmp(key, "descr") == 0) {
        skip_space(c);
        if (c->p < c->end && *c->p == '[')
            return err_set("%s: unsupported dtype: structured arrays are not read", name);
        if (parse_string(c, h->descr, sizeof h->descr) < 0)
            return err_set("%s: malformed 'descr' in .npy header", name);
        *seen |= 1;
    } else if (strcmp(key, "fortran_order") == 0) {
        if (parse_bool(c, &h->fortran_order) < 0)
            return err_set("%s: malformed 'fortran_order' in .npy header", name);
        *seen |= 2;
    } else if (strcmp(key, "shape") == 0) {
        if (parse_shape(c, &h->ndim, h->dims) < 0)
            return err_set("%s: malformed 'shape' in .npy header", name);
        *seen |= 4;
    } else {
        return err_set("%s: unexpected key '%s' in .npy header", name, key);
    }
    return 0;
}

static int parse_header_dict(const char *text, size_t len, const char *name, npy_header *h)
{
    cursor c = {text, text + len};
    unsigned seen = 0;
    if (!accept_char(&c, '{'))
        return err_set("%s: .npy header is not a dict", name);
    while (!accept_char(&c, '}')) {
        if (parse_entry(&c, h, &seen, name) < 0)
            return -1;
        if (!accept_char(&c, ',') && !(skip_space(&c), c.p < c.end && *c.p == '}'))
            return err_set("%s: malformed .npy header dict", name);
    }
    if (seen != 7)
        return err_set("%s: .npy header lacks %s", name,
                       !(seen & 1) ? "'descr'" : !(seen & 2) ? "'fortran_order'" : "'shape'");
    if (h->ndim > NDARRAY_MAX_DIMS)
        return err_set("%s: more than %d dimensions are not read", name, NDARRAY_MAX_DIMS);
    if (parse_descr(h->descr, &h->dtype) < 0)
        return err_set("%s: unsupported dtype '%s' (read: float 4/8, int/uint 1/2/4/8, bool)", name,
                       h->descr);
    return 0;
}

/* Magic and version; *offset and *hlen locate the header text. */
static int parse_preamble(const unsigned char *b, size_t len, const char *name, size_t *offset, size_t *hlen)
{
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return err_set("%s: not a .npy file (bad magic)", name);
    int major = b[6];
    if (major == 1) {
        *hlen = (size_t)b[8] | (size_t)b[9] << 8;
        *offset = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return err_set("%s: truncated .npy header", name);
        *hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        *offset = 12;
    } else {
        return err_set("%s: unsupported .npy format version %d.%d", name, major, b[7]);
    }
    if (*hlen > len - *offset)
        return err_set("%s: truncated .npy header (%zu bytes announced, %zu present)", name, *hlen,
                       len - *offset);
    return 0;
}

/* ------------------------------------------------------------- npy data */

static double load_element(const unsigned char *p, const npy_dtype *t)
{
    unsigned char b[8];
    for (int k = 0; k < t->size; k++)
        b[k] = t->swap ? p[t->size - 1 - k] : p[k];
    switch (t->kind) {
    case 'f':
        if (t->size == 4) {
            float f;
            memcpy(&f, b, 4);
            return f;
        } else {
            double d;
            memcpy(&d, b, 8);
            return d;
        }
    case 'b':
        return b[0] != 0;
    case 'u': {
        uint64_t u = 0;
        memcpy(&u, b, (size_t)t->size); /* little-endian host: low bytes first */
        return (double)u;
    }
    default: { /* 'i': sign-extend from size bytes */
        uint64_t u = 0;
        memcpy(&u, b, (size_t)t->size);
        int shift = 64 - 8 * t->size;
        return (double)((int64_t)(u << shift) >> shift);
    }
    }
}

static void format_shape(const npy_header *h, char *buf, size_t size)
{
    int n = snprintf(buf, size, "(");
    for (int k = 0; k < h->ndim && n > 0 && (size_t)n < size; k++)
        n += snprintf(buf + n, size - (size_t)n, k ? ", %zu" : "%zu", h->dims[k]);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, h->ndim == 1 ? ",)" : ")");
}

static int check_data_size(const npy_header *h, size_t have, const char *name, size_t *count)
{
    char shape[128];
    format_shape(h, shape, sizeof shape);
    if (count_elements(h->ndim, h->dims, (size_t)h->dtype.size, count) < 0)
        return err_set("%s: shape %s is too large", name, shape);
    size_t want = *count * (size_t)h->dtype.size;
    if (have < want)
        return err_set("%s: truncated data: shape %s of %s needs %zu bytes, file holds %zu", name, shape,
                       h->descr, want, have);
    if (have > want)
        return err_set("%s: header/shape mismatch: shape %s of %s needs %zu bytes, file holds %zu", name,
                       shape, h->descr, want, have);
    return 0;
}

int npy_parse(const void *bytes, size_t len, const char *name, ndarray *out)
{
    const unsigned char *b = bytes;
    size_t offset = 0, hlen = 0, count = 0;
    npy_header h;
    memset(&h, 0, sizeof h);
    if (parse_preamble(b, len, name, &offset, &hlen) < 0 ||
        parse_header_dict((const char *)b + offset, hlen, name, &h) < 0 ||
        check_data_size(&h, len - offset - hlen, name, &count) < 0)
        return -1;
    ndarray a;
    ndarray_init(&a);
    if (ndarray_alloc(&a, h.ndim, h.dims) < 0)
        return err_context("%s", name);
    const unsigned char *data = b + offset + hlen;
    for (size_t i = 0; i < count; i++)
        a.data[i] = load_element(data + i * (size_t)h.dtype.size, &h.dtype);
    if (h.fortran_order && ndarray_colmajor_to_c(&a) < 0) {
        ndarray_free(&a);
        return err_context("%s", name);
    }
    snprintf(a.source, sizeof a.source, "%.15s", h.descr); /* accepted descrs are short */
    ndarray_free(out);
    *out = a;
    return 0;
}

int npy_read(const char *path, ndarray *out)
{
    char *bytes = NULL;
    size_t len = 0;
    if (file_read_all(path, &bytes, &len) < 0)
        return -1;
    int rc = npy_parse(bytes, len, path, out);
    free(bytes);
    return rc;
}

/* ---------------------------------------------------------- npy writing */

/* The .npy 1.0 image of a: header padded so the data starts 64-byte aligned. */
static int npy_encode(const ndarray *a, ndarray_dtype dtype, const char *name, unsigned char **out, size_t *len)
{
    if (a->ndim < 0 || a->ndim > NDARRAY_MAX_DIMS)
        return err_set("%s: %d dimensions (at most %d)", name, a->ndim, NDARRAY_MAX_DIMS);
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     dtype == NDARRAY_F32 ? "<f4" : "<f8");
    for (int k = 0; k < a->ndim; k++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, k ? ", %zu" : "%zu", a->dims[k]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", a->ndim == 1 ? "," : "");
    size_t hlen = ((10 + (size_t)n + 1 + 63) / 64) * 64 - 10; /* dict, spaces, '\n' */
    size_t esize = dtype == NDARRAY_F32 ? 4 : 8;
    unsigned char *buf = malloc(10 + hlen + a->count * esize);
    if (buf == NULL)
        return err_set("%s: out of memory encoding %zu values", name, a->count);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memset(buf + 10, ' ', hlen);
    memcpy(buf + 10, dict, (size_t)n);
    buf[10 + hlen - 1] = '\n';
    unsigned char *data = buf + 10 + hlen;
    for (size_t i = 0; i < a->count; i++) {
        if (dtype == NDARRAY_F32) {
            float f = (float)a->data[i];
            memcpy(data + 4 * i, &f, 4); /* little-endian host */
        } else {
            memcpy(data + 8 * i, &a->data[i], 8);
        }
    }
    *out = buf;
    *len = 10 + hlen + a->count * esize;
    return 0;
}

int npy_write(const char *path, const ndarray *a, ndarray_dtype dtype)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (npy_encode(a, dtype, path, &buf, &len) < 0)
        return -1;
    int rc = file_write_atomic(path, buf, len);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------- npz */

static zip_t *open_zip(const char *path, int flags)
{
    int code = 0;
    zip_t *za = zip_open(path, flags, &code);
    if (za == NULL) {
        zip_error_t e;
        zip_error_init_with_code(&e, code);
        err_set("%s: cannot open as .npz (zip): %s", path, zip_error_strerror(&e));
        zip_error_fini(&e);
    }
    return za;
}

/* "world_mat_0" -> "world_mat_0.npy" unless it already ends in .npy. */
static int member_name(const char *path, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    const char *suffix = n >= 4 && strcmp(name + n - 4, ".npy") == 0 ? "" : ".npy";
    if ((size_t)snprintf(buf, size, "%s%s", name, suffix) >= size)
        return err_set("%s: member name '%s' too long", path, name);
    return 0;
}

/* Read the whole member; reading past its end makes libzip check the CRC. */
static int read_member(zip_t *za, zip_int64_t idx, const char *what, unsigned char **out, size_t *len)
{
    zip_stat_t st;
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return err_set("%s: cannot stat: %s", what, zip_strerror(za));
    zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (zf == NULL)
        return err_set("%s: cannot open: %s", what, zip_strerror(za));
    size_t n = (size_t)st.size;
    unsigned char *buf = malloc(n + 1);
    if (buf == NULL) {
        zip_fclose(zf);
        return err_set("%s: out of memory for %zu bytes", what, n);
    }
    size_t got = 0;
    zip_int64_t r = 1;
    while (got <= n && (r = zip_fread(zf, buf + got, n + 1 - got)) > 0)
        got += (size_t)r;
    if (r < 0 || got != n) {
        err_set("%s: corrupt or truncated member (%s; %zu of %zu bytes)", what,
                r < 0 ? zip_file_strerror(zf) : "size mismatch", got, n);
        free(buf);
        zip_fclose(zf);
        return -1;
    }
    zip_fclose(zf);
    *out = buf;
    *len = n;
    return 0;
}

int npz_read(const char *path, const char *name, ndarray *out)
{
    char member[1024], what[1200];
    if (member_name(path, name, member, sizeof member) < 0)
        return -1;
    snprintf(what, sizeof what, "%s:%s", path, member);
    zip_t *za = open_zip(path, ZIP_RDONLY);
    if (za == NULL)
        return -1;
    zip_int64_t idx = zip_name_locate(za, member, 0);
    if (idx < 0) {
        err_set("%s: no member '%s' (%s) among its %lld", path, name, member,
                (long long)zip_get_num_entries(za, 0));
        zip_discard(za);
        return -1;
    }
    unsigned char *bytes = NULL;
    size_t len = 0;
    int rc = read_member(za, idx, what, &bytes, &len);
    zip_discard(za);
    if (rc < 0)
        return -1;
    rc = npy_parse(bytes, len, what, out);
    free(bytes);
    return rc;
}

void npz_names_free(char **names, size_t n)
{
    for (size_t i = 0; names != NULL && i < n; i++)
        free(names[i]);
    free(names);
}

int npz_list(const char *path, char ***names, size_t *n)
{
    zip_t *za = open_zip(path, ZIP_RDONLY);
    if (za == NULL)
        return -1;
    zip_int64_t total = zip_get_num_entries(za, 0);
    char **list = calloc(total > 0 ? (size_t)total : 1, sizeof *list);
    size_t k = 0;
    for (zip_int64_t i = 0; list != NULL && i < total; i++) {
        const char *s = zip_get_name(za, (zip_uint64_t)i, 0);
        size_t len = s ? strlen(s) : 0;
        if (len >= 4 && strcmp(s + len - 4, ".npy") == 0)
            len -= 4;
        if (s == NULL || (list[k] = strndup(s, len)) == NULL) {
            npz_names_free(list, k);
            list = NULL;
        } else {
            k++;
        }
    }
    zip_discard(za);
    if (list == NULL)
        return err_set("%s: cannot list members (out of memory or bad entry)", path);
    *names = list;
    *n = k;
    return 0;
}

/* Encode one array and add it; libzip owns the buffer once the source exists. */
static int add_member(zip_t *za, const char *path, const npz_entry *e, int compress)
{
    char member[1024], what[1200];
    if (member_name(path, e->name, member, sizeof member) < 0)
        return -1;
    snprintf(what, sizeof what, "%s:%s", path, member);
    unsigned char *buf = NULL;
    size_t len = 0;
    if (npy_encode(e->array, e->dtype, what, &buf, &len) < 0)
        return -1;
    zip_source_t *src = zip_source_buffer(za, buf, len, 1);
    if (src == NULL) {
        free(buf);
        return err_set("%s: %s", what, zip_strerror(za));
    }
    zip_int64_t idx = zip_file_add(za, member, src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        zip_source_free(src);
        return err_set("%s: cannot add (duplicate name?): %s", what, zip_strerror(za));
    }
    if (zip_set_file_compression(za, (zip_uint64_t)idx, compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0)
        return err_set("%s: cannot set compression: %s", what, zip_strerror(za));
    /* a fixed member time (2000-01-01): the same arrays give a byte-identical archive */
    if (zip_file_set_mtime(za, (zip_uint64_t)idx, (time_t)946684800, 0) != 0)
        return err_set("%s: cannot set the member time: %s", what, zip_strerror(za));
    return 0;
}

int npz_write(const char *path, const npz_entry *entries, size_t n, int compress)
{
    if (n == 0)
        return err_set("%s: an .npz needs at least one array", path); /* libzip writes no empty archive */
    char tmp[4096];
    if (file_tmp_path(path, tmp, sizeof tmp) < 0)
        return -1;
    unlink(tmp); /* a stale one from a crashed writer with our pid */
    zip_t *za = open_zip(tmp, ZIP_CREATE | ZIP_TRUNCATE);
    if (za == NULL)
        return err_context("%s", path);
    for (size_t i = 0; i < n; i++) {
        if (add_member(za, path, &entries[i], compress) < 0) {
            zip_discard(za);
            return -1;
        }
    }
    if (zip_close(za) != 0) {
        err_set("%s: writing %s failed: %s", path, tmp, zip_strerror(za));
        zip_discard(za);
        unlink(tmp);
        return -1;
    }
    return file_commit(tmp, path);
}
