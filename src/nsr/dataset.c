/* dataset.c — NeuS/IDR multi-view data sets: files, cameras, rays (see nsr_data.h). */
#include "phive/nsr_data.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nsr_rays.h"
#include "phive/array_io.h"
#include "phive/errors.h"
#include "phive/fileio.h"
#include "phive/image.h"

_Static_assert(NSR_CAMERA_REALS == NSR_CAM_SIZE, "packed camera size differs between nsr_data.h and nsr_rays.h");

/* ---- cameras ------------------------------------------------------------- */

static double det3(const double *m0, const double *m1, const double *m2)
{
    return m0[0] * (m1[1] * m2[2] - m1[2] * m2[1]) - m0[1] * (m1[0] * m2[2] - m1[2] * m2[0]) +
           m0[2] * (m1[0] * m2[1] - m1[1] * m2[0]);
}

static double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

int nsr_camera_from_projection(const double P_in[12], nsr_camera *cam)
{
    double P[12];
    for (int k = 0; k < 12; ++k) {
        if (!isfinite(P_in[k])) return err_set("projection matrix entry (%d, %d) is not finite", k / 4, k % 4);
        P[k] = P_in[k];
    }
    double m[3][3], norm = 0;
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) m[r][c] = P[4 * r + c], norm += m[r][c] * m[r][c];
    norm = sqrt(norm);
    double det = det3(m[0], m[1], m[2]);
    if (!(norm > 0) || !(fabs(det) > 1e-30 * norm * norm * norm))
        return err_set("projection matrix is singular (det P[:, :3] = %.3g, |P[:, :3]| = %.3g)", det, norm);
    if (det < 0) { /* P is homogeneous: the sign for which K has a positive diagonal and R is a rotation */
        for (int k = 0; k < 12; ++k) P[k] = -P[k];
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 3; ++c) m[r][c] = P[4 * r + c];
    }

    /* RQ by modified Gram-Schmidt from the last row up: M = K R, K upper
     * triangular with a positive diagonal; unique for a non-singular M. */
    double K[3][3] = {{0}}, R[3][3], v[3];
    for (int r = 2; r >= 0; --r) {
        memcpy(v, m[r], sizeof v);
        for (int q = 2; q > r; --q) {
            K[r][q] = dot3(v, R[q]);
            for (int a = 0; a < 3; ++a) v[a] -= K[r][q] * R[q][a];
        }
        K[r][r] = sqrt(dot3(v, v));
        if (!(K[r][r] > 1e-12 * norm))
            return err_set("projection matrix is singular (K[%d][%d] = %.3g, |P[:, :3]| = %.3g)", r, r, K[r][r], norm);
        for (int a = 0; a < 3; ++a) R[r][a] = v[a] / K[r][r];
    }
    double s = K[2][2];
    for (int r = 0; r < 3; ++r)
        for (int c = r; c < 3; ++c) K[r][c] /= s;
    double p4[3] = {P[3] / s, P[7] / s, P[11] / s}, t[3];
    t[2] = p4[2]; /* t = K⁻¹ p4 */
    t[1] = (p4[1] - K[1][2] * t[2]) / K[1][1];
    t[0] = (p4[0] - K[0][1] * t[1] - K[0][2] * t[2]) / K[0][0];

    memset(cam, 0, sizeof *cam);
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) {
            cam->K[3 * r + c] = K[r][c];
            cam->R[3 * r + c] = R[r][c];
            cam->c2w[4 * r + c] = R[c][r];
        }
        cam->t[r] = t[r];
        cam->centre[r] = -(R[0][r] * t[0] + R[1][r] * t[1] + R[2][r] * t[2]);
        cam->c2w[4 * r + 3] = cam->centre[r];
    }
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 4; ++c) {
            double x = 0;
            for (int q = 0; q < 3; ++q) x += K[r][q] * (c < 3 ? R[q][c] : t[q]);
            cam->P[4 * r + c] = x;
        }
    for (int k = 0; k < 3; ++k)
        if (!isfinite(cam->centre[k])) return err_set("projection matrix gives a non-finite camera centre");
    return 0;
}

