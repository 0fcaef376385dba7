/* netns: network namespaces and the links inside them, for natbed up/down.
 *
 * A namespace NAME is a bind mount of the namespace on /run/netns/NAME, the
 * way iproute2 makes them, so `ip netns exec NAME` and `ip -n NAME` work on
 * what natbed builds and `ip netns del` can remove it.
 *
 * Every function returns 0 (or the count or fd it says) or -errno, and logs
 * nothing: when err is not NULL, a failure fills err->msg with one line that
 * names the object and the step ("veth nb-alice/eth0: RTM_NEWLINK: File
 * exists"), with the kernel's extended ack text when it gives one. The caller
 * logs it once.
 *
 * No call changes the caller's namespace: work that must happen inside a
 * namespace runs on a short-lived thread that setns()es there, and the
 * caller's thread never moves.
 *
 * Links, addresses, routes and offloads go through a struct netns_ctx. It
 * keeps, per namespace it has touched, one rtnetlink socket and one ioctl
 * socket opened inside that namespace, and reuses them for every later
 * object there: one thread hop per namespace instead of one per object, and
 * no process per object. Those sockets hold the namespace alive: call
 * netns_ctx_forget() (or netns_ctx_free()) for a namespace before, or right
 * after, netns_delete() so its veths go with it. A ctx is for one thread.
 */
#ifndef NATBED_CLI_NETNS_H
#define NATBED_CLI_NETNS_H

#include <netinet/in.h>
#include <stdbool.h>

#define NETNS_RUN_DIR "/run/netns"
#define NETNS_ERR_LEN 256

/* One line describing the last failure, for the caller to log. */
struct netns_err {
	char msg[NETNS_ERR_LEN];
};

/* --- namespaces ------------------------------------------------------ */

/* Create namespace NAME bound on /run/netns/NAME (making /run/netns a shared
 * mount point first, as iproute2 does). -EEXIST if NAME is taken, -EINVAL for
 * a name that is empty, has '/', or is "." or "..". */
int netns_create(const char *name, struct netns_err *err);

/* Unbind (MNT_DETACH) and remove /run/netns/NAME. -ENOENT if absent. The
 * namespace itself goes when nothing else holds it (processes, open fds,
 * a netns_ctx). */
int netns_delete(const char *name, struct netns_err *err);

/* 1 if /run/netns/NAME exists, else 0. */
int netns_exists(const char *name);

/* Open namespace NAME: an O_CLOEXEC fd the caller owns and closes, or
 * -errno (-ENOENT if absent). */
int netns_open(const char *name, struct netns_err *err);

/* Move the calling thread into the namespace fd refers to (setns). Only for
 * a thread or child process that is about to exec or exit there; it does not
 * come back by itself. */
int netns_enter(int fd);

/* Run fn(arg) on a short-lived thread inside namespace NAME and wait for it.
 * Returns fn's value (which should be 0 or -errno too), or -errno when the
 * namespace could not be entered. The caller's thread stays where it is. */
typedef int (*netns_fn)(void *arg);
int netns_run(const char *name, netns_fn fn, void *arg, struct netns_err *err);

/* Call cb(name, arg) for each /run/netns entry whose name starts with prefix
 * ("" for all; names starting with '.' are iproute2's temporaries and are
 * skipped). cb may delete the namespace it is given. A negative return from
 * cb stops the walk and is returned; otherwise the number of names visited. */
typedef int (*netns_list_fn)(const char *name, void *arg);
int netns_list_prefix(const char *prefix, netns_list_fn cb, void *arg);

/* Send sig to every process whose network namespace is NAME (same nsfs
 * st_dev/st_ino as /run/netns/NAME), never to the caller. Returns how many
 * were signalled. */
int netns_kill_pids(const char *name, int sig, struct netns_err *err);

/* Write value to the sysctl key inside namespace ns (NULL: the caller's).
 * key is dotted ("net.ipv4.ip_forward") or, for interface names holding a
 * dot, slashed ("net/ipv4/conf/eth0.5/rp_filter"), relative to /proc/sys.
 * Net sysctls follow the namespace of the task that opens them, hence the
 * hop. */
int sysctl_set(const char *ns, const char *key, const char *value, struct netns_err *err);

/* --- links, addresses, routes: through a context --------------------- */

struct netns_ctx;

/* A context with no namespace open yet, or NULL when out of memory. */
struct netns_ctx *netns_ctx_new(void);

/* Close every socket and fd the context holds. NULL is fine. */
void netns_ctx_free(struct netns_ctx *ctx);

/* Close what the context holds for namespace ns (NULL: the caller's own), so
 * it no longer keeps that namespace alive. Absent is fine. */
void netns_ctx_forget(struct netns_ctx *ctx, const char *ns);

/* One veth pair with one RTM_NEWLINK, sent from inside ns_a: end name_a is
 * born in ns_a and end name_b in ns_b, so neither name ever exists in the
 * caller's namespace. mtu in bytes (0: the kernel's default). Both ends are
 * left down. ns_a or ns_b NULL means the caller's namespace. */
int veth_create(struct netns_ctx *ctx, const char *ns_a, const char *name_a, const char *ns_b,
		const char *name_b, unsigned int mtu, struct netns_err *err);

/* Set interface ifname in ns administratively up. -ENODEV if absent. */
int link_up(struct netns_ctx *ctx, const char *ns, const char *ifname, struct netns_err *err);

/* Add IPv4 address addr/prefixlen (prefixlen 0..32) on ifname in ns.
 * addr is in network byte order. -EEXIST if already there. */
int addr_add(struct netns_ctx *ctx, const char *ns, const char *ifname, struct in_addr addr,
	     unsigned int prefixlen, struct netns_err *err);

/* Add the IPv4 default route via gw (network byte order) out of ifname in
 * ns, main table. onlink sets RTNH_F_ONLINK: the gateway need not be in a
 * connected prefix (a /32 host: `default via 198.18.0.1 dev eth0 onlink`).
 * Without it a gateway outside every connected prefix gives -ENETUNREACH. */
int route_add_default(struct netns_ctx *ctx, const char *ns, const char *ifname, struct in_addr gw,
		      bool onlink, struct netns_err *err);

/* Turn off, on ifname in ns, every offload DESIGN.md's "Known pitfalls"
 * names: tx checksumming (all flavours), scatter-gather, segmentation (TSO
 * of each kind, GSO, UDP and tunnel GSO) and receive coalescing (GRO, LRO),
 * so the emulator's packet sockets see whole, checksummed frames. Through
 * ETHTOOL_SFEATURES by feature name, then read back: -EOPNOTSUPP if one the
 * device lets us change stays on. Features fixed by the driver are left. */
int offload_off(struct netns_ctx *ctx, const char *ns, const char *ifname, struct netns_err *err);

#endif
