/* Guest pull ("image_guest_pull" storage): an image from a plain-HTTP registry, unpacked. */
#pragma once

#include <stdbool.h>

#include "kata/agent.pb-c.h"
#include "lib/error.h"

/* Pulls `ref` ("host[:port]/repo[:tag][@digest]") into dir. blob_dir caches verified blobs.
 * A 127.0.0.1 or localhost registry host is replaced by loopback_host (NULL: kept): in the guest
 * the host's loopback is reached at 10.0.2.2 through QEMU user networking. */
int image_pull(const char *ref, const char *dir, const char *blob_dir, const char *loopback_host,
               struct error *err);

/* The sandbox's pause container: storage source "pause", or a container-type "sandbox" in the
 * spec annotations or the storage's image_pull metadata. */
bool container_is_sandbox(const Grpc__Storage *st, const Grpc__Spec *spec);