int nsr_camera_downscale(const nsr_camera *in, int factor, nsr_camera *out)
{
    if (factor < 1) return err_set("downscale factor %d: must be >= 1", factor);
    nsr_camera c = *in;
    /* S = [[1/l, 0, -(l-1)/(2l)], [0, 1/l, -(l-1)/(2l)], [0, 0, 1]]: rows 0, 1 of K and P
     * become (row - (l-1)/2 · row 2) / l */
    double l = factor, shift = 0.5 * (l - 1);
    for (int r = 0; r < 2; ++r) {
        for (int k = 0; k < 3; ++k) c.K[3 * r + k] = (in->K[3 * r + k] - shift * in->K[6 + k]) / l;
        for (int k = 0; k < 4; ++k) c.P[4 * r + k] = (in->P[4 * r + k] - shift * in->P[8 + k]) / l;
    }
    *out = c;
    return 0;
}

void nsr_camera_pack(const nsr_camera *cam, real out[NSR_CAMERA_REALS])
{
    out[NSR_CAM_FX] = (real)cam->K[0];
    out[NSR_CAM_FY] = (real)cam->K[4];
    out[NSR_CAM_CX] = (real)cam->K[2];
    out[NSR_CAM_CY] = (real)cam->K[5];
    out[NSR_CAM_SKEW] = (real)cam->K[1];
    for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) out[NSR_CAM_ROT + 3 * r + c] = (real)cam->c2w[4 * r + c];
        out[NSR_CAM_CENTRE + r] = (real)cam->centre[r];
    }
}

/* ---- splits -------------------------------------------------------------- */

int nsr_view_is_test(int index, int every) { return every > 0 && index % every == 0; }

int nsr_split_views(int n, int every, nsr_split split, int *out)
{
    if (every <= 0) every = NSR_TEST_EVERY;
    int k = 0;
    for (int i = 0; i < n; ++i) {
        int test = nsr_view_is_test(i, every);
        if (split == NSR_SPLIT_ALL || (split == NSR_SPLIT_TEST) == test) out[k++] = i;
    }
    return k;
}

/* ---- files --------------------------------------------------------------- */

typedef struct {
    char **names;
    int n;
} name_list;

static void name_list_free(name_list *l)
{
    for (int i = 0; l->names && i < l->n; ++i) free(l->names[i]);
    free(l->names);
    l->names = NULL, l->n = 0;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The *.png names of dir in byte order, as Python's sorted(glob(dir + "/" + "*.png")). */
static int list_pngs(const char *dir, name_list *out)
{
    DIR *d = opendir(dir);
    if (d == NULL) return err_set("%s: cannot open directory: %s", dir, strerror(errno));
    name_list l = {0};
    int cap = 0, status = 0;
    for (struct dirent *e; !status && (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 4, ".png") != 0) continue;
        if (l.n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(l.names, (size_t)cap * sizeof *grown);
            if (grown == NULL) {
                status = err_set("%s: out of memory listing files", dir);
                break;
            }
            l.names = grown;
        }
        if ((l.names[l.n] = strdup(e->d_name)) == NULL) status = err_set("%s: out of memory listing files", dir);
        else l.n++;
    }
    closedir(d);
    if (status) {
        name_list_free(&l);
        return -1;
    }
    if (l.n) qsort(l.names, (size_t)l.n, sizeof *l.names, compare_names);
    *out = l;
    return 0;
}

static char *join_path(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + (c ? strlen(c) + 1 : 0) + 2;
    char *p = malloc(n);
    if (p == NULL) return NULL;
    if (c) snprintf(p, n, "%s/%s/%s", a, b, c);
    else snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* Width and height from a PNG's IHDR without decoding it. */
static int png_size(const char *path, int *width, int *height)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char h[24];
    FILE *f = fopen(path, "rb");
    if (f == NULL) return err_set("%s: cannot open: %s", path, strerror(errno));
    size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    if (got < sizeof h) return err_set("%s: truncated PNG (%zu bytes)", path, got);
    if (memcmp(h, signature, 8) != 0 || memcmp(h + 12, "IHDR", 4) != 0) return err_set("%s: not a PNG file", path);
    uint32_t w = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
    uint32_t hh = (uint32_t)h[20] << 24 | (uint32_t)h[21] << 16 | (uint32_t)h[22] << 8 | h[23];
    if (w == 0 || hh == 0 || w > (1u << 30) || hh > (1u << 30))
        return err_set("%s: bad PNG size %u x %u", path, w, hh);
    *width = (int)w, *height = (int)hh;
    return 0;
}

