/* CoCo init-data from the init-data block device (kata.md 2.7): found by its magic on /dev/vd*
 * or /dev/sd*, gunzipped, its `algorithm` read from the TOML, and its digest over the
 * decompressed bytes reported on stdout and in <state_dir>/initdata.digest. The contents are
 * never printed. Its [data] "policy.rego", if any, is the agent's policy from the start, as
 * kata-agent sets it ("using policy from initdata", src/agent/src/main.rs). */
#pragma once

/* dev: a device or image file to read instead of scanning; "none" skips init-data. Returns the
 * document's "policy.rego" (caller frees), or NULL. */
char *initdata_report(const char *dev, const char *state_dir);
