/* Stand-in for the Kata agent's Rego policy engine.
 *
 * The test agent evaluates no Rego. It keeps one rule: a policy with a line
 * `default ExecProcessRequest := false` (spaces around the words and ":=" are free) makes every
 * ExecProcess fail with PERMISSION_DENIED "ExecProcessRequest is blocked by policy", which is
 * what genpolicy's exec-denying policies and the Kata docs' allow-all-but-exec example do.
 * Every other request is allowed whatever the policy says. A new SetPolicy replaces the rule. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "agent.h"
#include "rpc.h"

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Matches `word` at s followed by a non-identifier character; returns the rest or NULL. */
static const char *match_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(s, word, n) || isalnum((unsigned char)s[n]) || s[n] == '_')
        return NULL;
    return s + n;
}

static bool line_blocks_exec(const char *line)
{
    const char *s = match_word(skip_space(line), "default");
    if (!s || s == skip_space(s))
        return false;
    s = match_word(skip_space(s), "ExecProcessRequest");
    if (!s)
        return false;
    s = skip_space(s);
    if (strncmp(s, ":=", 2))
        return false;
    s = match_word(skip_space(s + 2), "false");
    if (!s)
        return false;
    s = skip_space(s);
    return *s == '\0' || *s == '\n' || *s == '\r' || *s == '#';
}

void policy_set(const char *text)
{
    bool blocked = false;
    for (const char *line = text; line;) {
        if (line_blocks_exec(line))
            blocked = true;
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    pthread_mutex_lock(&agent.lock);
    agent.exec_blocked = blocked;
    pthread_mutex_unlock(&agent.lock);
}
