/* natbed check: the rows of the table, the violations each found, and the
 * verdict. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "check_int.h"
#include "natbed/strcopy.h"

#define CK_SEEN_MAX	 160
#define CK_TEXT_MAX	 512
#define CK_KEPT_MAX	 200 /* violations kept a row; the rest are counted */
#define CK_SUBJECT_MAX	 (TOPO_NAME_MAX + 8)
#define CK_CHECK_MAX	 16
#define CK_VERDICT_NAMES 4 /* failed rows the summary names */

struct ck_row {
	char subject[CK_SUBJECT_MAX], check[CK_CHECK_MAX];
	enum ck_status status;
	char seen[CK_SEEN_MAX];
	unsigned long n_viol;
	char **viol; /* the first CK_KEPT_MAX */
	size_t n_kept;
};

struct ck_report {
	struct ck_row *rows;
	size_t n, cap;
	bool muted; /* ck_report_mute: violations are not judged now */
};

const char *ck_addr_str(uint32_t a, char *buf)
{
	inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
	return buf;
}

const char *ck_ep_str(struct ck_ep e, char *buf)
{
	char a[INET_ADDRSTRLEN];

	snprintf(buf, CK_EP_STR, "%s:%u", ck_addr_str(e.addr, a), e.port);
	return buf;
}

const char *ck_proto_name(uint8_t proto)
{
	switch (proto) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	}
	return "ip";
}

struct ck_report *ck_report_new(void)
{
	return calloc(1, sizeof(struct ck_report));
}

void ck_report_free(struct ck_report *r)
{
	size_t i, k;

	if (!r)
		return;
	for (i = 0; i < r->n; i++) {
		for (k = 0; k < r->rows[i].n_kept; k++)
			free(r->rows[i].viol[k]);
		free(r->rows[i].viol);
	}
	free(r->rows);
	free(r);
}

int ck_row(struct ck_report *r, const char *subject, const char *check)
{
	struct ck_row *n;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 32;
		if (!(n = realloc(r->rows, r->cap * sizeof(*n))))
			return -1;
		r->rows = n;
	}
	n = &r->rows[r->n];
	memset(n, 0, sizeof(*n));
	str_copy(n->subject, sizeof(n->subject), subject);
	str_copy(n->check, sizeof(n->check), check);
	return (int)r->n++;
}

static struct ck_row *row_at(const struct ck_report *r, int row)
{
	return row >= 0 && (size_t)row < r->n ? &r->rows[row] : NULL;
}

void ck_row_seen(struct ck_report *r, int row, const char *fmt, ...)
{
	struct ck_row *w = row_at(r, row);
	va_list ap;

	if (!w)
		return;
	va_start(ap, fmt);
	vsnprintf(w->seen, sizeof(w->seen), fmt, ap);
	va_end(ap);
}

void ck_row_skip(struct ck_report *r, int row, const char *fmt, ...)
{
	struct ck_row *w = row_at(r, row);
	va_list ap;

	if (!w)
		return;
	w->status = CK_SKIP;
	va_start(ap, fmt);
	vsnprintf(w->seen, sizeof(w->seen), fmt, ap);
	va_end(ap);
}

void ck_report_mute(struct ck_report *r, bool muted)
{
	r->muted = muted;
}

void ck_violation(struct ck_report *r, int row, const struct ck_ref *refs, size_t n_refs,
		  const char *fmt, ...)
{
	struct ck_row *w = row_at(r, row);
	char text[CK_TEXT_MAX], **n;
	size_t i, used = 0;
	va_list ap;

	if (!w || r->muted)
		return;
	w->status = CK_FAIL;
	if (w->n_viol++ >= CK_KEPT_MAX)
		return;
	for (i = 0; i < n_refs && used < sizeof(text); i++)
		if (refs[i].file)
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s #%u",
						 used ? ", " : "", refs[i].file, refs[i].no);
	if (used && used < sizeof(text))
		used += (size_t)snprintf(text + used, sizeof(text) - used, ": ");
	if (used < sizeof(text)) {
		va_start(ap, fmt);
		vsnprintf(text + used, sizeof(text) - used, fmt, ap);
		va_end(ap);
	}
	if (!(n = realloc(w->viol, (w->n_kept + 1) * sizeof(*n))))
		return;
	w->viol = n;
	if ((w->viol[w->n_kept] = strdup(text)))
		w->n_kept++;
}

unsigned long ck_row_violations(const struct ck_report *r, int row)
{
	const struct ck_row *w = row_at(r, row);

	return w ? w->n_viol : 0;
}

static const char *status_name(enum ck_status s)
{
	return s == CK_PASS ? "pass" : s == CK_FAIL ? "FAIL" : "skip";
}

void ck_report_print(const struct ck_report *r, FILE *f, const char *title, unsigned listed)
{
	struct check_verdict v;
	size_t i, k, subj = 7;

	for (i = 0; i < r->n; i++)
		if (strlen(r->rows[i].subject) > subj)
			subj = strlen(r->rows[i].subject);
	fprintf(f, "%s\n\n%-*s  %-11s %-6s %s\n", title, (int)subj, "SUBJECT", "CHECK", "RESULT",
		"WHAT WAS CHECKED");
	for (i = 0; i < r->n; i++)
		fprintf(f, "%-*s  %-11s %-6s %s\n", (int)subj, r->rows[i].subject, r->rows[i].check,
			status_name(r->rows[i].status), r->rows[i].seen);
	ck_report_verdict(r, &v);
	if (v.n_violations) {
		fprintf(f, "\nviolations:\n");
		for (i = 0; i < r->n; i++) {
			const struct ck_row *w = &r->rows[i];

			for (k = 0; k < w->n_kept && k < listed; k++)
				fprintf(f, "  %s %s: %s\n", w->subject, w->check, w->viol[k]);
			if (w->n_viol > k)
				fprintf(f, "  %s %s: ... and %lu more\n", w->subject, w->check,
					w->n_viol - k);
		}
	}
	fprintf(f, "\n%s\n", v.summary);
}

void ck_report_verdict(const struct ck_report *r, struct check_verdict *v)
{
	size_t i, named = 0, used;

	memset(v, 0, sizeof(*v));
	for (i = 0; i < r->n; i++) {
		v->n_checks++;
		v->n_violations += r->rows[i].n_viol;
		if (r->rows[i].status == CK_FAIL)
			v->n_failed++;
		else if (r->rows[i].status == CK_SKIP)
			v->n_skipped++;
	}
	v->passed = v->n_violations == 0;
	if (v->passed) {
		snprintf(v->summary, sizeof(v->summary), "pass: %u checks, %u skipped", v->n_checks,
			 v->n_skipped);
		return;
	}
	used = (size_t)snprintf(v->summary, sizeof(v->summary),
				"FAIL: %lu violation%s in %u of %u checks:", v->n_violations,
				v->n_violations == 1 ? "" : "s", v->n_failed, v->n_checks);
	for (i = 0; i < r->n && used < sizeof(v->summary); i++) {
		if (r->rows[i].status != CK_FAIL)
			continue;
		if (named++ == CK_VERDICT_NAMES) {
			snprintf(v->summary + used, sizeof(v->summary) - used, " ...");
			break;
		}
		used +=
		    (size_t)snprintf(v->summary + used, sizeof(v->summary) - used, "%s %s %s",
				     named > 1 ? "," : "", r->rows[i].subject, r->rows[i].check);
	}
}
