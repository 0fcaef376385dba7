/* natbed matrix's pairs into results and grid cells (matrix_results.h). */
#include "matrix_results.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "matrix_judge.h"
#include "results.h"

/* The judge's window reaches this far past a pair's end, for datagrams
 * still in flight; a host's next pair starts MX_SETTLE_S after it. */
#define MX_TAIL_NS ((int64_t)(MX_SETTLE_S * 1e9 / 2))

static const char *const mx_method[] = {
    [MX_PATH_NONE] = NULL, [MX_PATH_DIRECT] = "direct", [MX_PATH_RELAYED] = "relay"};

static int mx_add(struct results *r, const struct mx_plan *p, const struct mx_pair *q,
		  const struct mx_run *run, const struct mx_verdict *v)
{
	const struct mx_host *a = &p->hosts[q->a], *b = &p->hosts[q->b];
	char reason[sizeof(v->why) + 64];
	struct res_attempt at = {.a = a->name,
				 .b = b->name,
				 .nat_a = a->label,
				 .nat_b = b->label,
				 .method = mx_method[v->path],
				 .success = v->path != MX_PATH_NONE,
				 .setup_ms = v->setup_ms,
				 .rtt_ms = NAN,
				 .loss = NAN,
				 .path =
				     v->path == MX_PATH_NONE ? RESULTS_NONE : mx_method[v->path],
				 .local = v->local[0] ? v->local : NULL,
				 .remote = v->remote[0] ? v->remote : NULL,
				 .t_s = run->t_s,
				 .auth_ms = NAN};

	if (v->path == MX_PATH_NONE) {
		snprintf(reason, sizeof(reason), "%s%s", v->why,
			 run->timed_out ? " (stopped at the timeout)" : "");
		at.reason = reason;
	}
	return results_add_exit_attempt(r, &at, run->exit_a, run->exit_b);
}

long mx_results_add(struct results *r, const struct mx_plan *p, const struct topo *t,
		    const char *dir, const struct mx_run *runs, struct mx_cell *cells, char *err,
		    size_t errlen)
{
	struct in_addr turn = {0};
	struct mx_judge *j;
	struct mx_verdict v;
	long n = 0;

	inet_pton(AF_INET, MX_TURN_ADDR, &turn);
	j = mx_judge_load(dir, t, turn.s_addr, p->turn ? MX_TURN_PORT : 0, err, errlen);
	if (!j)
		return -1;
	for (size_t i = 0; i < p->n_pairs; i++) {
		const struct mx_pair *q = &p->pairs[i];
		int ha = topo_host_find(t, p->hosts[q->a].name);
		int hb = topo_host_find(t, p->hosts[q->b].name);

		if (!runs[i].ran)
			continue;
		if (ha < 0 || hb < 0) {
			snprintf(err, errlen, "%s: not in the topology", q->name);
			mx_judge_free(j);
			return -1;
		}
		mx_judge_pair(j, ha, hb, runs[i].t0_ns, runs[i].t1_ns + MX_TAIL_NS, &v);
		if (mx_add(r, p, q, &runs[i], &v) < 0) {
			snprintf(err, errlen, "%s: cannot add its result", q->name);
			mx_judge_free(j);
			return -1;
		}
		cells[n++] = (struct mx_cell){.row = p->hosts[q->a].label,
					      .col = p->hosts[q->b].label,
					      .path = mx_path_name(v.path),
					      .pair = q->name};
	}
	mx_judge_free(j);
	return n;
}
