/* mlp.h — fully connected networks on the GEMM interface (nsr module).
 *
 * Layers y = x·Wᵀ + b with W [out × in] row-major, Softplus(β) (β > 0) or
 * ReLU (β = 0) between layers, none after the last.  Weights live in a
 * param_set ("<prefix>.w<i>", "<prefix>.b<i>").  Forward keeps the
 * pre-activations and activations of a batch; backward accumulates (+=)
 * into the param_set's gradient buffer, as every backward in phive does.
 *
 * Extensions (mlp_declare_ex; mlp_declare leaves them off):
 *
 * - Skip connection (NeuS/IDR SDFNetwork, skip_in = (s,)): linear layer s
 *   takes x_s = [h_s, u] / √2, the previous activation concatenated with the
 *   network input u.  Layer s − 1 then has dims[s] − dims[0] outputs so that
 *   x_s keeps the width dims[s] (NeuS: 256 − 39 = 217 units before layer 4).
 *   act[s] holds the concatenated, scaled x_s.
 * - Weight normalisation (torch.nn.utils.weight_norm, dim 0): W = g·v/‖v‖ per
 *   output row; "<prefix>.w<i>" holds v [out × in], "<prefix>.g<i>" holds g
 *   [out] (declared between w<i> and b<i>).  A zero row of v gives a zero row
 *   of W (and zero gradients) where PyTorch would give NaN.  Forward computes
 *   the effective W into the buffers; backward accumulates dL/dW there and
 *   maps it to dL/dg = dL/dW · v̂ and dL/dv = (g/‖v‖)(dL/dW − (dL/dW · v̂) v̂)
 *   (v̂ = v/‖v‖, per row).
 * - Input gradient and its backward (the analytic SDF gradient of NeuS):
 *   mlp_input_gradient gives G = ∂y_k/∂u for one output column k by one
 *   reverse sweep; mlp_backward_second differentiates any L(y, G) (double
 *   backward).  With r_l = ∂y_k/∂z_l (z_l the pre-activation of layer l,
 *   kept in the buffers), its upward sweep is a forward-mode pass of the
 *   direction Ḡ = ∂L/∂G: q̄_0 = Ḡ, r̄_l = W_l q̄_l, q̄_{l+1} = r̄_l ⊙ σ'(z_l)
 *   (concatenated with Ḡ and scaled by 1/√2 at the skip); it adds
 *   dL/dW_l += r_lᵀ q̄_l (dL/dW_last[k] += Σ_rows q̄_last) and the curvature
 *   term dL/dz_l += r̄_l ⊙ r_l ⊙ σ''(z_l)/σ'(z_l) to the ordinary backward of
 *   ∂L/∂y that follows (Softplus: σ''/σ' = β(1 − σ'); ReLU: 0).  Six GEMMs
 *   per layer in all with the forward.
 *
 * The forward stores σ'(z) next to the activations (one fused Softplus pass,
 * kernels/mlp.h softplus_fused), so no backward evaluates exp again.
 */
#ifndef PHIVE_MLP_H
#define PHIVE_MLP_H

#include "phive/params.h"
#include "phive/rng.h"

#define MLP_MAX_LAYERS 16

typedef struct {
    int n_layers;                /* linear layers */
    int dims[MLP_MAX_LAYERS + 1]; /* dims[0] inputs ... dims[n_layers] outputs; dims[i] = input width of layer i */
    int weight[MLP_MAX_LAYERS], bias[MLP_MAX_LAYERS]; /* tensor indices (weight: v with weight norm) */
    double beta;                 /* Softplus sharpness; 0 = ReLU */
    int skip;                    /* > 0: layer `skip` takes [h, input]/√2; 0: no skip */
    int weight_norm;             /* 1: W = g·v/‖v‖ per row */
    int gain[MLP_MAX_LAYERS];    /* tensor indices of g (weight norm) */
} mlp;

typedef struct {
    int n_in, width, hidden_layers, n_out;
    double beta;      /* Softplus sharpness; 0 = ReLU */
    int skip;         /* 0: none; else 1 ≤ skip ≤ hidden_layers, and width > n_in */
    int weight_norm;  /* 0 or 1 */
    int lr_group;
} mlp_shape;

