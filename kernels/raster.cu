// raster.cu — CUDA launchers of the soft rasterizer: the per-vertex, per-face
// and per-pixel functions of raster.h, one thread each.  Tiles are 16 × 16
// thread blocks; each tile's face list is built by one thread in face order,
// as on the CPU, so ties resolve the same way.
#include <cuda_runtime.h>
#include <stdlib.h>

extern "C" {
#include "phive/errors.h"
}
#include "raster.h"

namespace {

struct camera_reals {
    real R[9], t[3], fx, fy, cx, cy;
};

// Device buffers of one frame, reallocated when a size changes.
struct device_buffers {
    int V, F, W, H, K, n_uvs, tex_w, tex_h;
    size_t tile_cap;
    real *positions, *screen, *normals, *normal_norms, *colors, *uvs, *texture;
    int32_t *faces, *face_uvs;
    raster_face *face_setup;
    int32_t *tile_count, *tile_start, *tile_faces;
    int32_t *frag_face;
    real *zbuf, *dist, *bary, *rgb, *alpha, *keep_all, *depth, *normal;
    uint8_t *silhouette;
    real *grad_rgb, *grad_alpha, *vgrad, *gsum, *gpos, *gtex;
};

int cuda_fail(cudaError_t e, const char *what)
{
    return err_set("raster (CUDA): %s: %s", what, cudaGetErrorString(e));
}

#define CU(call, what)                                  \
    do {                                                \
        cudaError_t e_ = (call);                        \
        if (e_ != cudaSuccess) return cuda_fail(e_, what); \
    } while (0)

void release(device_buffers *d)
{
    if (!d) return;
    void *all[] = {d->positions, d->screen, d->normals, d->normal_norms, d->colors, d->uvs, d->texture, d->faces,
                   d->face_uvs, d->face_setup, d->tile_count, d->tile_start, d->tile_faces, d->frag_face, d->zbuf,
                   d->dist, d->bary, d->rgb, d->alpha, d->keep_all, d->depth, d->normal, d->silhouette, d->grad_rgb, d->grad_alpha,
                   d->vgrad, d->gsum, d->gpos, d->gtex};
    for (void *p : all) cudaFree(p);
    free(d);
}

template <typename T> int alloc(T **p, size_t n, const char *what)
{
    CU(cudaMalloc((void **)p, (n ? n : 1) * sizeof(T)), what);
    return 0;
}

// Buffers for this mesh and frame, reusing the cached ones when the sizes match.
int reserve(raster_frame *f, const raster_mesh *m, device_buffers **out)
{
    device_buffers *d = (device_buffers *)f->device;
    int tex_w = m->texture ? m->tex_width : 0, tex_h = m->texture ? m->tex_height : 0;
    if (d && d->V == m->n_vertices && d->F == m->n_faces && d->W == f->width && d->H == f->height && d->K == f->K &&
        d->n_uvs == m->n_uvs && d->tex_w == tex_w && d->tex_h == tex_h) {
        *out = d;
        return 0;
    }
    release(d);
    f->device = NULL;
    d = (device_buffers *)calloc(1, sizeof *d);
    if (!d) return err_set("raster (CUDA): out of memory");
    f->device = d;
    d->V = m->n_vertices, d->F = m->n_faces, d->W = f->width, d->H = f->height, d->K = f->K;
    d->n_uvs = m->n_uvs, d->tex_w = tex_w, d->tex_h = tex_h;
    size_t V = d->V, F = d->F, P = (size_t)d->W * d->H, K = d->K, T = (size_t)tex_w * tex_h * 3;
    size_t tiles = (size_t)((d->W + RASTER_TILE - 1) / RASTER_TILE) * ((d->H + RASTER_TILE - 1) / RASTER_TILE);
    if (alloc(&d->positions, 3 * V, "positions") || alloc(&d->screen, 3 * V, "screen") ||
        alloc(&d->normals, 3 * V, "normals") || alloc(&d->normal_norms, V, "normal norms") ||
        alloc(&d->colors, 3 * V, "colours") || alloc(&d->uvs, 2 * (size_t)d->n_uvs, "uvs") ||
        alloc(&d->texture, T, "texture") || alloc(&d->faces, 3 * F, "faces") || alloc(&d->face_uvs, 3 * F, "face uvs") ||
        alloc(&d->face_setup, F, "face setup") || alloc(&d->tile_count, tiles + 1, "tile counts") ||
        alloc(&d->tile_start, tiles + 1, "tile starts") || alloc(&d->frag_face, P * K, "fragments") ||
        alloc(&d->zbuf, P * K, "zbuf") || alloc(&d->dist, P * K, "dist") || alloc(&d->bary, 3 * P * K, "bary") ||
        alloc(&d->rgb, 3 * P, "rgb") || alloc(&d->alpha, P, "alpha") || alloc(&d->keep_all, P, "silhouette products") || alloc(&d->depth, P, "depth") ||
        alloc(&d->normal, 3 * P, "normal") || alloc(&d->silhouette, P, "silhouette") ||
        alloc(&d->grad_rgb, 3 * P, "grad rgb") || alloc(&d->grad_alpha, P, "grad alpha") ||
        alloc(&d->vgrad, (size_t)RASTER_VGRAD * V, "vertex gradients") || alloc(&d->gsum, 3 * V, "normal gradients") ||
        alloc(&d->gpos, 3 * V, "position gradients") || alloc(&d->gtex, T, "texture gradients"))
        return -1;
    *out = d;
    return 0;
}

raster_mesh_view device_view(const device_buffers *d, const raster_mesh *m)
{
    raster_mesh_view v;
    v.positions = d->positions;
    v.faces = d->faces;
    v.screen = d->screen;
    v.normals = d->normals;
    v.vertex_colors = m->vertex_colors ? d->colors : NULL;
    v.uvs = m->texture ? d->uvs : NULL;
    v.face_uvs = m->texture ? d->face_uvs : NULL;
    v.texture = m->texture ? d->texture : NULL;
    v.tex_width = m->texture ? m->tex_width : 0;
    v.tex_height = m->texture ? m->tex_height : 0;
    return v;
}

camera_reals reals_of(const raster_camera *cam)
{
    camera_reals c;
    for (int k = 0; k < 9; ++k) c.R[k] = (real)cam->R[k];
    for (int k = 0; k < 3; ++k) c.t[k] = (real)cam->t[k];
    c.fx = (real)cam->fx, c.fy = (real)cam->fy, c.cx = (real)cam->cx, c.cy = (real)cam->cy;
    return c;
}

unsigned blocks_for(size_t n) { return (unsigned)((n + 255) / 256); }

// ---- kernels ---------------------------------------------------------------------------

__global__ void project_kernel(int V, camera_reals c, const real *positions, real *screen)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < V) raster_project(c.R, c.t, c.fx, c.fy, c.cx, c.cy, positions + 3 * (size_t)i, screen + 3 * (size_t)i);
}

