#include "port.h"

#include <linux/if_packet.h>
#include <string.h>
#include <sys/socket.h>
#include <errno.h>
#include <unistd.h>

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

int port_open(struct port *p, const char *ifname, const struct port_backend *be)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->be = be;
	if (strlen(ifname) >= sizeof(p->ifname))
		return -ENAMETOOLONG;
	strcpy(p->ifname, ifname);
	return be->open(p);
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
