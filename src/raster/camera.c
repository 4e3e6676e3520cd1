/* camera.c — pinhole and look-at cameras, ϕ-SfT camera.json (see raster.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/fileio.h"
#include "phive/raster.h"

static int check_image_size(int width, int height)
{
    if (width < 1 || height < 1 || width > 65536 || height > 65536)
        return err_set("camera: image size %d x %d out of range [1, 65536]", width, height);
    return 0;
}

int raster_camera_pinhole(raster_camera *cam, double fx, double fy, double cx, double cy, int width, int height)
{
    if (check_image_size(width, height)) return -1;
    if (!(fx > 0 && fy > 0 && isfinite(fx) && isfinite(fy) && isfinite(cx) && isfinite(cy)))
        return err_set("camera: focal lengths must be positive and finite and the principal point finite "
                       "(fx %g, fy %g, cx %g, cy %g)", fx, fy, cx, cy);
    memset(cam, 0, sizeof *cam);
    cam->width = width;
    cam->height = height;
    cam->fx = fx;
    cam->fy = fy;
    cam->cx = cx;
    cam->cy = cy;
    cam->R[0] = cam->R[4] = cam->R[8] = 1;
    cam->znear = RASTER_DEFAULT_ZNEAR;
    cam->zfar = RASTER_DEFAULT_ZFAR;
    return 0;
}

static void cross3(const double *a, const double *b, double *out)
{
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

static double normalize3(double *v)
{
    double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (n > 0)
        for (int i = 0; i < 3; ++i) v[i] /= n;
    return n;
}

int raster_camera_look_at(raster_camera *cam, const double eye[3], const double target[3], const double up[3],
                          double fov_y_deg, int width, int height)
{
    if (!(fov_y_deg > 0 && fov_y_deg < 180)) return err_set("camera: field of view %g degrees not in (0, 180)", fov_y_deg);
    double fy = 0.5 * height / tan(0.5 * fov_y_deg * M_PI / 180.0);
    if (raster_camera_pinhole(cam, fy, fy, 0.5 * width, 0.5 * height, width, height)) return -1;
    /* OpenCV axes: z towards the target, x right, y down (against `up`). */
    double z[3] = {target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]}, x[3], y[3], u[3] = {up[0], up[1], up[2]};
    if (!(normalize3(z) > 0) || !(normalize3(u) > 0)) return err_set("camera: eye and target coincide, or up is zero");
    cross3(z, u, x);
    if (!(normalize3(x) > 1e-9)) return err_set("camera: up is parallel to the viewing direction");
    cross3(z, x, y);
    for (int k = 0; k < 3; ++k) {
        cam->R[k] = x[k];
        cam->R[3 + k] = y[k];
        cam->R[6 + k] = z[k];
    }
    for (int r = 0; r < 3; ++r) cam->t[r] = -(cam->R[3 * r] * eye[0] + cam->R[3 * r + 1] * eye[1] + cam->R[3 * r + 2] * eye[2]);
    return 0;
}

int raster_camera_crop(raster_camera *cam, int x0, int y0, int width, int height)
{
    if (x0 < 0 || y0 < 0 || width < 1 || height < 1 || x0 + width > cam->width || y0 + height > cam->height)
        return err_set("camera: crop %d x %d at (%d, %d) is not inside the %d x %d image", width, height, x0, y0,
                       cam->width, cam->height);
    if (!cam->ndc_pixels) cam->ndc_pixels = cam->width < cam->height ? cam->width : cam->height;
    cam->cx -= x0;
    cam->cy -= y0;
    cam->width = width;
    cam->height = height;
    return 0;
}

int raster_camera_downscale(raster_camera *cam, int factor)
{
    if (factor < 1) return err_set("camera: downscale factor %d must be >= 1", factor);
    if (cam->ndc_pixels) return err_set("camera: downscale a camera before cropping it");
    if (cam->width % factor || cam->height % factor)
        return err_set("camera: image size %d x %d is not divisible by the downscale factor %d", cam->width, cam->height,
                       factor);
    /* Pixel (i, j) covers [i, i+1): pixel edges scale exactly, so the principal point does too. */
    cam->width /= factor;
    cam->height /= factor;
    cam->fx /= factor;
    cam->fy /= factor;
    cam->cx /= factor;
    cam->cy /= factor;
    return 0;
}