__global__ void face_normal_kernel(int F, const real *positions, const int32_t *faces, real *normals)
{
    int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= F) return;
    real n[3];
    const int32_t *idx = faces + 3 * (size_t)f;
    raster_face_cross(positions, idx, n);
    for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 3; ++c) atomicAdd(normals + 3 * (size_t)idx[i] + c, n[c]);
}

__global__ void normalize_kernel(int V, real *normals, real *norms)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= V) return;
    real n[3];
    norms[i] = raster_normalize3(normals + 3 * (size_t)i, n);
    for (int c = 0; c < 3; ++c) normals[3 * (size_t)i + c] = n[c];
}

__global__ void face_setup_kernel(raster_params P, raster_mesh_view M, int F, raster_face *out)
{
    int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f < F) raster_face_setup(&P, &M, f, out + f);
}

// One thread per tile: count (fill == NULL) or list its faces in face order.
__global__ void bin_kernel(int tiles_x, int tiles_y, int W, int H, int F, const raster_face *faces, int32_t *count,
                           const int32_t *start, int32_t *fill)
{
    int tile = blockIdx.x * blockDim.x + threadIdx.x;
    if (tile >= tiles_x * tiles_y) return;
    int tx = tile % tiles_x, ty = tile / tiles_x, n = 0;
    for (int f = 0; f < F; ++f) {
        int x0, x1, y0, y1;
        if (!faces[f].valid || !raster_face_tiles(faces + f, W, H, &x0, &x1, &y0, &y1)) continue;
        if (tx < x0 || tx > x1 || ty < y0 || ty > y1) continue;
        if (fill) fill[start[tile] + n] = f;
        ++n;
    }
    if (!fill) count[tile] = n;
}

