/* Writes ferry_ops.glsl: the op ids and unary kinds of the registry (ops.def) as GLSL #defines, so
 * that a shader compares OP against FERRY_OP_<NAME> and never against a number copied by hand.
 * Run at build time (shaders/meson.build). */
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fprintf(f, "// Generated from core/src/ops.def by core/src/gen_glsl.c: do not edit.\n");
    int id = 0;
#define FERRY_OP(NAME, name, nsrc, kind, grad, backward) \
    fprintf(f, "#define FERRY_OP_%s %d\n", #NAME, id++);
#include "ops.def"
    id = 0;
#define FERRY_UNARY(NAME, name, uses_output) \
    fprintf(f, "#define FERRY_UNARY_%s %d\n", #NAME, id++);
#include "ops.def"
    return fclose(f) == 0 ? 0 : 1;
}