/* A 4×4 (or, for world_mat, 3×4) finite matrix `name` of the npz into m (4×4, row-major). */
static int read_matrix(const char *path, const char *name, int allow_3x4, double m[16])
{
    ndarray a;
    ndarray_init(&a);
    if (npz_read(path, name, &a) < 0) return -1;
    int status = 0;
    if (a.ndim != 2 || a.dims[1] != 4 || !(a.dims[0] == 4 || (allow_3x4 && a.dims[0] == 3)))
        status = err_set("%s: %s has shape %s%zu x %zu, expected 4 x 4%s", path, name,
                         a.ndim == 2 ? "" : "(ndim != 2) ", a.ndim >= 1 ? a.dims[0] : 0, a.ndim >= 2 ? a.dims[1] : 0,
                         allow_3x4 ? " or 3 x 4" : "");
    for (size_t k = 0; !status && k < a.count; ++k)
        if (!isfinite(a.data[k]))
            status = err_set("%s: %s entry (%zu, %zu) is not finite", path, name, k / 4, k % 4);
    if (!status) {
        for (int k = 0; k < 16; ++k) m[k] = k == 15 ? 1 : 0;
        memcpy(m, a.data, a.count * sizeof(double));
    }
    ndarray_free(&a);
    return status;
}

/* Whether s is "<prefix><decimal digits>" and, if so, the number. */
static int indexed_name(const char *s, const char *prefix, long *index)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0 || s[n] < '0' || s[n] > '9') return 0;
    char *end;
    errno = 0;
    long v = strtol(s + n, &end, 10);
    if (*end != '\0' || errno) return 0;
    *index = v;
    return 1;
}

/* Every camera of the npz for n views into cams (n, full resolution). */
static int load_cameras(const char *path, int n, const char *image_dir, const name_list *images, nsr_camera *cams,
                        double scale_mat0[16])
{
    char **members = NULL;
    size_t n_members = 0;
    if (npz_list(path, &members, &n_members) < 0) return -1;
    int n_world = 0, status = 0;
    unsigned char *have = calloc((size_t)n, 2);
    if (have == NULL) {
        npz_names_free(members, n_members);
        return err_set("%s: out of memory", path);
    }
    for (size_t k = 0; k < n_members; ++k) {
        long i;
        if (indexed_name(members[k], "world_mat_", &i)) {
            n_world++;
            if (i >= 0 && i < n) have[2 * i] = 1;
        } else if (indexed_name(members[k], "scale_mat_", &i) && i >= 0 && i < n) {
            have[2 * i + 1] = 1;
        }
    }
    npz_names_free(members, n_members);
    for (int i = 0; i < n && !status; ++i)
        if (!have[2 * i] || !have[2 * i + 1])
            status = err_set("%s: no %s_%d for view %d (%s/%s)", path, have[2 * i] ? "scale_mat" : "world_mat", i, i,
                             image_dir, images->names[i]);
    free(have);
    if (!status && n_world != n)
        status = err_set("%s: %d cameras (world_mat_*) but %d images in %s", path, n_world, n, image_dir);
    char name[64];
    for (int i = 0; i < n && !status; ++i) {
        double W[16], S[16], P[12];
        snprintf(name, sizeof name, "world_mat_%d", i);
        if (read_matrix(path, name, 1, W) < 0) return -1;
        snprintf(name, sizeof name, "scale_mat_%d", i);
        if (read_matrix(path, name, 0, S) < 0) return -1;
        if (i == 0) memcpy(scale_mat0, S, sizeof S);
        for (int r = 0; r < 3; ++r)
            for (int c = 0; c < 4; ++c) {
                double x = 0;
                for (int q = 0; q < 4; ++q) x += W[4 * r + q] * S[4 * q + c];
                P[4 * r + c] = x;
            }
        if (nsr_camera_from_projection(P, &cams[i]) < 0)
            return err_context("%s: view %d: P = (world_mat_%d · scale_mat_%d)[:3, :4]", path, i, i, i);
    }
    return status;
}

/* The normalised frame of a Strecha data set: the world box region = (min xyz, max xyz) inscribed in
 * the unit sphere: scale_mat = [h·I c; 0 1], c the box centre, h its half diagonal. */
