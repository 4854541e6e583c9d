/*
 * agent.c -- promotion to agent: the three criteria checked, not assumed.
 *
 * A module becomes an agent when (1) it forms a closed loop (it can perceive, decide, execute
 * and learn from feedback, and its decide step actually proposes something), (2) it can be
 * evaluated on its own (re-evaluating the same candidate on the same data with the same seed
 * gives the same score, so its rewards depend only on its declared inputs), and (3) it has a
 * decision space it can change. The evidence of each check goes to the ledger with the agent's
 * registration, whatever the verdict, so a refusal can be explained later.
 */
#include "agents/agents_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static json_t *closed_loop(const ar_agent_ops *ops, void *self, int *pass, char **probe_from) {
    json_t *o = json_object();
    int has = ops->perceive && ops->decide && ops->execute && ops->feedback;
    json_object_set_new(o, "perceive", json_boolean(ops->perceive != NULL));
    json_object_set_new(o, "decide", json_boolean(ops->decide != NULL));
    json_object_set_new(o, "execute", json_boolean(ops->execute != NULL));
    json_object_set_new(o, "feedback", json_boolean(ops->feedback != NULL));
    int proposed = 0;
    if (has) {
        char *c[1] = {NULL};
        ar_error err;
        if (ops->decide(self, 1, c, &proposed, &err) != AR_OK) {
            proposed = 0;
            json_object_set_new(o, "decide_error", json_string(err.msg));
        }
        if (proposed > 0)
            *probe_from = c[0];
        else
            free(c[0]);
    }
    json_object_set_new(o, "proposed", json_integer(proposed));
    *pass = has && proposed > 0;
    json_object_set_new(o, "pass", json_boolean(*pass));
    return o;
}

static json_t *evaluable(const ar_agent_ops *ops, void *self, const char *probe, int *pass) {
    json_t *o = json_object();
    json_object_set_new(o, "candidate", json_string(probe ? probe : ""));
    ar_agent_outcome a, b;
    ar_error err;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    *pass = 0;
    if (!probe || !ops->execute) {
        json_object_set_new(o, "error", json_string("no candidate to evaluate"));
    } else if (ops->execute(self, probe, 1.0, 1, &a, &err) != AR_OK ||
               ops->execute(self, probe, 1.0, 1, &b, &err) != AR_OK) {
        json_object_set_new(o, "error", json_string(err.msg));
    } else if (!a.ok || !b.ok) {
        json_object_set_new(o, "error", json_string(!a.ok ? a.reason : b.reason));
    } else {
        json_object_set_new(o, "first", json_real(a.reward));
        json_object_set_new(o, "second", json_real(b.reward));
        *pass = isfinite(a.reward) && memcmp(&a.reward, &b.reward, sizeof a.reward) == 0;
    }
    free(a.spec);
    free(b.spec);
    json_object_set_new(o, "pass", json_boolean(*pass));
    return o;
}

static json_t *evolvable(const char *space, int *pass) {
    json_t *o = json_object(), *s = space ? json_loads(space, 0, NULL) : NULL;
    size_t n = json_is_array(s) ? json_array_size(s) : json_is_object(s) ? json_object_size(s) : 0;
    json_object_set_new(o, "decisions", json_integer((json_int_t)n));
    *pass = n > 0;
    json_object_set_new(o, "pass", json_boolean(*pass));
    json_decref(s);
    return o;
}

ar_status ar_agent_promote(ar_ledger *l, const ar_agent_ops *ops, void *self, char **evidence,
                           ar_error *err) {
    if (evidence)
        *evidence = NULL;
    if (!l || !ops || !ops->name || !*ops->name)
        return ar__fail(err, AR_EINVAL, "promotion: a ledger and a named agent are required");
    int p1, p2, p3;
    char *probe = NULL, *space = ops->space_json ? ops->space_json(self) : NULL;
    json_t *ev = json_object();
    json_object_set_new(ev, "closed_loop", closed_loop(ops, self, &p1, &probe));
    if (ops->probe) { /* a cheaper candidate than the first proposal, when the agent has one */
        free(probe);
        probe = ops->probe(self);
    }
    json_object_set_new(ev, "independently_evaluable", evaluable(ops, self, probe, &p2));
    json_object_set_new(ev, "evolvable", evolvable(space, &p3));
    json_object_set_new(ev, "promoted", json_boolean(p1 && p2 && p3));
    free(probe);
    char *text = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ev);
    if (!text) {
        free(space);
        return ar__fail(err, AR_ENOMEM, "promotion: out of memory");
    }
    ar_ledger_agent a = {ops->name, ops->kind ? ops->kind : "agent", space, text};
    ar_status st = ar_ledger_agent_put(l, &a, NULL);
    free(space);
    if (st) {
        free(text);
        return ar__fail(err, st, "promotion: the ledger refused the agent: %s",
                        ar_ledger_errmsg(l));
    }
    if (evidence)
        *evidence = text;
    else
        free(text);
    if (!(p1 && p2 && p3))
        return ar__fail(err, AR_EINVAL, "%s is not an agent: %s", ops->name,
                        !p1   ? "it does not form a closed loop (perceive/decide/execute/feedback)"
                        : !p2 ? "re-evaluating the same candidate with the same seed gave a "
                                "different score (or failed)"
                              : "its decision space is empty");
    return AR_OK;
}