__global__ void pixel_forward_kernel(raster_params P, raster_mesh_view M, const raster_face *faces,
                                     const int32_t *tile_start, const int32_t *tile_faces, int tiles_x,
                                     device_buffers d)
{
    int x = blockIdx.x * RASTER_TILE + threadIdx.x, y = blockIdx.y * RASTER_TILE + threadIdx.y;
    if (x >= P.width || y >= P.height) return;
    int tile = blockIdx.y * tiles_x + blockIdx.x, K = P.K;
    size_t p = (size_t)y * P.width + x;
    raster_pixel_forward(&P, &M, faces, tile_faces + tile_start[tile], tile_start[tile + 1] - tile_start[tile], x, y,
                         d.frag_face + p * K, d.zbuf + p * K, d.dist + p * K, d.bary + p * K * 3, d.rgb + 3 * p,
                         d.alpha + p, d.keep_all + p, d.silhouette + p, d.depth + p, d.normal + 3 * p);
}

__global__ void pixel_backward_kernel(raster_params P, raster_mesh_view M, const raster_face *faces,
                                      const int32_t *tile_start, const int32_t *tile_faces, int tiles_x,
                                      device_buffers d, int has_rgb, int has_alpha, real *gtex)
{
    int x = blockIdx.x * RASTER_TILE + threadIdx.x, y = blockIdx.y * RASTER_TILE + threadIdx.y;
    if (x >= P.width || y >= P.height) return;
    int tile = blockIdx.y * tiles_x + blockIdx.x, K = P.K;
    size_t p = (size_t)y * P.width + x;
    real ga = has_alpha ? d.grad_alpha[p] : (real)0;
    const real *gr = has_rgb && d.frag_face[p * K] >= 0 ? d.grad_rgb + 3 * p : NULL;
    if (ga == (real)0 && !gr) return;
    raster_pixel_backward(&P, &M, faces, tile_faces + tile_start[tile], tile_start[tile + 1] - tile_start[tile], x, y,
                          d.frag_face + p * K, d.zbuf + p * K, d.dist + p * K, d.rgb + 3 * p, d.keep_all[p], gr, ga,
                          d.vgrad, gtex);
}

__global__ void vertex_backward_kernel(int V, camera_reals c, const real *positions, const real *normals,
                                       const real *norms, const real *vgrad, real *gpos, real *gsum)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= V) return;
    const real *b = vgrad + RASTER_VGRAD * (size_t)i;
    real *gx = gpos + 3 * (size_t)i;
    raster_project_backward(c.R, c.t, c.fx, c.fy, positions + 3 * (size_t)i, b + RASTER_VG_SCREEN, gx);
    for (int k = 0; k < 3; ++k) gx[k] += b[RASTER_VG_POSITION + k];
    real *gs = gsum + 3 * (size_t)i;
    gs[0] = gs[1] = gs[2] = 0;
    raster_normalize3_backward(normals + 3 * (size_t)i, norms[i], b + RASTER_VG_NORMAL, gs);
}

__global__ void normal_backward_kernel(int F, const real *positions, const int32_t *faces, const real *gsum, real *gpos)
{
    int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= F) return;
    const int32_t *idx = faces + 3 * (size_t)f;
    real gcross[3] = {0, 0, 0}, gx[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
    for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 3; ++c) gcross[c] += gsum[3 * (size_t)idx[i] + c];
    raster_face_cross_backward(positions, idx, gcross, gx);
    for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 3; ++c) atomicAdd(gpos + 3 * (size_t)idx[i] + c, gx[i][c]);
}

int upload(void *dst, const void *src, size_t bytes, const char *what)
{
    if (bytes) CU(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), what);
    return 0;
}

int download(void *dst, const void *src, size_t bytes, const char *what)
{
    if (bytes) CU(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), what);
    return 0;
}

} // namespace

