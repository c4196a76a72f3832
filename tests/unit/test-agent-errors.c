/* shim/agent: agent_error_is_gone, on kata-agent's errors for a process or container it no
 * longer knows, in both of its forms (Kata 3.25 and later, and before), as call() passes them
 * on ("agent <Method>: " and, for INTERNAL, "internal error: " before the agent's message). */
#include <check.h>
#include <stddef.h>

#include "lib/error.h"
#include "shim/agent.h"
#include "tests/common/run-tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct form {
    int code;
    const char *msg;
};

static void check_forms(const struct form *forms, size_t n, bool want)
{
    for (size_t i = 0; i < n; i++) {
        struct error err = {forms[i].code, (char *)forms[i].msg};
        ck_assert_msg(agent_error_is_gone(&err) == want, "%s \"%s\": want %s",
                      grpc_code_name(forms[i].code), forms[i].msg, want ? "gone" : "not gone");
    }
}

/* Kata 3.25+ (sandbox_err_to_ttrpc): the SandboxError's Debug form. */
START_TEST(typed_forms)
{
    static const struct form gone[] = {
        {GRPC_NOT_FOUND, "agent SignalProcess: InvalidExecId"},
        {GRPC_NOT_FOUND, "agent WaitProcess: InvalidExecId"},
        {GRPC_NOT_FOUND, "agent SignalProcess: InitProcessNotFound"},
        {GRPC_NOT_FOUND, "agent WaitProcess: InitProcessNotFound"},
        {GRPC_INVALID_ARGUMENT, "agent SignalProcess: InvalidContainerId"},
        {GRPC_INVALID_ARGUMENT, "agent WaitProcess: InvalidContainerId"},
        {GRPC_NOT_FOUND, "agent ReadStdout: InvalidExecId"},
        /* the agent's message alone, and with more context before it */
        {GRPC_NOT_FOUND, "InvalidExecId"},
        {GRPC_NOT_FOUND, "kill task c1: agent SignalProcess: InitProcessNotFound"},
    };
    check_forms(gone, N(gone), true);
}
END_TEST

/* Kata 3.25+ WriteStdin: the SandboxError through anyhow, INTERNAL with its Display text. */
START_TEST(display_forms)
{
    static const struct form gone[] = {
        {GRPC_INTERNAL, "agent WriteStdin: internal error: Process not found: invalid exec id"},
        {GRPC_INTERNAL,
         "agent WriteStdin: internal error: Process not found: init process missing"},
        {GRPC_INTERNAL, "agent WriteStdin: internal error: Invalid container id"},
    };
    check_forms(gone, N(gone), true);
}
END_TEST

/* Before Kata 3.25, and the lookups that stayed anyhow since: INTERNAL with the texts. */
START_TEST(anyhow_forms)
{
    static const struct form gone[] = {
        {GRPC_INTERNAL, "agent SignalProcess: internal error: Invalid exec id"},
        {GRPC_INTERNAL, "agent WaitProcess: internal error: Invalid exec id"},
        {GRPC_INTERNAL, "agent SignalProcess: internal error: cannot find init process!"},
        {GRPC_INTERNAL, "agent WaitProcess: internal error: cannot find init process!"},
        {GRPC_INTERNAL, "agent WaitProcess: internal error: Invalid container id"},
        {GRPC_INTERNAL, "agent RemoveContainer: internal error: Invalid container id"},
        {GRPC_INTERNAL, "agent StartContainer: internal error: Invalid container id"},
        /* SignalProcess of a whole container (get_pids), GetDiagnosticData */
        {GRPC_INTERNAL, "agent SignalProcess: internal error: Invalid container id c1"},
        {GRPC_INTERNAL,
         "agent GetDiagnosticData: internal error: Invalid container id: 0123abcd-ef.x_y"},
        /* anyhow's Debug form with RUST_BACKTRACE set */
        {GRPC_INTERNAL, "agent SignalProcess: internal error: Invalid exec id\n\nStack "
                        "backtrace:\n   0: anyhow::error::<impl anyhow::Error>::msg\n"},
        {GRPC_INTERNAL, "agent SignalProcess: internal error: Invalid container id c1\n\nStack "
                        "backtrace:\n"},
    };
    check_forms(gone, N(gone), true);
}
END_TEST

START_TEST(not_gone)
{
    ck_assert(!agent_error_is_gone(NULL));
    struct error none = ERROR_INIT;
    ck_assert(!agent_error_is_gone(&none));
    static const struct form other[] = {
        /* the VM or the connection: not this */
        {GRPC_UNAVAILABLE, "agent WaitProcess: ttrpc: connection closed"},
        {GRPC_UNAVAILABLE, "agent SignalProcess: InvalidExecId"},
        {GRPC_DEADLINE_EXCEEDED, "agent SignalProcess: ttrpc: grpc.AgentService/SignalProcess: "
                                 "deadline exceeded"},
        /* a text with another code than kata-agent sends it with */
        {GRPC_INTERNAL, "agent SignalProcess: internal error: InvalidExecId"},
        {GRPC_INVALID_ARGUMENT, "agent SignalProcess: InitProcessNotFound"},
        {GRPC_NOT_FOUND, "agent SignalProcess: InvalidContainerId"},
        {GRPC_NOT_FOUND, "agent SignalProcess: Invalid exec id"},
        {GRPC_NOT_FOUND, "agent RemoveContainer: Invalid container id"},
        /* other errors */
        {GRPC_NOT_FOUND, "agent StartContainer: container c1 not found"},
        {GRPC_NOT_FOUND, "copy /run/x: agent CopyFile: No such file or directory"},
        {GRPC_ALREADY_EXISTS, "agent ExecProcess: exec_id 'e1' already exists"},
        {GRPC_UNAVAILABLE, "agent TtyWinResize: \"no tty\""},
        {GRPC_INTERNAL, "agent UpdateInterface: internal error: Link not found (Name: x)"},
        {GRPC_INTERNAL, "agent SignalProcess: internal error: ESRCH: No such process"},
        /* the text, but not as the agent's whole message */
        {GRPC_INTERNAL, "agent SignalProcess: internal error: Invalid exec id 7"},
        {GRPC_INTERNAL, "agent SignalProcess: internal error: xInvalid exec id"},
        {GRPC_INTERNAL, "agent SignalProcess: internal error: not Invalid exec id"},
        {GRPC_NOT_FOUND, "agent SignalProcess: InvalidExecIds"},
        {GRPC_INVALID_ARGUMENT, "agent CreateContainer: InvalidContainerId: c1"},
        {GRPC_INTERNAL, "agent SignalProcess: internal error: Invalid container id c1 c2"},
        {GRPC_INTERNAL, "agent SignalProcess: internal error: Invalid container id "},
        {GRPC_INTERNAL, "agent SignalProcess: internal error: Invalid container ids"},
        /* before 3.25, CloseStdin's and TtyWinResize's own forms: the shim never asks */
        {GRPC_INVALID_ARGUMENT, "agent CloseStdin: \"invalid argument: Invalid exec id\""},
        {GRPC_UNAVAILABLE, "agent TtyWinResize: \"invalid argument: Invalid exec id\""},
    };
    check_forms(other, N(other), false);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent-errors");
    TCase *tc = tcase_create("agent-errors");
    tcase_add_test(tc, typed_forms);
    tcase_add_test(tc, display_forms);
    tcase_add_test(tc, anyhow_forms);
    tcase_add_test(tc, not_gone);
    suite_add_tcase(s, tc);
    return run_tap(s);
}
