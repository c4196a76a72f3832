/* What every fuzz target defines. Built with -DCOCOON_LIBFUZZER, libFuzzer calls it; otherwise
 * replay.c's main() feeds it the corpus (meson suite 'fuzz'). A target checks what it can about
 * the result and abort()s when a check fails, so a wrong answer is a finding like a crash. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
