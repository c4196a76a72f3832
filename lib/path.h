/* Path names, lexically (nothing on the disk is looked at). */
#pragma once

/* Go's path.Clean: one '/' between elements, no "." elements, ".." resolved against the element
 * before it (dropped at the root), no trailing '/', "." for nothing. Caller frees. */
char *path_clean(const char *p);
