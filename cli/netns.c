/* netns: named network namespaces, veths, addresses, routes, sysctls and
 * offloads, through libnl and a few syscalls. See netns.h for the contracts.
 */
#include "netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* The namespace of the calling thread, not of the thread group leader. */
#define NETNS_SELF "/proc/thread-self/ns/net"

static void set_err(struct netns_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(struct netns_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

/* A system call's result as 0 or -errno. */
static int neg_errno(int r)
{
	return r < 0 ? -errno : 0;
}

/* A name is one path component under /run/netns. */
static int ns_path(const char *name, char *path, size_t len)
{
	int n;

	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	n = snprintf(path, len, "%s/%s", NETNS_RUN_DIR, name);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* --- running code inside a namespace --------------------------------- */

struct ns_hop {
	int nsfd;
	netns_fn fn;
	void *arg;
	int rc;
	bool entered;
};

static void *ns_hop_main(void *p)
{
	struct ns_hop *h = p;

	if (setns(h->nsfd, CLONE_NEWNET) < 0) {
		h->rc = -errno;
		return NULL;
	}
	h->entered = true;
	h->rc = h->fn(h->arg);
	return NULL;
}

/* fn(arg) on a thread inside nsfd (nsfd < 0: on the caller's thread, here).
 * The thread dies with its namespace switch; the caller never moves. */
static int ns_hop(int nsfd, netns_fn fn, void *arg, bool *entered)
{
	struct ns_hop h = {.nsfd = nsfd, .fn = fn, .arg = arg};
	pthread_t t;
	int rc;

	if (nsfd < 0) {
		*entered = true;
		return fn(arg);
	}
	rc = pthread_create(&t, NULL, ns_hop_main, &h);
	if (rc)
		return -rc;
	pthread_join(t, NULL);
	*entered = h.entered;
	return h.rc;
}

int netns_enter(int fd)
{
	return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

int netns_open(const char *name, struct netns_err *err)
{
	char path[PATH_MAX];
	int rc, fd;

	rc = ns_path(name, path, sizeof(path));
	if (rc < 0) {
		set_err(err, "netns %s: bad name", name ? name : "(null)");
		return rc;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		set_err(err, "netns %s: open %s: %s", name, path, strerror(-rc));
		return rc;
	}
	return fd;
}

int netns_run(const char *name, netns_fn fn, void *arg, struct netns_err *err)
{
	bool entered = false;
	int fd, rc;

	fd = netns_open(name, err);
	if (fd < 0)
		return fd;
	rc = ns_hop(fd, fn, arg, &entered);
	if (!entered)
		set_err(err, "netns %s: setns: %s", name, strerror(-rc));
	close(fd);
	return rc;
}

/* --- creating and deleting namespaces -------------------------------- */

/* iproute2's convention: /run/netns is a mount point with shared
 * propagation, so a namespace unbound here is unbound in every mount
 * namespace that copied it (ip netns exec makes one), and can be freed. The
 * flock serialises this with other natbed and ip processes: two binding the
 * directory onto itself at once would stack mounts. */
static int run_dir_prepare(struct netns_err *err)
{
	const char *step;
	int lock, rc = 0;

	if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		set_err(err, "mkdir %s: %s", NETNS_RUN_DIR, strerror(-rc));
		return rc;
	}
	lock = open(NETNS_RUN_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0) {
		rc = -errno;
		set_err(err, "open %s: %s", NETNS_RUN_DIR, strerror(-rc));
		return rc;
	}
	if (flock(lock, LOCK_EX) < 0) {
		rc = -errno;
		set_err(err, "flock %s: %s", NETNS_RUN_DIR, strerror(-rc));
		goto cleanup;
	}
	step = "--make-rshared";
	rc = neg_errno(mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL));
	if (rc == -EINVAL) {
		/* not a mount point yet: make it one by binding it onto itself */
		step = "--rbind";
		rc = neg_errno(mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL));
		if (rc == 0) {
			step = "--make-rshared";
			rc = neg_errno(mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL));
		}
	}
	if (rc < 0)
		set_err(err, "mount %s %s: %s", step, NETNS_RUN_DIR, strerror(-rc));
cleanup:
	close(lock);
	return rc;
}

struct ns_birth {
	const char *path;
	int rc;
	const char *step;
};

