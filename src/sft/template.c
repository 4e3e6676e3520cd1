/* template.c — material space and colours of a ϕ-SfT template (see sft.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/image.h"
#include "phive/render.h"
#include "phive/sft.h"

/* Fortran LAPACK from OpenBLAS (no header ships with Debian's). */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
                   const int *lwork, int *info, size_t jobz_len, size_t uplo_len);

static double triangle_area(const float *a, const float *b, const float *c, int dims)
{
    double e1[3] = {0}, e2[3] = {0};
    for (int k = 0; k < dims; ++k) e1[k] = b[k] - a[k], e2[k] = c[k] - a[k];
    double x = e1[1] * e2[2] - e1[2] * e2[1], y = e1[2] * e2[0] - e1[0] * e2[2], z = e1[0] * e2[1] - e1[1] * e2[0];
    return 0.5 * sqrt(x * x + y * y + z * z);
}

/* Total area of the faces over coordinates with `dims` components per entry, indexed by idx. */
static double mesh_area(const float *coords, int dims, const uint32_t *idx, size_t n_faces)
{
    double sum = 0;
    for (size_t f = 0; f < n_faces; ++f) {
        float p[3][3] = {{0}};
        for (int c = 0; c < 3; ++c)
            for (int k = 0; k < dims; ++k) p[c][k] = coords[dims * idx[3 * f + c] + k];
        sum += triangle_area(p[0], p[1], p[2], 3);
    }
    return sum;
}

/* UVs = the vertices' coordinates in the template's least-squares plane (eigenvectors of the
 * two largest eigenvalues of the vertex covariance). */
static int flatten_to_plane(const mesh *m, float *uv)
{
    double c[3] = {0}, cov[9] = {0}, eig[3], work[64];
    for (size_t i = 0; i < m->n_vertices; ++i)
        for (int k = 0; k < 3; ++k) c[k] += m->positions[3 * i + k] / (double)m->n_vertices;
    for (size_t i = 0; i < m->n_vertices; ++i)
        for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b)
                cov[3 * a + b] += (m->positions[3 * i + a] - c[a]) * (m->positions[3 * i + b] - c[b]);
    int three = 3, lwork = 64, info = 0;
    dsyev_("V", "U", &three, cov, &three, eig, work, &lwork, &info, 1, 1); /* ascending; columns = vectors */
    if (info) return err_set("template plane fit failed (dsyev info %d)", info);
    const double *e1 = cov + 6, *e2 = cov + 3;
    for (size_t i = 0; i < m->n_vertices; ++i) {
        double d[3] = {m->positions[3 * i] - c[0], m->positions[3 * i + 1] - c[1], m->positions[3 * i + 2] - c[2]};
        uv[2 * i] = (float)(d[0] * e1[0] + d[1] * e1[1] + d[2] * e1[2]);
        uv[2 * i + 1] = (float)(d[0] * e2[0] + d[1] * e2[1] + d[2] * e2[2]);
    }
    return 0;
}

/* Material space: the template's UVs (one per vertex) or its plane projection, scaled so the
 * material area is uv_scale² × the UV area, or the template's area when uv_scale is 0. */
static int build_material_space(sft_template *t, const sft_sequence *s, double uv_scale)
{
    const mesh *m = &s->template_mesh;
    mesh flat = *m;
    float *plane_uv = NULL;
    if (!m->uvs) {
        plane_uv = malloc(2 * m->n_vertices * sizeof *plane_uv);
        if (!plane_uv) return err_set("out of memory");
        if (flatten_to_plane(m, plane_uv)) {
            free(plane_uv);
            return err_context("%s", s->template_path);
        }
        flat.uvs = plane_uv, flat.n_uvs = m->n_vertices, flat.face_uvs = m->faces;
        t->flattened = 1;
    }
    double uv_area = mesh_area(flat.uvs, 2, flat.face_uvs, m->n_faces);
    double scale = uv_scale > 0 ? uv_scale : sqrt(mesh_area(m->positions, 3, m->faces, m->n_faces) / uv_area);
    int rc = uv_area > 0 ? cloth_mesh_build(&t->cloth, &flat, CLOTH_SPACE_UV, scale, s->template_path)
                         : err_set("%s: the template's UVs span no area", s->template_path);
    free(plane_uv);
    return rc;
}