static int region_scale_mat(const char *dir, const double region[6], double S[16])
{
    double h2 = 0;
    memset(S, 0, 16 * sizeof *S);
    for (int a = 0; a < 3; ++a) {
        if (!isfinite(region[a]) || !isfinite(region[3 + a]) || !(region[3 + a] > region[a]))
            return err_set("%s: the region's axis %d runs from %g to %g (need finite min < max)", dir, a, region[a],
                           region[3 + a]);
        double half = 0.5 * (region[3 + a] - region[a]);
        h2 += half * half;
        S[4 * a + 3] = 0.5 * (region[a] + region[3 + a]);
    }
    for (int a = 0; a < 3; ++a) S[5 * a] = sqrt(h2);
    S[15] = 1;
    return 0;
}

/* One Strecha .camera file (EPFL multi-view benchmark): 26 numbers, K (3 rows), radial distortion
 * (3, must be 0: the images are undistorted), R (3 rows: camera → world), the camera centre t,
 * then the image width and height; x_image ~ K Rᵀ (X − t).  P (world) into P_world. */
static int read_strecha_camera(const char *path, int width, int height, double P_world[12])
{
    char *text = NULL;
    size_t size = 0;
    if (file_read_all(path, &text, &size)) return -1;
    double v[26];
    int n = 0;
    char *at = text, *end;
    for (; n < 26; ++n) {
        errno = 0;
        v[n] = strtod(at, &end);
        if (end == at) break;
        if (!isfinite(v[n])) {
            free(text);
            return err_set("%s: number %d is not finite", path, n + 1);
        }
        at = end;
    }
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r') ++at;
    const int trailing = *at != '\0';
    free(text);
    if (n < 26 || trailing)
        return err_set("%s: expected 26 numbers (K, distortion, R, centre, width height), %s", path,
                       n < 26 ? "found fewer" : "found more text after them");
    const double *K = v, *dist = v + 9, *R = v + 12, *t = v + 21;
    if (dist[0] != 0 || dist[1] != 0 || dist[2] != 0)
        return err_set("%s: radial distortion %g %g %g: phive needs undistorted images", path, dist[0], dist[1], dist[2]);
    if (v[24] != width || v[25] != height)
        return err_set("%s: the camera is for %g x %g images, its image is %d x %d", path, v[24], v[25], width, height);
    for (int r = 0; r < 3; ++r) /* K [Rᵀ | −Rᵀ t] */
        for (int c = 0; c < 4; ++c) {
            double x = 0;
            for (int q = 0; q < 3; ++q) {
                double rt_qc = c < 3 ? R[3 * c + q] : -(R[q] * t[0] + R[3 + q] * t[1] + R[6 + q] * t[2]);
                x += K[3 * r + q] * rt_qc;
            }
            P_world[4 * r + c] = x;
        }
    return 0;
}

/* Every view's camera of a Strecha data set (<image>.camera beside each image), in the normalised
 * frame of the region. */
static int load_strecha_cameras(const char *dir, const name_list *images, int width, int height,
                                const double region[6], nsr_camera *cams, double scale_mat0[16])
{
    if (!region) return err_set("%s: a Strecha (EPFL) data set needs a region (data.region)", dir);
    if (region_scale_mat(dir, region, scale_mat0)) return -1;
    for (int i = 0; i < images->n; ++i) {
        char *path = join_path(dir, images->names[i], NULL);
        size_t n = path ? strlen(path) + 8 : 0;
        char *camera = path ? malloc(n) : NULL;
        if (!camera) {
            free(path);
            return err_set("%s: out of memory", dir);
        }
        snprintf(camera, n, "%s.camera", path);
        free(path);
        double Pw[12], P[12];
        int status = read_strecha_camera(camera, width, height, Pw);
        for (int r = 0; !status && r < 3; ++r)
            for (int c = 0; c < 4; ++c) {
                double x = 0;
                for (int q = 0; q < 4; ++q) x += (q < 3 ? Pw[4 * r + q] : Pw[4 * r + 3]) * scale_mat0[4 * q + c];
                P[4 * r + c] = x;
            }
        if (!status && nsr_camera_from_projection(P, &cams[i]) < 0) status = err_context("%s", camera);
        free(camera);
        if (status) return -1;
    }
    return 0;
}

/* ---- pixels -------------------------------------------------------------- */