void raster_camera_project(const raster_camera *cam, const double p[3], double *u, double *v, double *z)
{
    double c[3];
    for (int r = 0; r < 3; ++r) c[r] = cam->R[3 * r] * p[0] + cam->R[3 * r + 1] * p[1] + cam->R[3 * r + 2] * p[2] + cam->t[r];
    *u = cam->fx * c[0] / c[2] + cam->cx;
    *v = cam->fy * c[1] / c[2] + cam->cy;
    *z = c[2];
}

/* ---- camera.json ---------------------------------------------------------------------- */

static int json_number(const char *path, const cJSON *root, const char *key, int required, double *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item) return required ? err_set("%s: missing key '%s'", path, key) : 1;
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return err_set("%s: '%s' must be a finite number", path, key);
    *out = item->valuedouble;
    return 0;
}

static int json_vec3(const char *path, const cJSON *root, const char *key, double out[3])
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!item) return err_set("%s: missing key '%s'", path, key);
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 3)
        return err_set("%s: '%s' must be an array of 3 numbers", path, key);
    for (int i = 0; i < 3; ++i) {
        const cJSON *v = cJSON_GetArrayItem(item, i);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return err_set("%s: '%s'[%d] must be a finite number", path, key, i);
        out[i] = v->valuedouble;
    }
    return 0;
}

static int json_size(const char *path, const cJSON *root, const char *key, int *out)
{
    double v;
    if (json_number(path, root, key, 1, &v)) return -1;
    if (v != floor(v) || v < 1 || v > 65536) return err_set("%s: '%s' must be an integer in [1, 65536]", path, key);
    *out = (int)v;
    return 0;
}

static int parse_camera(const char *path, const cJSON *root, raster_camera *cam)
{
    static const char *const known[] = {"fx", "fy", "cx", "cy", "width", "height", "camera_pos", "object_pos", "fov"};
    if (!cJSON_IsObject(root)) return err_set("%s: expected a JSON object", path);
    for (const cJSON *item = root->child; item; item = item->next) {
        size_t k = 0;
        while (k < sizeof known / sizeof *known && strcmp(item->string, known[k])) ++k;
        if (k == sizeof known / sizeof *known) return err_set("%s: unknown key '%s'", path, item->string);
    }
    int width, height;
    if (json_size(path, root, "width", &width) || json_size(path, root, "height", &height)) return -1;
    if (cJSON_GetObjectItemCaseSensitive(root, "fx")) {
        double fx, fy, cx, cy;
        if (json_number(path, root, "fx", 1, &fx) || json_number(path, root, "fy", 1, &fy) ||
            json_number(path, root, "cx", 1, &cx) || json_number(path, root, "cy", 1, &cy))
            return -1;
        if (raster_camera_pinhole(cam, fx, fy, cx, cy, width, height)) return err_context("%s", path);
        return 0;
    }
    double eye[3], target[3], up[3] = {0, 1, 0}, fov = RASTER_DEFAULT_FOV_DEG;
    if (json_vec3(path, root, "camera_pos", eye) || json_vec3(path, root, "object_pos", target)) return -1;
    if (json_number(path, root, "fov", 0, &fov) < 0) return -1;
    if (raster_camera_look_at(cam, eye, target, up, fov, width, height)) return err_context("%s", path);
    return 0;
}

int raster_camera_read_json(const char *path, raster_camera *cam)
{
    char *text = NULL;
    size_t size = 0;
    if (file_read_all(path, &text, &size)) return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    int rc;
    if (!root) {
        rc = err_set("%s: malformed JSON near byte %ld", path, end ? (long)(end - text) : 0L);
    } else {
        raster_camera parsed;
        rc = parse_camera(path, root, &parsed);
        if (rc == 0) *cam = parsed;
    }
    cJSON_Delete(root);
    free(text);
    return rc;
}
