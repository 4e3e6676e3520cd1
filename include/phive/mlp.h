/* mlp.h — fully connected networks on the GEMM interface (nsr module).
 *
 * Layers y = x·Wᵀ + b with W [out × in] row-major, Softplus(β) (β > 0) or
 * ReLU (β = 0) between layers, none after the last.  Weights live in a
 * param_set ("<prefix>.w<i>", "<prefix>.b<i>").  Forward keeps the
 * pre-activations and activations of a batch; backward accumulates (+=)
 * into the param_set's gradient buffer, as every backward in phive does.
 */
#ifndef PHIVE_MLP_H
#define PHIVE_MLP_H

#include "phive/params.h"
#include "phive/rng.h"

#define MLP_MAX_LAYERS 16

typedef struct {
    int n_layers;                /* linear layers */
    int dims[MLP_MAX_LAYERS + 1]; /* dims[0] inputs ... dims[n_layers] outputs */
    int weight[MLP_MAX_LAYERS], bias[MLP_MAX_LAYERS]; /* tensor indices */
    double beta;                 /* Softplus sharpness; 0 = ReLU */
} mlp;

typedef struct {
    int capacity;                       /* rows allocated */
    real *act[MLP_MAX_LAYERS + 1];      /* act[0] = input, act[i] = output of layer i */
    real *pre[MLP_MAX_LAYERS];          /* pre-activation of layer i */
    real *grad_a, *grad_b;              /* backward scratch, capacity × widest layer */
} mlp_buffers;

int mlp_declare(mlp *net, param_set *p, const char *prefix, int n_in, int width, int hidden_layers, int n_out,
                double beta, int lr_group);
/* SAL/NeuS geometric initialisation: output ≈ |x| − radius for the first `n_xyz` inputs;
 * weights of the other inputs of the first layer start at zero. */
void mlp_init_geometric(const mlp *net, param_set *p, rng_t *rng, double radius, int n_xyz);

int mlp_buffers_alloc(mlp_buffers *b, const mlp *net, int capacity);
void mlp_buffers_free(mlp_buffers *b, const mlp *net);

/* Input rows in b->act[0]; output rows in b->act[n_layers]. */
void mlp_forward(const mlp *net, const param_set *p, mlp_buffers *b, int rows);
/* grad_out: dL/d(output) rows; accumulates dL/dθ into p->grads; grad_in (may be NULL) receives dL/d(input). */
void mlp_backward(const mlp *net, param_set *p, mlp_buffers *b, int rows, const real *grad_out, real *grad_in);

#endif
