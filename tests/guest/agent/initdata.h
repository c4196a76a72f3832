/* CoCo init-data from the init-data block device (kata.md 2.7): found by its magic on /dev/vd*
 * or /dev/sd*, gunzipped, its `algorithm` read from the TOML, and its digest over the
 * decompressed bytes reported on stdout and in <state_dir>/initdata.digest. The contents are
 * never printed. */
#pragma once

/* dev: a device or image file to read instead of scanning; "none" skips init-data. */
void initdata_report(const char *dev, const char *state_dir);
