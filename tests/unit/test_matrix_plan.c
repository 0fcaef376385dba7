/* natbed matrix's plan (cli/matrix_plan.c): the hosts, the pairs and the
 * topology it generates, which natbed's own loader must accept. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matrix_plan.h"

/* The plan's topology, loaded as natbed up would (the tests' prefix
 * length: six characters). */
static struct topo *load(const struct mx_plan *p)
{
	char *buf = NULL, err[TOPO_ERR_MAX];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct topo *t = NULL;

	assert_non_null(f);
	assert_int_equal(mx_plan_yaml(p, f), 0);
	fclose(f);
	if (topo_load_string(buf, len, "topology.yaml", "t1234-", &t, err, sizeof(err)) < 0)
		fail_msg("%s\n%s", err, buf);
	free(buf);
	return t;
}

static const struct mx_pair *pair(const struct mx_plan *p, const char *name)
{
	for (size_t i = 0; i < p->n_pairs; i++)
		if (strcmp(p->pairs[i].name, name) == 0)
			return &p->pairs[i];
	return NULL;
}

static void test_every_preset(void **state)
{
	struct mx_plan p;
	struct topo *t;
	char err[256];
	size_t n = 0, i;
	int h;

	(void)state;
	while (topo_nat_preset_name(n))
		n++;
	assert_int_equal(mx_plan_build(NULL, true, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n_hosts, n + 3); /* + pub, lan1, lan2 */
	assert_int_equal(p.n_pairs, (n + 1) * n / 2 + 1);
	assert_int_equal(p.n_labels, n + 2);
	for (i = 0; i < n; i++)
		assert_string_equal(p.labels[i], topo_nat_preset_name(i));
	assert_string_equal(p.labels[n], MX_LABEL_PUB);
	assert_string_equal(p.labels[n + 1], MX_LABEL_LAN);
	assert_non_null(pair(&p, "fc-sym"));
	assert_non_null(pair(&p, "pr-lm"));
	assert_non_null(pair(&p, "lm-pub"));
	assert_non_null(pair(&p, "lan1-lan2"));
	assert_null(pair(&p, "sym-fc")); /* the first in the table offers */
	assert_null(pair(&p, "fc-lan1"));
	t = load(&p);
	for (i = 0; i < p.n_hosts; i++) {
		const struct mx_host *mh = &p.hosts[i];

		assert_true((h = topo_host_find(t, mh->name)) >= 0);
		if (!mh->nat[0]) {
			assert_int_equal(t->hosts[h].nat, -1);
			continue;
		}
		assert_string_equal(t->nats[t->hosts[h].nat].name, mh->nat);
		if (strcmp(mh->label, MX_LABEL_LAN) != 0)
			assert_string_equal(t->nats[t->hosts[h].nat].preset, mh->label);
	}
	assert_int_equal(t->hosts[topo_host_find(t, "lan1")].nat,
			 t->hosts[topo_host_find(t, "lan2")].nat);
	assert_true(topo_host_find(t, "stun") >= 0);
	assert_true(topo_host_find(t, "turn") >= 0);
	assert_non_null(strstr(t->hosts[topo_host_find(t, "turn")].run, "-u natbed:matrix"));
	topo_free(t);
	assert_string_equal(mx_plan_stun(), "198.51.100.10:3478");
	assert_string_equal(mx_plan_turn(&p), "198.51.100.50:3478");
	mx_plan_free(&p);
}

static void test_some_presets_no_turn(void **state)
{
	struct mx_plan p;
	struct topo *t;
	char err[256];

	(void)state;
	/* named in any order, planned in the table's */
	assert_int_equal(mx_plan_build("symmetric,full-cone", false, &p, err, sizeof(err)), 0);
	assert_int_equal(p.n_hosts, 5);
	assert_string_equal(p.hosts[0].name, "fc");
	assert_string_equal(p.hosts[1].name, "sym");
	assert_string_equal(p.hosts[1].label, "symmetric");
	assert_string_equal(p.hosts[2].name, "pub");
	assert_int_equal(p.n_pairs, 4);
	assert_string_equal(p.pairs[0].name, "fc-sym");
	assert_string_equal(p.pairs[1].name, "fc-pub");
	assert_string_equal(p.pairs[2].name, "sym-pub");
	assert_string_equal(p.pairs[3].name, "lan1-lan2");
	t = load(&p);
	assert_int_equal(topo_host_find(t, "turn"), -1);
	assert_int_equal(topo_host_find(t, "pr"), -1);
	topo_free(t);
	assert_string_equal(mx_plan_turn(&p), "");
	mx_plan_free(&p);
}

static void test_bad_nats(void **state)
{
	struct mx_plan p;
	char err[512];

	(void)state;
	assert_int_equal(mx_plan_build("full-cone,cone", true, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'cone' is no NAT preset"));
	assert_non_null(strstr(err, "symmetric-sequential"));
	assert_int_equal(mx_plan_build("symmetric,symmetric", true, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "named twice"));
	assert_int_equal(mx_plan_build(",", true, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no preset"));
	mx_plan_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_preset),
	    cmocka_unit_test(test_some_presets_no_turn),
	    cmocka_unit_test(test_bad_nats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
