/* The "ring" backend: AF_PACKET with PACKET_MMAP rings (TPACKET_V2, one
 * frame per packet, no block time-out to add latency). Receiving reads
 * frames the kernel filled in shared memory without a system call per
 * batch; sending fills the tx ring and kicks it once per batch.
 *
 * Ring memory is the kernel's own (never swapped out: MAP_LOCKED would
 * change nothing) and each port gets its share of PORT_RING_BUDGET
 * (port->ring_bytes): the full 2048 + 512 frames (5 MB) for a topology of a
 * dozen ports, 256 + 64 at 100, the floor of 64 + 32 from about 330 ports.
 *
 * TPACKET_V3 would pack small frames tighter (a block holds frames of any
 * size), but the kernel hands a V3 block to user space only once it is full
 * or its retire timer (whole milliseconds) fires: at the packet rates of a
 * many-host topology every packet would wait up to that long, a delay no
 * link asked for. V2 hands over each frame as it lands. */
#include "port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "natbed/strcopy.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define RING_FRAME_SIZE	  2048	    /* one frame per packet, MTU 1500 fits */
#define RING_BLOCK_SIZE	  (1 << 16) /* 32 frames per block */
#define RING_BLOCK_FRAMES (RING_BLOCK_SIZE / RING_FRAME_SIZE)
#define RING_RX_MAX	  2048 /* 4 MB of receive ring per port */
#define RING_TX_MAX	  512  /* 1 MB of send ring per port */
#define RING_RX_MIN	  64   /* a burst of a few batches still fits */
#define RING_TX_MIN	  32
/* Where a frame's data starts in a tx slot (see packet_mmap.rst). */
#define RING_TX_DATA (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))

struct ring_state {
	uint8_t *map;
	size_t map_len;
	uint8_t *rx, *tx;
	unsigned rx_nr, tx_nr; /* frames in each ring */
	unsigned rx_next, tx_next;
};

static struct tpacket2_hdr *ring_frame(uint8_t *ring, unsigned i)
{
	return (struct tpacket2_hdr *)(ring + (size_t)i * RING_FRAME_SIZE);
}

/* frames rounded down to whole blocks, within [lo, hi]. */
static unsigned ring_clamp(size_t frames, unsigned lo, unsigned hi)
{
	frames -= frames % RING_BLOCK_FRAMES;
	return frames < lo ? lo : frames > hi ? hi : (unsigned)frames;
}

/* A ring of nr frames, in whole blocks. */
static struct tpacket_req ring_req(unsigned nr)
{
	struct tpacket_req r = {RING_BLOCK_SIZE, nr / RING_BLOCK_FRAMES, RING_FRAME_SIZE, nr};

	return r;
}

/* Four fifths of the port's memory receive, one fifth sends: a receive
 * ring absorbs bursts while the loop is busy, a send ring is kicked each
 * batch. */
static int ring_setup(int fd, size_t budget, struct ring_state *rs)
{
	size_t frames = (budget ? budget : (size_t)-1) / RING_FRAME_SIZE;
	struct tpacket_req rx, tx;
	int v = TPACKET_V2;

	rs->rx_nr = ring_clamp(frames / 5 * 4, RING_RX_MIN, RING_RX_MAX);
	rs->tx_nr = ring_clamp(frames / 5, RING_TX_MIN, RING_TX_MAX);
	rx = ring_req(rs->rx_nr);
	tx = ring_req(rs->tx_nr);

	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof(rx)) < 0 ||
	    setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof(tx)) < 0)
		return -errno;
	rs->map_len = (size_t)(rs->rx_nr + rs->tx_nr) * RING_FRAME_SIZE;
	rs->map = mmap(NULL, rs->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rs->map == MAP_FAILED) {
		rs->map = NULL;
		return -errno;
	}
	rs->rx = rs->map;
	rs->tx = rs->map + (size_t)rs->rx_nr * RING_FRAME_SIZE;
	return 0;
}