static void *ns_birth_main(void *p)
{
	struct ns_birth *b = p;

	b->step = "unshare(CLONE_NEWNET)";
	if (unshare(CLONE_NEWNET) < 0) {
		b->rc = -errno;
		return NULL;
	}
	b->step = "bind mount";
	if (mount(NETNS_SELF, b->path, "none", MS_BIND, NULL) < 0) {
		b->rc = -errno;
		return NULL;
	}
	b->rc = 0;
	return NULL;
}

int netns_create(const char *name, struct netns_err *err)
{
	char path[PATH_MAX];
	struct ns_birth b = {.path = path};
	pthread_t t;
	int rc, fd;

	rc = ns_path(name, path, sizeof(path));
	if (rc < 0) {
		set_err(err, "netns %s: bad name", name ? name : "(null)");
		return rc;
	}
	rc = run_dir_prepare(err);
	if (rc < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		set_err(err, "netns %s: create %s: %s", name, path, strerror(-rc));
		return rc;
	}
	close(fd);
	/* The new namespace lives on a thread that dies right after binding it,
	 * so the caller's thread never leaves its own. */
	rc = pthread_create(&t, NULL, ns_birth_main, &b);
	if (rc) {
		rc = -rc;
		b.step = "pthread_create";
	} else {
		pthread_join(t, NULL);
		rc = b.rc;
	}
	if (rc < 0) {
		set_err(err, "netns %s: %s: %s", name, b.step, strerror(-rc));
		unlink(path);
	}
	return rc;
}

int netns_delete(const char *name, struct netns_err *err)
{
	char path[PATH_MAX];
	int rc;

	rc = ns_path(name, path, sizeof(path));
	if (rc < 0) {
		set_err(err, "netns %s: bad name", name ? name : "(null)");
		return rc;
	}
	/* EINVAL: a file left unbound by a crash; remove it all the same */
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL) {
		rc = -errno;
		set_err(err, "netns %s: umount %s: %s", name, path, strerror(-rc));
		return rc;
	}
	if (unlink(path) < 0) {
		rc = -errno;
		set_err(err, "netns %s: unlink %s: %s", name, path, strerror(-rc));
		return rc;
	}
	return 0;
}

int netns_exists(const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (ns_path(name, path, sizeof(path)) < 0)
		return 0;
	return stat(path, &st) == 0;
}

int netns_list_prefix(const char *prefix, netns_list_fn cb, void *arg)
{
	size_t plen = strlen(prefix);
	struct dirent *de;
	int count = 0, rc = 0;
	DIR *dir;

	dir = opendir(NETNS_RUN_DIR);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, plen) != 0)
			continue;
		count++;
		rc = cb(de->d_name, arg);
		if (rc < 0)
			break;
	}
	closedir(dir);
	return rc < 0 ? rc : count;
}

int netns_kill_pids(const char *name, int sig, struct netns_err *err)
{
	char path[PATH_MAX], pidns[64];
	struct stat want, st;
	struct dirent *de;
	pid_t self = getpid();
	int count = 0, rc;
	DIR *dir;

	rc = ns_path(name, path, sizeof(path));
	if (rc < 0) {
		set_err(err, "netns %s: bad name", name ? name : "(null)");
		return rc;
	}
	if (stat(path, &want) < 0) {
		rc = -errno;
		set_err(err, "netns %s: stat %s: %s", name, path, strerror(-rc));
		return rc;
	}
	dir = opendir("/proc");
	if (!dir) {
		rc = -errno;
		set_err(err, "netns %s: opendir /proc: %s", name, strerror(-rc));
		return rc;
	}
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0 || pid == self)
			continue;
		snprintf(pidns, sizeof(pidns), "/proc/%ld/ns/net", pid);
		/* a process gone meanwhile is simply not there any more */
		if (stat(pidns, &st) < 0)
			continue;
		if (st.st_dev != want.st_dev || st.st_ino != want.st_ino)
			continue;
		if (kill((pid_t)pid, sig) == 0)
			count++;
	}
	closedir(dir);
	return count;
}

/* --- sysctl ----------------------------------------------------------- */

struct sysctl_req {
	const char *path;
	const char *value;
	const char *step;
};

