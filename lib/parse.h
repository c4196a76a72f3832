/* Parsing values the way Go's strconv does, for flags and annotations that containerd, the
 * kubelet and Kata write with Go. */
#pragma once

#include <stdbool.h>

/* strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. Returns 0, or -1 for
 * anything else. */
int parse_go_bool(const char *s, bool *out);