static int ring_open(struct port *p)
{
	struct sockaddr_ll sll;
	struct ifreq ifr;
	struct ring_state *rs;
	int one = 1, fd, err;

	p->ifindex = (int)if_nametoindex(p->ifname);
	if (p->ifindex == 0)
		return -ENODEV;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	/* Protocol 0 until bind(): no frame of another interface slips in. */
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(rs);
		return -errno;
	}
	memset(&ifr, 0, sizeof(ifr));
	str_copy(ifr.ifr_name, sizeof(ifr.ifr_name), p->ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		err = -errno;
		goto fail;
	}
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	if ((err = ring_setup(fd, p->ring_bytes, rs)) < 0)
		goto fail;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = p->ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		err = -errno;
		goto fail;
	}
	p->fd = fd;
	p->be_ring = rs;
	return 0;
fail:
	if (rs->map)
		munmap(rs->map, rs->map_len);
	free(rs);
	close(fd);
	return err;
}

static int ring_recv(struct port *p, struct pkt_pool *pool, struct pkt **out, int max)
{
	struct ring_state *rs = p->be_ring;
	int got = 0;

	while (got < max) {
		struct tpacket2_hdr *h = ring_frame(rs->rx, rs->rx_next);
		const struct sockaddr_ll *sll;
		struct pkt *pk;

		if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
			break;
		sll = (const struct sockaddr_ll *)((uint8_t *)h + TPACKET_ALIGN(sizeof(*h)));
		if (sll->sll_pkttype != PACKET_OUTGOING) {
			p->c.rx_pkts++;
			p->c.rx_bytes += h->tp_len;
			pk = h->tp_snaplen == h->tp_len && h->tp_len <= PKT_MAX_FRAME
				 ? pkt_get(pool)
				 : NULL;
			if (!pk) {
				port_drop(p, h->tp_len > PKT_MAX_FRAME || h->tp_snaplen != h->tp_len
						 ? DROP_TOO_BIG
						 : DROP_POOL_EXHAUSTED);
			} else {
				memcpy(pk->data, (uint8_t *)h + h->tp_mac, h->tp_snaplen);
				pk->len = h->tp_snaplen;
				pk->in_port = p->index;
				if (h->tp_status & TP_STATUS_CSUMNOTREADY)
					pk->flags |= PKT_F_CSUM_PARTIAL;
				out[got++] = pk;
			}
		}
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		rs->rx_next = (rs->rx_next + 1) % rs->rx_nr;
	}
	return got;
}

static int ring_ready(struct port *p)
{
	struct ring_state *rs = p->be_ring;

	return (__atomic_load_n(&ring_frame(rs->rx, rs->rx_next)->tp_status, __ATOMIC_ACQUIRE) &
		TP_STATUS_USER) != 0;
}

static int ring_send(struct port *p, struct pkt **pkts, int n)
{
	struct ring_state *rs = p->be_ring;
	int i;

	for (i = 0; i < n; i++) {
		struct tpacket2_hdr *h = ring_frame(rs->tx, rs->tx_next);

		if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE)
			break; /* ring full: the caller counts the rest */
		memcpy((uint8_t *)h + RING_TX_DATA, pkts[i]->data, pkts[i]->len);
		h->tp_len = (uint32_t)pkts[i]->len;
		__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
		rs->tx_next = (rs->tx_next + 1) % rs->tx_nr;
	}
	if (i > 0 && send(p->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS)
		return -errno;
	return i;
}

static void ring_close(struct port *p)
{
	struct ring_state *rs = p->be_ring;

	if (rs) {
		munmap(rs->map, rs->map_len);
		free(rs);
		p->be_ring = NULL;
	}
	close(p->fd);
}

const struct port_backend port_backend_ring = {
    .name = "ring",
    .open = ring_open,
    .recv = ring_recv,
    .send = ring_send,
    .ready = ring_ready,
    .kernel_drops = port_packet_kernel_drops,
    .close = ring_close,
};