static int sysctl_write(void *arg)
{
	struct sysctl_req *r = arg;
	size_t len = strlen(r->value);
	ssize_t n;
	int fd, rc = 0;

	r->step = "open";
	fd = open(r->path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r->step = "write";
	n = write(fd, r->value, len);
	if (n < 0)
		rc = -errno;
	else if ((size_t)n != len)
		rc = -EIO;
	close(fd);
	return rc;
}

int sysctl_set(const char *ns, const char *key, const char *value, struct netns_err *err)
{
	char path[PATH_MAX];
	struct sysctl_req r = {.path = path, .value = value, .step = "setns"};
	bool entered = false;
	int n, fd = -1, rc;

	n = snprintf(path, sizeof(path), "/proc/sys/%s", key);
	if (n < 0 || (size_t)n >= sizeof(path) || strstr(key, "..")) {
		set_err(err, "sysctl %s: bad key", key);
		return -EINVAL;
	}
	if (!strchr(key, '/')) {
		for (char *c = path + strlen("/proc/sys/"); *c; c++)
			if (*c == '.')
				*c = '/';
	}
	if (ns) {
		fd = netns_open(ns, err);
		if (fd < 0)
			return fd;
	}
	rc = ns_hop(fd, sysctl_write, &r, &entered);
	if (rc < 0)
		set_err(err, "netns %s: sysctl %s=%s: %s: %s", ns ? ns : "(self)", key, value,
			entered ? r.step : "setns", strerror(-rc));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* --- the context: sockets per namespace ------------------------------- */

struct netns_sock {
	char name[NAME_MAX + 1]; /* "" for the caller's own namespace */
	int nsfd;		 /* the namespace, held open */
	struct nl_sock *nl;	 /* rtnetlink, opened inside */
	int iofd;		 /* AF_INET datagram socket for ioctls, opened inside */
};

/* Feature bitmap words we handle: 4 x 32 bits; the kernel has about 70. */
#define NETNS_FEAT_WORDS 4

struct netns_ctx {
	struct netns_sock *sock;
	size_t n, cap;
	unsigned int feat_words;	  /* 0 until offload_mask() ran */
	__u32 feat_off[NETNS_FEAT_WORDS]; /* features offload_off() clears */
};

struct netns_ctx *netns_ctx_new(void)
{
	return calloc(1, sizeof(struct netns_ctx));
}

static void netns_sock_close(struct netns_sock *s)
{
	if (s->nl)
		nl_socket_free(s->nl);
	if (s->iofd >= 0)
		close(s->iofd);
	if (s->nsfd >= 0)
		close(s->nsfd);
}

void netns_ctx_free(struct netns_ctx *ctx)
{
	if (!ctx)
		return;
	for (size_t i = 0; i < ctx->n; i++)
		netns_sock_close(&ctx->sock[i]);
	free(ctx->sock);
	free(ctx);
}

void netns_ctx_forget(struct netns_ctx *ctx, const char *ns)
{
	const char *key = ns ? ns : "";

	for (size_t i = 0; i < ctx->n; i++) {
		if (strcmp(ctx->sock[i].name, key) != 0)
			continue;
		netns_sock_close(&ctx->sock[i]);
		ctx->sock[i] = ctx->sock[--ctx->n];
		return;
	}
}

/* Runs inside the namespace: sockets belong to the namespace they are
 * created in, whichever thread uses them later. */
static int netns_sock_open(void *arg)
{
	struct netns_sock *s = arg;
	int one = 1, rc;

	rc = nl_connect(s->nl, NETLINK_ROUTE);
	if (rc < 0)
		return -EPROTO;
	/* errors carry the kernel's text and not our request back */
	setsockopt(nl_socket_get_fd(s->nl), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(s->nl), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	s->iofd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return s->iofd < 0 ? -errno : 0;
}

static int ctx_get(struct netns_ctx *ctx, const char *ns, struct netns_sock **out,
		   struct netns_err *err)
{
	const char *key = ns ? ns : "";
	struct netns_sock s = {.nsfd = -1, .iofd = -1};
	bool entered = false;
	int rc;

	for (size_t i = 0; i < ctx->n; i++) {
		if (!strcmp(ctx->sock[i].name, key)) {
			*out = &ctx->sock[i];
			return 0;
		}
	}
	if (strlen(key) >= sizeof(s.name)) {
		set_err(err, "netns %s: name too long", key);
		return -ENAMETOOLONG;
	}
	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? 2 * ctx->cap : 16;
		struct netns_sock *p = realloc(ctx->sock, cap * sizeof(*p));

		if (!p) {
			set_err(err, "netns %s: out of memory", key);
			return -ENOMEM;
		}
		ctx->sock = p;
		ctx->cap = cap;
	}
	strcpy(s.name, key);
	if (ns) {
		s.nsfd = netns_open(ns, err);
	} else {
		s.nsfd = open(NETNS_SELF, O_RDONLY | O_CLOEXEC);
		if (s.nsfd < 0) {
			s.nsfd = -errno;
			set_err(err, "open %s: %s", NETNS_SELF, strerror(errno));
		}
	}
	if (s.nsfd < 0)
		return s.nsfd;
	s.nl = nl_socket_alloc();
	if (!s.nl) {
		rc = -ENOMEM;
		set_err(err, "netns %s: nl_socket_alloc: out of memory", key);
		goto fail;
	}
	rc = ns_hop(s.nsfd, netns_sock_open, &s, &entered);
	if (rc < 0) {
		set_err(err, "netns %s: %s: %s", ns ? ns : "(self)",
			entered ? "netlink/ioctl socket" : "setns", strerror(-rc));
		goto fail;
	}
	ctx->sock[ctx->n] = s;
	*out = &ctx->sock[ctx->n++];
	return 0;
fail:
	netns_sock_close(&s);
	return rc;
}

/* The sockets for ns and the index of ifname there, or -errno (-ENODEV if
 * absent), err naming `what` was being done. */
static int ctx_ifindex(struct netns_ctx *ctx, const char *ns, const char *ifname,
		       struct netns_sock **s, const char *what, struct netns_err *err)
{
	struct ifreq ifr = {0};
	int rc;

	rc = ctx_get(ctx, ns, s, err);
	if (rc < 0)
		return rc;
	if (strlen(ifname) >= sizeof(ifr.ifr_name)) {
		rc = -ENAMETOOLONG;
	} else {
		strcpy(ifr.ifr_name, ifname);
		rc = neg_errno(ioctl((*s)->iofd, SIOCGIFINDEX, &ifr));
	}
	if (rc < 0) {
		set_err(err, "%s %s/%s: %s", what, ns ? ns : "(self)", ifname, strerror(-rc));
		return rc;
	}
	return ifr.ifr_ifindex;
}

/* --- one request, one acknowledgement --------------------------------- */

struct nl_reply {
	int error; /* -errno from the kernel, 0 on ACK */
	char text[128];
};

/* NLMSG_ERROR carrying an errno; with NETLINK_EXT_ACK the kernel appends
 * NLMSGERR_ATTR_MSG, a human reason, after the (capped) original header. */
static int nl_reply_err(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct nl_reply *r = arg;
	struct nlmsghdr *h = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*e));
	struct nlattr *msg;

	r->error = e->error;
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += NLMSG_ALIGN(e->msg.nlmsg_len - NLMSG_HDRLEN);
	if (off >= h->nlmsg_len)
		return NL_STOP;
	msg = nla_find((struct nlattr *)((char *)h + off), (int)(h->nlmsg_len - off),
		       NLMSGERR_ATTR_MSG);
	if (msg && nla_len(msg) > 0)
		snprintf(r->text, sizeof(r->text), " (%.*s)", nla_len(msg) - 1,
			 (const char *)nla_data(msg));
	return NL_STOP;
}