typedef struct {
    int capacity;                       /* rows allocated */
    real *act[MLP_MAX_LAYERS + 1];      /* act[0] = input, act[i] = input of layer i, act[n_layers] = output */
    real *pre[MLP_MAX_LAYERS];          /* pre-activation of layer i (rows × mlp_layer_out(i)) */
    real *dact[MLP_MAX_LAYERS];         /* σ'(pre[i]) of the hidden layers, from the forward */
    real *grad_a, *grad_b;              /* backward scratch, capacity × widest layer */
    real *grad_c;                       /* third scratch (skip split) */
    real *skip_grad;                    /* capacity × dims[0]: the input gradient through the skip */
    real *weff[MLP_MAX_LAYERS];         /* weight norm: effective W of the last forward */
    real *wgrad[MLP_MAX_LAYERS];        /* weight norm: dL/dW of the running backward */
    real *adj[MLP_MAX_LAYERS];          /* second order: r_l of mlp_input_gradient (rows × out of layer l) */
    int second_order;
} mlp_buffers;

int mlp_declare(mlp *net, param_set *p, const char *prefix, int n_in, int width, int hidden_layers, int n_out,
                double beta, int lr_group);
/* With skip and weight normalisation; error (err_set) on an unsupported shape. */
int mlp_declare_ex(mlp *net, param_set *p, const char *prefix, const mlp_shape *shape);
/* Output width of linear layer l (dims[l + 1], less dims[0] before the skip). */
int mlp_layer_out(const mlp *net, int l);

/* SAL/NeuS geometric initialisation: output ≈ |x| − radius for the first `n_xyz` inputs.
 * Hidden layers W ~ N(0, 2/out), b = 0; the last layer W ~ N(√π/√in, 1e-4²), b = −radius.
 * The first layer's weights of the other inputs (positional-encoding terms) start at zero,
 * and so do the skip layer's weights of those inputs (the last dims[0] − n_xyz columns of
 * its input), as NeuS's SDFNetwork does.  With weight normalisation g = ‖v‖ per row. */
void mlp_init_geometric(const mlp *net, param_set *p, rng_t *rng, double radius, int n_xyz);
/* PyTorch's nn.Linear default: W, b ~ U(−1/√in, 1/√in); with weight normalisation g = ‖v‖. */
void mlp_init_uniform(const mlp *net, param_set *p, rng_t *rng);

int mlp_buffers_alloc(mlp_buffers *b, const mlp *net, int capacity);
/* second_order = 1 adds the buffers mlp_input_gradient and mlp_backward_second need. */
int mlp_buffers_alloc_ex(mlp_buffers *b, const mlp *net, int capacity, int second_order);
void mlp_buffers_free(mlp_buffers *b, const mlp *net);

/* Input rows in b->act[0]; output rows in b->act[n_layers]. */
void mlp_forward(const mlp *net, const param_set *p, mlp_buffers *b, int rows);
/* The same, but the last layer computes only its first out_cols outputs (row stride stays
 * dims[n_layers]; the other columns are left as they were).  Not for a following backward. */
void mlp_forward_cols(const mlp *net, const param_set *p, mlp_buffers *b, int rows, int out_cols);
/* grad_out: dL/d(output) rows; accumulates dL/dθ into p->grads; grad_in (may be NULL) receives dL/d(input). */
void mlp_backward(const mlp *net, param_set *p, mlp_buffers *b, int rows, const real *grad_out, real *grad_in);

/* After mlp_forward: grad_in (rows × dims[0]) = ∂y_k/∂u of output column k = `output`.
 * Needs second-order buffers; keeps r_l in b->adj for mlp_backward_second. */
void mlp_input_gradient(const mlp *net, const param_set *p, mlp_buffers *b, int rows, int output, real *grad_in);
/* After mlp_forward and mlp_input_gradient(output): the backward of L(y, G) with G = ∂y_k/∂u.
 * grad_out = ∂L/∂y (rows × dims[n_layers]), grad_g = ∂L/∂G (rows × dims[0]).  Accumulates dL/dθ
 * into p->grads; grad_in (may be NULL) receives the total dL/du.  Overwrites b->adj. */
void mlp_backward_second(const mlp *net, param_set *p, mlp_buffers *b, int rows, int output, const real *grad_out,
                         const real *grad_g, real *grad_in);

/* Threads for the element-wise loops of the nsr module: all OpenMP threads when they sleep
 * between parallel regions (OMP_WAIT_POLICY=passive, or GOMP_SPINCOUNT ≤ 10000), else 1.
 * libgomp's default spin-wait after every region takes the cores from OpenBLAS's own threads
 * in the GEMMs that follow, which costs more than the element-wise loops gain (NeuS at default
 * sizes on 2 cores: ~3x slower).  Launch with OMP_WAIT_POLICY=passive to use both. */
int mlp_elementwise_threads(void);

#endif