/* Sample c of pixel p reduced to 8 bits (16-bit: high byte, as cv2.imread). */
static inline unsigned sample8(const image *im, size_t p, int c)
{
    size_t k = p * (size_t)im->channels + (size_t)c;
    return im->u8 ? im->u8[k] : (unsigned)(im->u16[k] >> 8);
}

/* Box-average channels `src_ch` (count n_out) of im by l into out (W/l × H/l × n_out), rounded half up. */
static int box_reduce(const image *im, const int *src_ch, int n_out, int l, uint8_t *out, const char *path)
{
    int w = im->width / l, h = im->height / l;
    int identity = n_out == 1 || (src_ch[0] == 0 && src_ch[1] == 1 && src_ch[2] == 2);
    if (l == 1 && im->u8 && im->channels == n_out && identity) {
        memcpy(out, im->u8, (size_t)w * (size_t)h * (size_t)n_out);
        return 0;
    }
    uint32_t *sum = calloc((size_t)w * (size_t)n_out, sizeof *sum);
    if (sum == NULL) return err_set("%s: out of memory", path);
    const uint32_t area = (uint32_t)l * (uint32_t)l;
    for (int j = 0; j < h; ++j) {
        memset(sum, 0, (size_t)w * (size_t)n_out * sizeof *sum);
        for (int dy = 0; dy < l; ++dy) {
            size_t row = (size_t)(j * l + dy) * (size_t)im->width;
            for (int i = 0; i < w; ++i)
                for (int dx = 0; dx < l; ++dx)
                    for (int c = 0; c < n_out; ++c)
                        sum[i * n_out + c] += sample8(im, row + (size_t)(i * l + dx), src_ch[c]);
        }
        uint8_t *dst = out + (size_t)j * (size_t)w * (size_t)n_out;
        for (int k = 0; k < w * n_out; ++k) dst[k] = (uint8_t)((sum[k] + area / 2) / area);
    }
    free(sum);
    return 0;
}

/* Decode view i's image and mask (NULL: none, all 255) into its (allocated) rgb and mask arrays. */
static int load_pixels(const char *image_path, const char *mask_path, int full_w, int full_h, int l, image *buf,
                       uint8_t *rgb, uint8_t *mask)
{
    if (image_read_png(image_path, buf) < 0) return -1;
    if (buf->width != full_w || buf->height != full_h)
        return err_set("%s: decodes to %d x %d, its header said %d x %d", image_path, buf->width, buf->height, full_w,
                       full_h);
    static const int gray3[3] = {0, 0, 0}, rgb3[3] = {0, 1, 2};
    if (box_reduce(buf, buf->channels >= 3 ? rgb3 : gray3, 3, l, rgb, image_path) < 0) return -1;
    if (!mask_path) { /* no masks (Strecha): every pixel is the object's */
        memset(mask, 255, (size_t)(full_w / l) * (size_t)(full_h / l));
        return 0;
    }
    if (image_read_png(mask_path, buf) < 0) return -1;
    if (buf->width != full_w || buf->height != full_h)
        return err_set("%s: decodes to %d x %d, its image is %d x %d", mask_path, buf->width, buf->height, full_w,
                       full_h);
    const int blue = buf->channels >= 3 ? 2 : 0; /* NeuS takes mask[..., 0] of OpenCV's B, G, R */
    return box_reduce(buf, &blue, 1, l, mask, mask_path);
}

/* ---- the data set -------------------------------------------------------- */

void nsr_dataset_free(nsr_dataset *ds)
{
    if (ds == NULL) return;
    for (int v = 0; ds->views && v < ds->n_views; ++v) {
        free(ds->views[v].rgb);
        free(ds->views[v].mask);
    }
    free(ds->views);
    free(ds->dir);
    free(ds->cameras_path);
    memset(ds, 0, sizeof *ds);
}

int nsr_dataset_find_view(const nsr_dataset *ds, int index)
{
    for (int v = 0; v < ds->n_views; ++v)
        if (ds->views[v].index == index) return v;
    return -1;
}

typedef struct {
    name_list images, masks;
    char *image_dir, *mask_dir;
    nsr_camera *cams;
    int *chosen;
} load_state;

static void load_state_free(load_state *s)
{
    name_list_free(&s->images);
    name_list_free(&s->masks);
    free(s->image_dir), free(s->mask_dir), free(s->cams), free(s->chosen);
}

