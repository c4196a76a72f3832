/* The main() of every check test program: run the suite, print TAP for meson, exit 1 on a
 * failure. */
#pragma once

#include <check.h>

static inline int run_tap(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
