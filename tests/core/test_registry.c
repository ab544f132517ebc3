/* The op registry (core/src/ops.def) against the backends: every op must be run by every registered
 * backend (a kernel, or a view/leaf that needs none), and its gradient column must agree with its
 * backward builder. A backend entry set to its UNSUPPORTED marker, or a differentiable op without a
 * builder, fails here; an op without any backend entry fails to compile (cpu_table.c, vk_table.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "internal.h"

Test(registry, every_op_has_a_unique_name)
{
    for (int i = 0; i < FERRY_OP_COUNT; i++) {
        const struct ferry_op_info *a = ferry_op_info((enum ferry_op)i);
        cr_assert_not_null(a);
        cr_assert(a->name && a->name[0], "op %d has no name", i);
        cr_assert(a->nsrc >= 0 && a->nsrc <= FERRY_MAX_SRC, "%s: %d sources", a->name, a->nsrc);
        for (int j = 0; j < i; j++)
            cr_assert(strcmp(a->name, ferry_op_info((enum ferry_op)j)->name) != 0, "two ops named %s", a->name);
    }
    cr_assert_null(ferry_op_info(FERRY_OP_COUNT));
}

Test(registry, every_backend_runs_every_op)
{
    const int nk = ferry_backend_kind_count();
    cr_assert_geq(nk, 2, "the cpu and vulkan backends register themselves");
    for (int k = 0; k < nk; k++)
        for (int op = 0; op < ferry_op_count(); op++) {
            ferry_op_desc d;
            cr_assert_eq(ferry_op_describe(op, &d), FERRY_OK);
            cr_expect(ferry_backend_kind_supports(k, op), "backend %s has no kernel for op %s",
                      ferry_backend_kind_name(k), d.name);
            if (d.differentiable)
                cr_expect(ferry_backend_kind_supports_backward(k, op), "backend %s cannot run the backward of %s",
                          ferry_backend_kind_name(k), d.name);
        }
}

Test(registry, gradient_column_matches_the_builders)
{
    for (int i = 0; i < FERRY_OP_COUNT; i++) {
        const struct ferry_op_info *a = ferry_op_info((enum ferry_op)i);
        ferry_backward_fn fn = ferry_op_backward((enum ferry_op)i);
        if (a->grad == FERRY_GRAD_FN)
            cr_expect_not_null(fn, "%s is declared differentiable but has no backward builder", a->name);
        else
            cr_expect_null(fn, "%s is declared without a gradient but has a backward builder", a->name);
        if (a->kind == FERRY_KIND_UPDATE || a->kind == FERRY_KIND_LEAF)
            cr_expect_neq(a->grad, FERRY_GRAD_FN, "%s: leaves and updates are never differentiated", a->name);
    }
}

Test(registry, unary_kinds_are_named)
{
    for (int k = 0; k < FERRY_UNARY_COUNT; k++) cr_expect(strcmp(ferry_unary_name(k), "?") != 0, "kind %d", k);
    cr_expect_str_eq(ferry_unary_name(FERRY_UNARY_COUNT), "?");
}

Test(registry, device_specs_go_through_the_registry)
{
    ferry_backend_t *be = NULL;
    cr_assert_eq(ferry_backend_init_device("cpu", 1, &be), FERRY_OK, "%s", ferry_last_error());
    cr_expect_str_eq(ferry_backend_name(be), "cpu");
    ferry_backend_free(be);
    cr_expect_eq(ferry_backend_init_device("cpu:3", 1, &be), FERRY_ERR_INVALID);
    cr_expect_eq(ferry_backend_init_device("tpu", 1, &be), FERRY_ERR_INVALID);
    cr_expect(strstr(ferry_last_error(), "unknown device 'tpu'"), "%s", ferry_last_error());
    cr_expect_eq(ferry_backend_init_device("vulkan:x", 1, &be), FERRY_ERR_INVALID);
}
