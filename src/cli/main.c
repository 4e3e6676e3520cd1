/* main.c — bin/phive: MPI + PETSc start-up, then one subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "phive/errors.h"
#include "phive/h5io.h"
#include "phive/log.h"
#include "phive/petsc_env.h"

static const char usage[] =
    "usage: phive COMMAND ...\n"
    "  run CONFIG [section.key=value ...] [--out DIR] [--force]   run one job\n"
    "  simulate CONFIG [section.key=value ...] [--out DIR] [--force]\n"
    "                                                            forward cloth simulation (a job of type simulate)\n"
    "  synth cloth CONFIG [section.key=value ...] [--out DIR] [--force]\n"
    "                                                            synthetic ϕ-SfT sequence with ground truth into\n"
    "                                                            synth.dir (a job of type synth_cloth)\n"
    "  eval PROTOCOL [section.key=value ...] [--out DIR]         evaluate results (protocols: sft, dtu, epfl, bmvs, clean)\n"
    "  sweep FILE [--out DIR] [--ranks-per-job N] [--array-index I --array-count N]\n"
    "        [--list]                                            (--list: print the job ids only)\n"
    "                                                            run every job of a sweep file\n"
    "  report DIR [--print METRIC ...]                           rebuild DIR/summary.{csv,md,h5} and the tables;\n"
    "                                                            print the tables of those metrics\n"
    "  mesh JOB_DIR [--resolution N] [--out FILE] [--force]      marching cubes of a neus job's checkpoint\n"
    "                                                            (N: default the job's mesh.resolution; FILE:\n"
    "                                                            default JOB_DIR/mesh_N.ply, kept unless --force)\n"
    "  info                                                      build, ranks, devices, libraries\n"
    "  render --mesh MESH [--texture PNG] --camera JSON [--downscale N] [--image PNG] [--mask PNG]\n"
    "        [--out DIR] [--sigma S] [--gamma G] [--faces-per-pixel K] [--blur-radius R]\n"
    "        [--shading ambient|phong] [--background R,G,B] [--silhouette all|nearest] [--cull]\n"
    "        [--threads N]\n"
    "                                                            render a mesh to DIR/{rgb,alpha,silhouette,depth,\n"
    "                                                            normal,overlay}.png (overlay: with --image); with\n"
    "                                                            --mask, print the silhouette's IoU with it\n"
    "exit codes: 0 all complete, 1 a job failed or bad input, 2 usage, 75 stopped by a signal: requeue\n";

int main(int argc, char **argv)
{
    dist_ctx d;
    if (dist_init(&argc, &argv, &d)) {
        fprintf(stderr, "phive: %s\n", err_message());
        return PHIVE_EXIT_FAILED;
    }
    log_init(d.world_rank);
    h5io_init();
    if (petsc_start()) {
        fprintf(stderr, "phive: %s\n", err_message());
        dist_finalize(&d);
        return PHIVE_EXIT_FAILED;
    }
    signals_install(); /* after PetscInitialize, which installs its own handlers */
    const char *command = argc > 1 ? argv[1] : "help";
    int code;
    if (!strcmp(command, "run")) code = cmd_run(argc - 2, argv + 2, &d);
    else if (!strcmp(command, "simulate")) code = cmd_simulate(argc - 2, argv + 2, &d);
    else if (!strcmp(command, "synth")) code = cmd_synth(argc - 2, argv + 2, &d);
    else if (!strcmp(command, "eval")) code = cmd_eval(argc - 2, argv + 2, &d);
    else if (!strcmp(command, "sweep")) code = cmd_sweep(argc - 2, argv + 2, &d);
    else if (!strcmp(command, "report")) code = cmd_report(argc - 2, argv + 2, &d);
    else if (!strcmp(command, "info")) code = cmd_info(argc - 2, argv + 2, &d);
    else if (!strcmp(command, "render")) code = cmd_render(argc - 2, argv + 2, &d);
    else if (!strcmp(command, "mesh")) code = cmd_mesh(argc - 2, argv + 2, &d);
    else {
        int asked = !strcmp(command, "help") || !strcmp(command, "--help") || !strcmp(command, "-h");
        if (d.world_rank == 0) fprintf(asked ? stdout : stderr, "%s%s", asked ? "" : "phive: unknown command\n", usage);
        code = asked ? PHIVE_EXIT_OK : PHIVE_EXIT_USAGE;
    }
    petsc_stop();
    dist_finalize(&d);
    return code;
}
