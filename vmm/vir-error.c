#include "vmm/vir-error.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

static int grpc_code_for(int vir_code)
{
    switch (vir_code) {
    case VIR_ERR_NO_DOMAIN:
        return GRPC_NOT_FOUND;
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_XML_DETAIL:
    case VIR_ERR_INVALID_ARG:
    case VIR_ERR_CONFIG_UNSUPPORTED:
        return GRPC_INVALID_ARGUMENT;
    case VIR_ERR_NO_SUPPORT:
        return GRPC_UNIMPLEMENTED;
    case VIR_ERR_OPERATION_INVALID:
        return GRPC_FAILED_PRECONDITION;
    case VIR_ERR_OPERATION_DENIED:
    case VIR_ERR_AUTH_FAILED:
    case VIR_ERR_ACCESS_DENIED:
        return GRPC_PERMISSION_DENIED;
    case VIR_ERR_OPERATION_TIMEOUT:
        return GRPC_DEADLINE_EXCEEDED;
    case VIR_ERR_DOM_EXIST:
        return GRPC_ALREADY_EXISTS;
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_RPC:
    case VIR_ERR_AGENT_UNRESPONSIVE:
        return GRPC_UNAVAILABLE;
    default:
        return GRPC_INTERNAL;
    }
}

int vir_last_error_code(void)
{
    return virGetLastErrorCode();
}

int vir_error(struct error *err, const char *context)
{
    virErrorPtr e = virGetLastError();
    const char *msg = e && e->message ? e->message : "unknown error";
    int code = grpc_code_for(e ? e->code : VIR_ERR_INTERNAL_ERROR);
    if (context)
        return error_set(err, code, "%s: libvirt: %s", context, msg);
    return error_set(err, code, "libvirt: %s", msg);
}