extern "C" void raster_cuda_release(void *device_buffers_ptr) { release((device_buffers *)device_buffers_ptr); }

extern "C" int raster_forward_cuda(const raster_camera *cam, const raster_settings *s, const raster_mesh *m,
                                   raster_frame *f)
{
    if (raster_settings_check(s) || raster_mesh_check(m)) return -1;
    if (f->width != cam->width || f->height != cam->height || f->K != s->faces_per_pixel)
        return err_set("raster (CUDA): the frame does not match the camera and K");
    device_buffers *d;
    if (reserve(f, m, &d)) return -1;
    size_t V = m->n_vertices, F = m->n_faces, P = (size_t)f->width * f->height, K = f->K;
    if (upload(d->positions, m->positions, 3 * V * sizeof(real), "positions") ||
        upload(d->faces, m->faces, 3 * F * sizeof(int32_t), "faces") ||
        (m->vertex_colors && upload(d->colors, m->vertex_colors, 3 * V * sizeof(real), "colours")) ||
        (m->texture && (upload(d->uvs, m->uvs, 2 * (size_t)m->n_uvs * sizeof(real), "uvs") ||
                        upload(d->face_uvs, m->face_uvs, 3 * F * sizeof(int32_t), "face uvs") ||
                        upload(d->texture, m->texture, (size_t)3 * m->tex_width * m->tex_height * sizeof(real), "texture"))))
        return -1;
    raster_params Pm;
    raster_params_fill(cam, s, &Pm);
    raster_mesh_view M = device_view(d, m);
    camera_reals c = reals_of(cam);
    project_kernel<<<blocks_for(V), 256>>>((int)V, c, d->positions, d->screen);
    CU(cudaMemset(d->normals, 0, 3 * V * sizeof(real)), "normals");
    face_normal_kernel<<<blocks_for(F), 256>>>((int)F, d->positions, d->faces, d->normals);
    normalize_kernel<<<blocks_for(V), 256>>>((int)V, d->normals, d->normal_norms);
    face_setup_kernel<<<blocks_for(F), 256>>>(Pm, M, (int)F, d->face_setup);
    int tiles_x = (f->width + RASTER_TILE - 1) / RASTER_TILE, tiles_y = (f->height + RASTER_TILE - 1) / RASTER_TILE;
    int tiles = tiles_x * tiles_y;
    bin_kernel<<<blocks_for(tiles), 256>>>(tiles_x, tiles_y, f->width, f->height, (int)F, d->face_setup, d->tile_count,
                                           NULL, NULL);
    CU(cudaGetLastError(), "setup kernels");
    // exclusive scan of the tile counts on the host: a few thousand integers
    int32_t *start = (int32_t *)malloc(((size_t)tiles + 1) * sizeof(int32_t));
    if (!start) return err_set("raster (CUDA): out of memory");
    if (download(start + 1, d->tile_count, (size_t)tiles * sizeof(int32_t), "tile counts")) {
        free(start);
        return -1;
    }
    start[0] = 0;
    for (int t = 0; t < tiles; ++t) start[t + 1] += start[t];
    size_t total = (size_t)start[tiles];
    int rc = upload(d->tile_start, start, ((size_t)tiles + 1) * sizeof(int32_t), "tile starts");
    free(start);
    if (rc) return -1;
    if (total > d->tile_cap || !d->tile_faces) {
        cudaFree(d->tile_faces);
        d->tile_faces = NULL;
        d->tile_cap = 0;
        if (alloc(&d->tile_faces, total, "tile face lists")) return -1;
        d->tile_cap = total;
    }
    bin_kernel<<<blocks_for(tiles), 256>>>(tiles_x, tiles_y, f->width, f->height, (int)F, d->face_setup, d->tile_count,
                                           d->tile_start, d->tile_faces);
    dim3 grid(tiles_x, tiles_y), block(RASTER_TILE, RASTER_TILE);
    pixel_forward_kernel<<<grid, block>>>(Pm, M, d->face_setup, d->tile_start, d->tile_faces, tiles_x, *d);
    CU(cudaGetLastError(), "forward kernels");
    if (download(f->face, d->frag_face, P * K * sizeof(int32_t), "fragments") ||
        download(f->zbuf, d->zbuf, P * K * sizeof(real), "zbuf") || download(f->dist, d->dist, P * K * sizeof(real), "dist") ||
        download(f->bary, d->bary, 3 * P * K * sizeof(real), "bary") || download(f->rgb, d->rgb, 3 * P * sizeof(real), "rgb") ||
        download(f->alpha, d->alpha, P * sizeof(real), "alpha") || download(f->silhouette, d->silhouette, P, "silhouette") ||
        download(f->depth, d->depth, P * sizeof(real), "depth") || download(f->normal, d->normal, 3 * P * sizeof(real), "normal"))
        return -1;
    return 0;
}

