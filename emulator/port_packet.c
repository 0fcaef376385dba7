/* The "packet" backend: an AF_PACKET raw socket per interface, batched with
 * recvmmsg/sendmmsg. PACKET_AUXDATA tells which frames carry an unfinished
 * checksum (TP_STATUS_CSUMNOTREADY); the fabric finishes them. */
#include "port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "natbed/strcopy.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define PORT_PACKET_SOCKBUF (4 * 1024 * 1024)

static int packet_mac(int fd, const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	str_copy(ifr.ifr_name, sizeof(ifr.ifr_name), ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		return -errno;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

static void packet_bufs(int fd)
{
	int sz = PORT_PACKET_SOCKBUF;

	/* FORCE variants pass rmem_max as root; fall back quietly otherwise. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int packet_open(struct port *p)
{
	struct sockaddr_ll sll;
	int one = 1, fd, err;

	p->ifindex = (int)if_nametoindex(p->ifname);
	if (p->ifindex == 0)
		return -ENODEV;
	/* Protocol 0 receives nothing until bind() names the interface, so no
	 * frame of another interface slips in between socket() and bind(). */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if ((err = packet_mac(fd, p->ifname, p->mac)) < 0)
		goto fail;
	if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) < 0) {
		err = -errno;
		goto fail;
	}
	/* Our own transmissions would loop back in; older kernels lack the
	 * option, and recv also skips PACKET_OUTGOING for them. */
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	/* Frames go straight to the driver: the fabric side has no qdisc to honour. */
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	packet_bufs(fd);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = p->ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		err = -errno;
		goto fail;
	}
	p->fd = fd;
	return 0;
fail:
	close(fd);
	return err;
}

static uint32_t packet_aux_status(struct msghdr *mh)
{
	struct cmsghdr *cm;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_PACKET && cm->cmsg_type == PACKET_AUXDATA &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
			struct tpacket_auxdata aux;

			memcpy(&aux, CMSG_DATA(cm), sizeof(aux));
			return aux.tp_status;
		}
	}
	return 0;
}

static int packet_recv(struct port *p, struct pkt_pool *pool, struct pkt **out, int max)
{
	struct mmsghdr mm[PORT_BATCH];
	struct iovec iov[PORT_BATCH];
	struct sockaddr_ll from[PORT_BATCH];
	char ctl[PORT_BATCH][CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	int n, i, got = 0, k;

	if (max > PORT_BATCH)
		max = PORT_BATCH;
	for (n = 0; n < max; n++) {
		out[n] = pkt_get(pool);
		if (!out[n])
			break;
		iov[n].iov_base = out[n]->data;
		iov[n].iov_len = PKT_MAX_FRAME;
		memset(&mm[n], 0, sizeof(mm[n]));
		mm[n].msg_hdr.msg_iov = &iov[n];
		mm[n].msg_hdr.msg_iovlen = 1;
		mm[n].msg_hdr.msg_name = &from[n];
		mm[n].msg_hdr.msg_namelen = sizeof(from[n]);
		mm[n].msg_hdr.msg_control = ctl[n];
		mm[n].msg_hdr.msg_controllen = sizeof(ctl[n]);
	}
	if (n == 0) {
		/* No buffer: take one frame off the socket and count it, so a full
		 * pool never spins the loop on a readable socket. */
		char sink[64];

		if (recv(p->fd, sink, sizeof(sink), MSG_TRUNC) >= 0)
			port_drop(p, DROP_POOL_EXHAUSTED);
		return 0;
	}
	k = recvmmsg(p->fd, mm, (unsigned)n, MSG_DONTWAIT, NULL);
	if (k < 0) {
		k = (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
		for (i = 0; i < n; i++)
			pkt_put(pool, out[i]);
		return k;
	}
	for (i = 0; i < k; i++) {
		struct pkt *pk = out[i];

		if (from[i].sll_pkttype == PACKET_OUTGOING) {
			pkt_put(pool, pk);
			continue;
		}
		p->c.rx_pkts++;
		p->c.rx_bytes += mm[i].msg_len;
		if (mm[i].msg_hdr.msg_flags & MSG_TRUNC) {
			port_drop(p, DROP_TOO_BIG);
			pkt_put(pool, pk);
			continue;
		}
		pk->len = mm[i].msg_len;
		pk->in_port = p->index;
		if (packet_aux_status(&mm[i].msg_hdr) & TP_STATUS_CSUMNOTREADY)
			pk->flags |= PKT_F_CSUM_PARTIAL;
		out[got++] = pk;
	}
	for (i = k; i < n; i++)
		pkt_put(pool, out[i]);
	return got;
}

static int packet_send(struct port *p, struct pkt **pkts, int n)
{
	struct mmsghdr mm[PORT_BATCH];
	struct iovec iov[PORT_BATCH];
	int i, k;

	if (n > PORT_BATCH)
		n = PORT_BATCH;
	for (i = 0; i < n; i++) {
		iov[i].iov_base = pkts[i]->data;
		iov[i].iov_len = pkts[i]->len;
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	k = sendmmsg(p->fd, mm, (unsigned)n, MSG_DONTWAIT);
	if (k < 0)
		return -errno;
	return k;
}

static void packet_close(struct port *p)
{
	close(p->fd);
}

const struct port_backend port_backend_packet = {
    .name = "packet",
    .open = packet_open,
    .recv = packet_recv,
    .send = packet_send,
    .kernel_drops = port_packet_kernel_drops,
    .close = packet_close,
};
