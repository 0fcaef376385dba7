#include "port.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One thread per port up to this many; each thread spends its life asleep
 * in the kernel, waiting for grace periods, so they cost little CPU. */
#define PORT_THREADS_MAX  1024
#define PORT_THREAD_STACK (128 * 1024)

/* The packet I/O backends, found by name. Adding one is a file and a line. */
static const struct port_backend *const port_backends[] = {
    &port_backend_packet,
    &port_backend_ring,
};

const struct port_backend *port_backend_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(port_backends) / sizeof(port_backends[0]); i++)
		if (strcmp(port_backends[i]->name, name) == 0)
			return port_backends[i];
	return NULL;
}

int port_init(struct port *p, const char *ifname, const struct port_backend *be)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->be = be;
	if (strlen(ifname) >= sizeof(p->ifname))
		return -ENAMETOOLONG;
	strcpy(p->ifname, ifname);
	return 0;
}

/* The same job on every port, spread over threads that take the next port
 * until none is left. */
struct port_batch {
	struct port *ports;
	int *rc; /* per port, NULL when the job returns nothing */
	size_t n;
	size_t next; /* atomic */
	int (*job)(struct port *p);
};

static void *port_batch_worker(void *arg)
{
	struct port_batch *b = arg;
	size_t i;
	int rc;

	while ((i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED)) < b->n) {
		rc = b->job(&b->ports[i]);
		if (b->rc)
			b->rc[i] = rc;
	}
	return NULL;
}

/* Runs b to the end. Threads that cannot be created leave their share to
 * the others and to the calling thread, which works too. */
static void port_batch_run(struct port_batch *b)
{
	size_t want = b->n > PORT_THREADS_MAX ? PORT_THREADS_MAX : b->n, k, started = 0;
	pthread_t *tids = want > 1 ? calloc(want - 1, sizeof(*tids)) : NULL;
	pthread_attr_t attr;

	if (tids && pthread_attr_init(&attr) == 0) {
		pthread_attr_setstacksize(&attr, PORT_THREAD_STACK);
		for (k = 0; k + 1 < want; k++) {
			if (pthread_create(&tids[started], &attr, port_batch_worker, b) != 0)
				break;
			started++;
		}
		pthread_attr_destroy(&attr);
	}
	port_batch_worker(b);
	for (k = 0; k < started; k++)
		pthread_join(tids[k], NULL);
	free(tids);
}

static int port_open_job(struct port *p)
{
	return p->be->open(p);
}

int port_open_all(struct port *ports, size_t n, size_t *failed)
{
	struct port_batch b = {ports, calloc(n ? n : 1, sizeof(int)), n, 0, port_open_job};
	size_t i;
	int rc = 0;

	if (!b.rc)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		ports[i].ring_bytes = PORT_RING_BUDGET / n;
	port_batch_run(&b);
	for (i = 0; i < n && rc == 0; i++) {
		if (b.rc[i] < 0) {
			rc = b.rc[i];
			*failed = i;
		}
	}
	free(b.rc);
	return rc;
}

static int port_close_job(struct port *p)
{
	port_close(p);
	return 0;
}

void port_close_all(struct port *ports, size_t n)
{
	struct port_batch b = {ports, NULL, n, 0, port_close_job};
	size_t i, open = 0;

	for (i = 0; i < n; i++)
		open += ports[i].be && ports[i].fd >= 0;
	if (open > 1)
		port_batch_run(&b);
	else
		for (i = 0; i < n; i++)
			port_close(&ports[i]);
}

void port_packet_kernel_drops(struct port *p)
{
	struct tpacket_stats st;
	socklen_t len = sizeof(st);

	/* Reading the statistics resets them: add, don't assign. */
	if (getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		p->c.drops[DROP_KERNEL] += st.tp_drops;
}

void port_close(struct port *p)
{
	if (p->be && p->fd >= 0)
		p->be->close(p);
	p->fd = -1;
}