static int nl_reply_ack(struct nl_msg *m, void *arg)
{
	return NL_STOP;
}

/* Send msg (consumed) on s and wait for its ACK; the kernel's errno comes
 * back as -errno, not as a libnl code. */
static int nl_talk(struct netns_sock *s, struct nl_msg *msg, struct nl_reply *r)
{
	struct nl_cb *cb;
	int rc;

	r->error = 0;
	r->text[0] = '\0';
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, nl_reply_err, r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, nl_reply_ack, r);
	rc = nl_send_auto(s->nl, msg);
	nlmsg_free(msg);
	if (rc >= 0)
		rc = nl_recvmsgs(s->nl, cb);
	nl_cb_put(cb);
	if (r->error)
		return r->error;
	return rc < 0 ? -EPROTO : 0;
}

/* The common tail of every request: report and return. */
static int nl_done(int rc, struct nl_reply *r, struct netns_err *err, const char *what,
		   const char *ns, const char *ifname)
{
	if (rc < 0)
		set_err(err, "%s %s/%s: %s%s", what, ns ? ns : "(self)", ifname, strerror(-rc),
			r->text);
	return rc;
}

/* --- links, addresses, routes ------------------------------------------ */

int veth_create(struct netns_ctx *ctx, const char *ns_a, const char *name_a, const char *ns_b,
		const char *name_b, unsigned int mtu, struct netns_err *err)
{
	struct netns_sock *a, *b;
	struct rtnl_link *link = NULL, *peer;
	struct nl_msg *msg = NULL;
	struct nl_reply r = {0};
	int rc;

	if (strlen(name_a) >= IFNAMSIZ || strlen(name_b) >= IFNAMSIZ) {
		set_err(err, "veth %s <-> %s: interface name longer than %d", name_a, name_b,
			IFNAMSIZ - 1);
		return -ENAMETOOLONG;
	}
	rc = ctx_get(ctx, ns_a, &a, err);
	if (rc < 0)
		return rc;
	rc = ctx_get(ctx, ns_b, &b, err);
	if (rc < 0)
		return rc;
	link = rtnl_link_veth_alloc();
	if (!link) {
		rc = -ENOMEM;
		goto cleanup;
	}
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(link, name_a);
	rtnl_link_set_name(peer, name_b);
	if (mtu) {
		rtnl_link_set_mtu(link, mtu);
		rtnl_link_set_mtu(peer, mtu);
	}
	/* VETH_INFO_PEER carries IFLA_NET_NS_FD: the peer is born in ns_b */
	rtnl_link_set_ns_fd(peer, b->nsfd);
	rtnl_link_put(peer);
	rc = rtnl_link_build_add_request(link, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (rc < 0) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = nl_talk(a, msg, &r);
cleanup:
	rtnl_link_put(link);
	if (rc < 0)
		set_err(err, "veth %s/%s <-> %s/%s: RTM_NEWLINK: %s%s", ns_a ? ns_a : "(self)",
			name_a, ns_b ? ns_b : "(self)", name_b, strerror(-rc), r.text);
	return rc;
}

int link_up(struct netns_ctx *ctx, const char *ns, const char *ifname, struct netns_err *err)
{
	struct netns_sock *s;
	struct rtnl_link *orig = NULL, *change = NULL;
	struct nl_msg *msg = NULL;
	struct nl_reply r = {0};
	int rc, idx;

	idx = ctx_ifindex(ctx, ns, ifname, &s, "link up", err);
	if (idx < 0)
		return idx;
	orig = rtnl_link_alloc();
	change = rtnl_link_alloc();
	if (!orig || !change) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rtnl_link_set_ifindex(orig, idx);
	rtnl_link_set_flags(change, IFF_UP);
	rc = rtnl_link_build_change_request(orig, change, 0, &msg);
	if (rc < 0) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = nl_talk(s, msg, &r);
cleanup:
	rtnl_link_put(orig);
	rtnl_link_put(change);
	return nl_done(rc, &r, err, "link up", ns, ifname);
}

/* An AF_INET nl_addr, or NULL when out of memory. */
static struct nl_addr *nl_addr_v4(struct in_addr a, unsigned int prefixlen)
{
	struct nl_addr *na = nl_addr_build(AF_INET, &a, sizeof(a));

	if (na)
		nl_addr_set_prefixlen(na, (int)prefixlen);
	return na;
}

int addr_add(struct netns_ctx *ctx, const char *ns, const char *ifname, struct in_addr addr,
	     unsigned int prefixlen, struct netns_err *err)
{
	struct netns_sock *s;
	struct rtnl_addr *ra = NULL;
	struct nl_addr *local = NULL;
	struct nl_msg *msg = NULL;
	struct nl_reply r = {0};
	int rc, idx;

	if (prefixlen > 32) {
		set_err(err, "addr %s/%s: prefix length %u > 32", ns ? ns : "(self)", ifname,
			prefixlen);
		return -EINVAL;
	}
	idx = ctx_ifindex(ctx, ns, ifname, &s, "addr add", err);
	if (idx < 0)
		return idx;
	ra = rtnl_addr_alloc();
	local = nl_addr_v4(addr, prefixlen);
	if (!ra || !local) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rtnl_addr_set_ifindex(ra, idx);
	rtnl_addr_set_family(ra, AF_INET);
	rtnl_addr_set_prefixlen(ra, (int)prefixlen);
	rc = rtnl_addr_set_local(ra, local);
	if (rc == 0)
		rc = rtnl_addr_build_add_request(ra, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (rc < 0) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = nl_talk(s, msg, &r);
cleanup:
	nl_addr_put(local);
	rtnl_addr_put(ra);
	return nl_done(rc, &r, err, "addr add", ns, ifname);
}

int route_add_default(struct netns_ctx *ctx, const char *ns, const char *ifname, struct in_addr gw,
		      bool onlink, struct netns_err *err)
{
	static const struct in_addr any = {0};
	struct netns_sock *s;
	struct rtnl_route *rt = NULL;
	struct rtnl_nexthop *nh = NULL;
	struct nl_addr *dst = NULL, *via = NULL;
	struct nl_msg *msg = NULL;
	struct nl_reply r = {0};
	int rc, idx;

	idx = ctx_ifindex(ctx, ns, ifname, &s, "route add default", err);
	if (idx < 0)
		return idx;
	rt = rtnl_route_alloc();
	nh = rtnl_route_nh_alloc();
	dst = nl_addr_v4(any, 0);
	via = nl_addr_v4(gw, 32);
	if (!rt || !nh || !dst || !via) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rtnl_route_set_family(rt, AF_INET);
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	rtnl_route_set_protocol(rt, RTPROT_BOOT);
	rtnl_route_set_scope(rt, RT_SCOPE_UNIVERSE);
	rtnl_route_set_type(rt, RTN_UNICAST);
	rc = rtnl_route_set_dst(rt, dst);
	if (rc < 0) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rtnl_route_nh_set_ifindex(nh, idx);
	rtnl_route_nh_set_gateway(nh, via);
	if (onlink)
		rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
	rtnl_route_add_nexthop(rt, nh);
	nh = NULL; /* the route owns it now */
	rc = rtnl_route_build_add_request(rt, NLM_F_CREATE | NLM_F_EXCL, &msg);
	if (rc < 0) {
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = nl_talk(s, msg, &r);
cleanup:
	if (nh)
		rtnl_route_nh_free(nh);
	nl_addr_put(dst);
	nl_addr_put(via);
	rtnl_route_put(rt);
	return nl_done(rc, &r, err, "route add default", ns, ifname);
}

/* --- offloads ------------------------------------------------------------ */

/* Whether feature NAME is one offload_off() clears: every tx checksum
 * flavour, scatter-gather, every segmentation offload (TSO of each kind,
 * GSO, UDP and tunnel segmentation) and every receive coalescing (GRO, LRO).
 * By name through ETHTOOL_SFEATURES, because the legacy ETHTOOL_STSO mask
 * misses TSO flavours newer than it (this kernel's tx-tcp-accecn-segmentation
 * keeps `ethtool -k` saying "tcp-segmentation-offload: on"). */
static bool offload_feature(const char *name)
{
	static const char *const prefixes[] = {"tx-checksum", "tx-scatter-gather", "rx-gro",
					       "rx-lro"};
	static const char *const exact[] = {"tx-gso-list", "rx-udp-gro-forwarding"};
	static const char suffix[] = "segmentation";
	size_t len = strlen(name);

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return true;
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcmp(name, exact[i]))
			return true;
	return len >= sizeof(suffix) - 1 && !strcmp(name + len - (sizeof(suffix) - 1), suffix);
}

static int ethtool(struct netns_sock *s, const char *ifname, void *cmd)
{
	struct ifreq ifr = {0};

	strcpy(ifr.ifr_name, ifname); /* length checked by the caller */
	ifr.ifr_data = cmd;
	return ioctl(s->iofd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

/* The kernel's feature names are one global table: read it once per ctx
 * and keep the bits offload_off() clears. */
static int offload_mask(struct netns_ctx *ctx, struct netns_sock *s, const char *ifname)
{
	/* ethtool requests end in a flexible array: a union gives it room */
	union {
		struct ethtool_sset_info hdr;
		__u8 raw[sizeof(struct ethtool_sset_info) + sizeof(__u32)];
	} info = {.hdr = {.cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ULL << ETH_SS_FEATURES}};
	struct ethtool_gstrings *names;
	__u32 count;
	int rc;

	if (ctx->feat_words)
		return 0;
	rc = ethtool(s, ifname, &info);
	if (rc < 0)
		return rc;
	count = info.hdr.sset_mask ? info.hdr.data[0] : 0;
	if (count == 0 || count > NETNS_FEAT_WORDS * 32)
		return -EOPNOTSUPP;
	names = calloc(1, sizeof(*names) + (size_t)count * ETH_GSTRING_LEN);
	if (!names)
		return -ENOMEM;
	names->cmd = ETHTOOL_GSTRINGS;
	names->string_set = ETH_SS_FEATURES;
	names->len = count;
	rc = ethtool(s, ifname, names);
	for (__u32 i = 0; rc == 0 && i < names->len && i < count; i++) {
		char name[ETH_GSTRING_LEN + 1] = {0};

		memcpy(name, names->data + (size_t)i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
		if (offload_feature(name))
			ctx->feat_off[i / 32] |= 1U << (i % 32);
	}
	free(names);
	if (rc == 0)
		ctx->feat_words = (count + 31) / 32;
	return rc;
}

/* Read the device's feature words: available (changeable) and active. */
static int features_get(struct netns_sock *s, const char *ifname, unsigned int words,
			struct ethtool_get_features_block *blk)
{
	union {
		struct ethtool_gfeatures hdr;
		__u8 raw[sizeof(struct ethtool_gfeatures) +
			 NETNS_FEAT_WORDS * sizeof(struct ethtool_get_features_block)];
	} g = {.hdr = {.cmd = ETHTOOL_GFEATURES, .size = words}};
	int rc;

	rc = ethtool(s, ifname, &g);
	if (rc == 0)
		memcpy(blk, g.hdr.features, words * sizeof(*blk));
	return rc;
}

int offload_off(struct netns_ctx *ctx, const char *ns, const char *ifname, struct netns_err *err)
{
	struct ethtool_get_features_block blk[NETNS_FEAT_WORDS];
	union {
		struct ethtool_sfeatures hdr;
		__u8 raw[sizeof(struct ethtool_sfeatures) +
			 NETNS_FEAT_WORDS * sizeof(struct ethtool_set_features_block)];
	} set = {.hdr = {.cmd = ETHTOOL_SFEATURES}};
	const char *step = "feature names";
	struct netns_sock *s;
	unsigned int words;
	int rc;

	if (strlen(ifname) >= IFNAMSIZ) {
		set_err(err, "offload %s/%s: interface name too long", ns ? ns : "(self)", ifname);
		return -ENAMETOOLONG;
	}
	rc = ctx_get(ctx, ns, &s, err);
	if (rc < 0)
		return rc;
	rc = offload_mask(ctx, s, ifname);
	if (rc < 0)
		goto cleanup;
	words = ctx->feat_words;
	step = "ETHTOOL_GFEATURES";
	rc = features_get(s, ifname, words, blk);
	if (rc < 0)
		goto cleanup;
	/* clear only what this device lets us change; fixed ones stay as they are */
	set.hdr.size = words;
	for (unsigned int i = 0; i < words; i++) {
		set.hdr.features[i].valid = ctx->feat_off[i] & blk[i].available;
		set.hdr.features[i].requested = 0;
	}
	step = "ETHTOOL_SFEATURES";
	rc = ethtool(s, ifname, &set);
	if (rc == 0) {
		step = "ETHTOOL_GFEATURES";
		rc = features_get(s, ifname, words, blk);
	}
	for (unsigned int i = 0; rc == 0 && i < words; i++) {
		if (blk[i].active & set.hdr.features[i].valid) {
			step = "features still on after ETHTOOL_SFEATURES";
			rc = -EOPNOTSUPP;
		}
	}
cleanup:
	if (rc < 0)
		set_err(err, "offload %s/%s: %s: %s", ns ? ns : "(self)", ifname, step,
			strerror(-rc));
	return rc;
}