extern "C" int raster_backward_cuda(const raster_camera *cam, const raster_settings *s, const raster_mesh *m,
                                    const raster_frame *f, const real *grad_rgb, const real *grad_alpha, raster_grads *g)
{
    device_buffers *d = (device_buffers *)f->device;
    if (!d || d->V != m->n_vertices || d->F != m->n_faces || d->W != f->width || d->H != f->height)
        return err_set("raster (CUDA): backward needs the frame raster_forward_cuda produced for this mesh");
    size_t V = m->n_vertices, F = m->n_faces, P = (size_t)f->width * f->height;
    size_t T = m->texture ? (size_t)3 * m->tex_width * m->tex_height : 0;
    if ((grad_rgb && upload(d->grad_rgb, grad_rgb, 3 * P * sizeof(real), "grad rgb")) ||
        (grad_alpha && upload(d->grad_alpha, grad_alpha, P * sizeof(real), "grad alpha")))
        return -1;
    CU(cudaMemset(d->vgrad, 0, (size_t)RASTER_VGRAD * V * sizeof(real)), "vertex gradients");
    CU(cudaMemset(d->gpos, 0, 3 * V * sizeof(real)), "position gradients");
    if (T) CU(cudaMemset(d->gtex, 0, T * sizeof(real)), "texture gradients");
    raster_params Pm;
    raster_params_fill(cam, s, &Pm);
    raster_mesh_view M = device_view(d, m);
    int tiles_x = (f->width + RASTER_TILE - 1) / RASTER_TILE, tiles_y = (f->height + RASTER_TILE - 1) / RASTER_TILE;
    dim3 grid(tiles_x, tiles_y), block(RASTER_TILE, RASTER_TILE);
    pixel_backward_kernel<<<grid, block>>>(Pm, M, d->face_setup, d->tile_start, d->tile_faces, tiles_x, *d,
                                           grad_rgb != NULL, grad_alpha != NULL, (T && g->texture) ? d->gtex : NULL);
    camera_reals c = reals_of(cam);
    vertex_backward_kernel<<<blocks_for(V), 256>>>((int)V, c, d->positions, d->normals, d->normal_norms, d->vgrad,
                                                    d->gpos, d->gsum);
    normal_backward_kernel<<<blocks_for(F), 256>>>((int)F, d->positions, d->faces, d->gsum, d->gpos);
    CU(cudaGetLastError(), "backward kernels");
    // accumulate into the caller's host buffers
    real *host = (real *)malloc((V * RASTER_VGRAD + T + 3 * V) * sizeof(real));
    if (!host) return err_set("raster (CUDA): out of memory");
    real *hv = host, *hp = host + V * RASTER_VGRAD, *ht = hp + 3 * V;
    int rc = download(hv, d->vgrad, V * RASTER_VGRAD * sizeof(real), "vertex gradients") ||
             download(hp, d->gpos, 3 * V * sizeof(real), "position gradients") ||
             (T && g->texture && download(ht, d->gtex, T * sizeof(real), "texture gradients"));
    if (!rc) {
        if (g->positions)
            for (size_t i = 0; i < 3 * V; ++i) g->positions[i] += hp[i];
        if (g->vertex_colors)
            for (size_t i = 0; i < V; ++i)
                for (int k = 0; k < 3; ++k) g->vertex_colors[3 * i + k] += hv[RASTER_VGRAD * i + RASTER_VG_COLOR + k];
        if (T && g->texture)
            for (size_t i = 0; i < T; ++i) g->texture[i] += ht[i];
    }
    free(host);
    return rc ? -1 : 0;
}
