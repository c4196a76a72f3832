/* VM spec -> libvirt domain XML: a plain VM, an AMD SEV-SNP guest or an Intel TDX guest.
 * The spec is checked first; each problem is reported with the field that has it. */
#pragma once

#include "lib/error.h"
#include "vmm/vm-spec.h"

/* XML namespace and element of the <metadata> entry naming the sandbox, so that a domain
 * (e.g. one left behind by a dead shim) can be traced to its pod. */
#define DOMAIN_XML_METADATA_NS "urn:cocoon:sandbox:1"
#define DOMAIN_XML_METADATA_PREFIX "cocoon"
#define DOMAIN_XML_METADATA_ELEMENT "sandbox"

/* Checks spec and writes its domain XML to *out_xml (caller frees). Returns 0, or -1 with
 * GRPC_INVALID_ARGUMENT and a message such as "vm spec: vcpus must be at least 1". */
int domain_xml_build(const struct vm_spec *spec, char **out_xml, struct error *err);

/* Only the checks of domain_xml_build. */
int vm_spec_validate(const struct vm_spec *spec, struct error *err);