/* The files and their sizes: equal counts, one image size, masks of that size. */
static int check_files(const char *dir, load_state *s, int *width, int *height)
{
    struct stat st;
    if (stat(dir, &st) != 0) return err_set("%s: cannot open data directory: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return err_set("%s: not a directory", dir);
    if (list_pngs(s->image_dir, &s->images) < 0 || (s->mask_dir && list_pngs(s->mask_dir, &s->masks) < 0)) return -1;
    if (s->images.n == 0) return err_set("%s: no *.png images", s->image_dir);
    if (s->mask_dir && s->masks.n != s->images.n)
        return err_set("%s: %d masks (*.png) but %s has %d images", s->mask_dir, s->masks.n, s->image_dir, s->images.n);
    int w0 = 0, h0 = 0;
    for (int i = 0; i < s->images.n; ++i) {
        char *ip = join_path(s->image_dir, s->images.names[i], NULL);
        char *mp = s->mask_dir ? join_path(s->mask_dir, s->masks.names[i], NULL) : NULL;
        int w = 0, h = 0, mw = 0, mh = 0, status = 0;
        if (ip == NULL || (s->mask_dir && mp == NULL)) status = err_set("%s: out of memory", dir);
        else if (png_size(ip, &w, &h) < 0 || (mp && png_size(mp, &mw, &mh) < 0)) status = -1;
        if (!status && !mp) mw = w, mh = h; /* no masks: nothing to compare */
        if (!status && i == 0) w0 = w, h0 = h;
        if (!status && (w != w0 || h != h0))
            status = err_set("%s: %d x %d, but %s/%s is %d x %d (all images must have one size)", ip, w, h,
                             s->image_dir, s->images.names[0], w0, h0);
        if (!status && (mw != w || mh != h))
            status = err_set("%s: mask is %d x %d, but its image %s is %d x %d", mp, mw, mh, ip, w, h);
        free(ip), free(mp);
        if (status) return -1;
    }
    *width = w0, *height = h0;
    return 0;
}

/* Which views to load (indices into 0 … n−1) into s->chosen; their count. */
static int choose_views(const nsr_dataset_options *o, int n, const char *dir, load_state *s)
{
    if ((s->chosen = malloc((size_t)(n > o->n_views ? n : o->n_views) * sizeof *s->chosen)) == NULL)
        return err_set("%s: out of memory", dir);
    if (o->views == NULL) {
        if (o->split < NSR_SPLIT_ALL || o->split > NSR_SPLIT_TEST)
            return err_set("%s: unknown split %d", dir, o->split);
        int k = nsr_split_views(n, o->test_every, o->split, s->chosen);
        if (k == 0)
            return err_set("%s: the %s split of %d views is empty", dir,
                           o->split == NSR_SPLIT_TEST ? "test" : "training", n);
        return k;
    }
    if (o->n_views <= 0) return err_set("%s: an empty list of views was asked for", dir);
    for (int k = 0; k < o->n_views; ++k) {
        int i = o->views[k];
        if (i < 0 || i >= n) return err_set("%s: view %d asked for, the data set has views 0 to %d", dir, i, n - 1);
        for (int q = 0; q < k; ++q)
            if (s->chosen[q] == i) return err_set("%s: view %d asked for twice", dir, i);
        s->chosen[k] = i;
    }
    return o->n_views;
}

/* Keep the message of the lowest failing view, so the error does not depend on thread timing. */
static void note_failure(int view, int *first, char *message, size_t size)
{
#pragma omp critical(nsr_dataset_failure)
    if (view < *first) {
        *first = view;
        snprintf(message, size, "%s", err_message());
    }
}

int nsr_dataset_load(const char *dir, const nsr_dataset_options *opt, nsr_dataset *ds)
{
    static const nsr_dataset_options defaults = {0};
    const nsr_dataset_options *o = opt ? opt : &defaults;
    memset(ds, 0, sizeof *ds);
    if (dir == NULL || !dir[0]) return err_set("NeuS data set: no directory given");
    int l = o->downscale == 0 ? 1 : o->downscale;
    if (l < 1) return err_set("%s: downscale %d must be >= 1", dir, o->downscale);
    const char *cameras = o->cameras && o->cameras[0] ? o->cameras : NSR_CAMERAS_DEFAULT;

    load_state s = {0};
    int status = 0, width = 0, height = 0, n_chosen = 0;
    const int strecha = o->format == NSR_FORMAT_STRECHA;
    if (o->format != NSR_FORMAT_NEUS && !strecha) return err_set("%s: unknown data set format %d", dir, o->format);
    ds->dir = strdup(dir);
    ds->cameras_path = strecha ? strdup(dir) : join_path(dir, cameras, NULL);
    s.image_dir = strecha ? strdup(dir) : join_path(dir, "image", NULL);
    s.mask_dir = strecha ? NULL : join_path(dir, "mask", NULL);
    if (!ds->dir || !ds->cameras_path || !s.image_dir || (!strecha && !s.mask_dir))
        status = err_set("%s: out of memory", dir);
    if (!status) status = check_files(dir, &s, &width, &height);
    int n = s.images.n;
    if (!status && (s.cams = calloc((size_t)n, sizeof *s.cams)) == NULL) status = err_set("%s: out of memory", dir);
    if (!status)
        status = strecha ? load_strecha_cameras(dir, &s.images, width, height, o->region, s.cams, ds->scale_mat0)
                         : load_cameras(ds->cameras_path, n, s.image_dir, &s.images, s.cams, ds->scale_mat0);
    if (!status && (l > width || l > height))
        status = err_set("%s: downscale %d is larger than the images (%d x %d)", dir, l, width, height);
    if (!status && (n_chosen = choose_views(o, n, dir, &s)) < 0) status = -1;
    if (!status && (ds->views = calloc((size_t)n_chosen, sizeof *ds->views)) == NULL)
        status = err_set("%s: out of memory", dir);
    if (status) {
        load_state_free(&s);
        nsr_dataset_free(ds);
        return -1;
    }
    ds->n_total = n;
    ds->n_views = n_chosen;
    ds->downscale = l;
    ds->full_width = width, ds->full_height = height;
    ds->width = width / l, ds->height = height / l;
    const size_t pixels = (size_t)ds->width * (size_t)ds->height;
    for (int v = 0; v < n_chosen && !status; ++v) {
        nsr_view *view = &ds->views[v];
        view->index = s.chosen[v];
        nsr_camera_downscale(&s.cams[view->index], l, &view->cam);
        if (!o->cameras_only && ((view->rgb = malloc(3 * pixels)) == NULL || (view->mask = malloc(pixels)) == NULL))
            status = err_set("%s: out of memory for %d views of %d x %d", dir, n_chosen, ds->width, ds->height);
    }
    if (!status && !o->cameras_only) {
        int first = n_chosen;
        char message[2048] = "";
#pragma omp parallel
        {
            image buf;
            image_init(&buf);
#pragma omp for schedule(dynamic, 1)
            for (int v = 0; v < n_chosen; ++v) {
                nsr_view *view = &ds->views[v];
                char *ip = join_path(s.image_dir, s.images.names[view->index], NULL);
                char *mp = s.mask_dir ? join_path(s.mask_dir, s.masks.names[view->index], NULL) : NULL;
                if (ip == NULL || (s.mask_dir && mp == NULL)) {
                    err_set("%s: out of memory", dir);
                    note_failure(v, &first, message, sizeof message);
                } else if (load_pixels(ip, mp, width, height, l, &buf, view->rgb, view->mask) < 0) {
                    note_failure(v, &first, message, sizeof message);
                }
                free(ip), free(mp);
            }
            image_free(&buf);
        }
        if (first < n_chosen) status = err_set("%s", message);
    }
    load_state_free(&s);
    if (status) nsr_dataset_free(ds);
    return status;
}

/* ---- rays ---------------------------------------------------------------- */

void nsr_rays_free(nsr_rays *r)
{
    free(r->origin), free(r->direction), free(r->near), free(r->far), free(r->rgb), free(r->mask), free(r->pixel);
    memset(r, 0, sizeof *r);
}

static int rays_reserve(nsr_rays *r, size_t count)
{
    if (count <= r->capacity && r->origin) {
        r->count = count;
        return 0;
    }
    nsr_rays_free(r);
    size_t n = count ? count : 1;
    r->origin = malloc(3 * n * sizeof(real));
    r->direction = malloc(3 * n * sizeof(real));
    r->near = malloc(n * sizeof(real));
    r->far = malloc(n * sizeof(real));
    r->rgb = malloc(3 * n * sizeof(real));
    r->mask = malloc(n * sizeof(real));
    r->pixel = malloc(2 * n * sizeof(int32_t));
    if (!r->origin || !r->direction || !r->near || !r->far || !r->rgb || !r->mask || !r->pixel) {
        nsr_rays_free(r);
        return err_set("rays: out of memory for %zu rays", count);
    }
    r->capacity = n;
    r->count = count;
    return 0;
}

static int check_view(const nsr_dataset *ds, int v, const char *what)
{
    if (v < 0 || v >= ds->n_views)
        return err_set("%s: %s: view slot %d out of range (%d views loaded)", ds->dir ? ds->dir : "data set", what, v,
                       ds->n_views);
    return 0;
}

int nsr_view_rays(const nsr_dataset *ds, int v, int level, nsr_rays *out)
{
    if (check_view(ds, v, "view rays") < 0) return -1;
    if (level < 1 || level > ds->width || level > ds->height)
        return err_set("%s: view rays: level %d outside 1 to %d", ds->dir, level,
                       ds->width < ds->height ? ds->width : ds->height);
    const nsr_view *view = &ds->views[v];
    nsr_camera cam;
    nsr_camera_downscale(&view->cam, level, &cam);
    real packed[NSR_CAMERA_REALS];
    nsr_camera_pack(&cam, packed);
    const int w = ds->width / level, h = ds->height / level;
    if (rays_reserve(out, (size_t)w * (size_t)h) < 0) return -1;
    const real inv_area = (real)(1.0 / (256.0 * level * level));
#pragma omp parallel for schedule(static) if ((size_t)w * (size_t)h > 16384)
    for (int j = 0; j < h; ++j)
        for (int i = 0; i < w; ++i) {
            size_t k = (size_t)j * (size_t)w + (size_t)i;
            nsr_ray_generate(packed, (real)i, (real)j, out->origin + 3 * k, out->direction + 3 * k, out->near + k,
                             out->far + k);
            out->pixel[2 * k] = i, out->pixel[2 * k + 1] = j;
            if (view->rgb == NULL) {
                out->rgb[3 * k] = out->rgb[3 * k + 1] = out->rgb[3 * k + 2] = out->mask[k] = (real)NAN;
                continue;
            }
            unsigned sum[4] = {0, 0, 0, 0};
            for (int dy = 0; dy < level; ++dy)
                for (int dx = 0; dx < level; ++dx) {
                    size_t p = (size_t)(j * level + dy) * (size_t)ds->width + (size_t)(i * level + dx);
                    for (int c = 0; c < 3; ++c) sum[c] += view->rgb[3 * p + c];
                    sum[3] += view->mask[p];
                }
            for (int c = 0; c < 3; ++c) out->rgb[3 * k + c] = (real)sum[c] * inv_area;
            out->mask[k] = (real)sum[3] * inv_area;
        }
    return 0;
}

int nsr_random_rays(const nsr_dataset *ds, int v, const rng_t *rng, uint64_t stream, uint64_t first, size_t count,
                    nsr_rays *out)
{
    if (check_view(ds, v, "random rays") < 0) return -1;
    const nsr_view *view = &ds->views[v];
    if (view->rgb == NULL)
        return err_set("%s: random rays: view %d was loaded without images (cameras_only)", ds->dir, view->index);
    real packed[NSR_CAMERA_REALS];
    nsr_camera_pack(&view->cam, packed);
    if (rays_reserve(out, count) < 0) return -1;
    const real scale = (real)(1.0 / 256.0);
    for (size_t k = 0; k < count; ++k) {
        double u[2];
        int x, y;
        rng_uniform2_at(rng, stream, first + k, u);
        nsr_ray_pixel_from_uniform(u[0], u[1], ds->width, ds->height, &x, &y);
        nsr_ray_generate(packed, (real)x, (real)y, out->origin + 3 * k, out->direction + 3 * k, out->near + k,
                         out->far + k);
        size_t p = (size_t)y * (size_t)ds->width + (size_t)x;
        for (int c = 0; c < 3; ++c) out->rgb[3 * k + c] = (real)view->rgb[3 * p + c] * scale;
        out->mask[k] = (real)view->mask[p] * scale;
        out->pixel[2 * k] = x, out->pixel[2 * k + 1] = y;
    }
    return 0;
}