static int copy_texture(sft_template *t, const sft_sequence *s)
{
    const mesh *m = &s->template_mesh;
    image im;
    image_init(&im);
    int rc = image_read_png(s->texture_path, &im) || render_image_rgb(&im, &t->texture);
    t->tex_width = im.width, t->tex_height = im.height;
    image_free(&im);
    if (rc) return err_context("texture %s", s->texture_path);
    t->n_uvs = (int)m->n_uvs;
    t->uvs = malloc(2 * m->n_uvs * sizeof *t->uvs);
    t->face_uvs = malloc(3 * m->n_faces * sizeof *t->face_uvs);
    if (!t->uvs || !t->face_uvs) return err_set("out of memory");
    for (size_t i = 0; i < 2 * m->n_uvs; ++i) t->uvs[i] = m->uvs[i];
    for (size_t i = 0; i < 3 * m->n_faces; ++i) t->face_uvs[i] = (int32_t)m->face_uvs[i];
    return 0;
}

/* ϕ-SfT without a texture: frame 0 is the texture, and each vertex's UV is its own pixel there
 * (texel centres at u·(W−1), (1−v)·(H−1), raster.h). */
static int project_frame0(sft_template *t, const sft_sequence *s)
{
    const int n = t->cloth.n_verts, W = s->width, H = s->height;
    const size_t texels = (size_t)W * H * 3;
    t->n_uvs = n;
    t->uvs = malloc(2 * (size_t)n * sizeof *t->uvs);
    t->face_uvs = malloc(3 * (size_t)t->cloth.n_faces * sizeof *t->face_uvs);
    t->texture = malloc(texels * sizeof *t->texture);
    if (!t->uvs || !t->face_uvs || !t->texture) return err_set("out of memory");
    memcpy(t->texture, s->rgb, texels * sizeof *t->texture);
    t->tex_width = W, t->tex_height = H;
    for (int i = 0; i < n; ++i) {
        double u, v, z;
        raster_camera_project(&s->camera, t->x0 + 3 * i, &u, &v, &z);
        if (!(z > 0)) return err_set("%s: vertex %d is behind the camera", s->template_path, i);
        t->uvs[2 * i] = (real)((u - 0.5) / (W - 1));
        t->uvs[2 * i + 1] = (real)(1.0 - (v - 0.5) / (H - 1));
    }
    for (int i = 0; i < 3 * t->cloth.n_faces; ++i) t->face_uvs[i] = t->cloth.faces[i];
    t->projected_texture = 1;
    return 0;
}

int sft_template_prepare(sft_template *t, const sft_sequence *s, double uv_scale)
{
    memset(t, 0, sizeof *t);
    if (build_material_space(t, s, uv_scale)) return -1;
    const int n = t->cloth.n_verts, nf = t->cloth.n_faces;
    t->x0 = malloc(3 * (size_t)n * sizeof *t->x0);
    t->faces = malloc(3 * (size_t)nf * sizeof *t->faces);
    if (!t->x0 || !t->faces) {
        sft_template_free(t);
        return err_set("out of memory");
    }
    memcpy(t->x0, t->cloth.x_template, 3 * (size_t)n * sizeof *t->x0);
    for (int i = 0; i < 3 * nf; ++i) t->faces[i] = t->cloth.faces[i];
    int rc = s->template_mesh.uvs && s->texture_path[0] ? copy_texture(t, s) : project_frame0(t, s);
    if (rc) sft_template_free(t);
    return rc;
}

void sft_template_free(sft_template *t)
{
    cloth_mesh_free(&t->cloth);
    free(t->x0);
    free(t->uvs);
    free(t->faces);
    free(t->face_uvs);
    free(t->texture);
    memset(t, 0, sizeof *t);
}

void sft_template_raster_mesh(const sft_template *t, const real *positions, raster_mesh *out)
{
    memset(out, 0, sizeof *out);
    out->n_vertices = t->cloth.n_verts;
    out->n_faces = t->cloth.n_faces;
    out->positions = positions;
    out->faces = t->faces;
    out->n_uvs = t->n_uvs;
    out->uvs = t->uvs;
    out->face_uvs = t->face_uvs;
    out->tex_width = t->tex_width;
    out->tex_height = t->tex_height;
    out->texture = t->texture;
}
