/* natbed-emu checkpoints: a running fabric's whole state in one file,
 *
 *   {"natbed_checkpoint": 1, "topology": NAME, "seed": N,
 *    "nats":      {NAME: nat_checkpoint()...},       every NAT
 *    "firewalls": {NAME: fw_checkpoint()...},        every host or NAT with a firewall
 *    "links":     {NAME: {"up": link_checkpoint(), "down": ...}...}, hosts, NATs, internet
 *    "gates":     {NAME: gate_checkpoint()...},      every host or NAT with a gate
 *    "flows":     flowtab_checkpoint(),              the packet numbers per flow
 *    "in_flight": N}                                 packets on the way, not saved
 *
 * with every time relative to the moment of the checkpoint, so a restore
 * into a fresh `natbed up` of the same topology goes on from there: the
 * same packets meet the same fate as in a run never interrupted.
 *
 * Not saved: the packets on their way (delayed on a link, waiting in its
 * queue, held for ARP or for their first fragment). Each is a frame in
 * the middle of the pipeline, already translated by some NATs, with the
 * step it goes to next as a scheduled call: it belongs to the run that
 * has it, and sent again by another it would arrive twice or nowhere the
 * hosts expect. Their places in each link's queue are saved, so the
 * packets after a restore wait behind them as they would have. Nor are
 * the ARP caches (a fresh run's hosts have other MAC addresses), the port
 * counters, or the event log's rate limit. */
#ifndef NATBED_EMU_EMU_CKPT_H
#define NATBED_EMU_EMU_CKPT_H

#include <jansson.h>
#include <stddef.h>

#include "emu_parts.h"
#include "fabric.h"

#define EMU_CKPT_FORMAT 1

/* The whole state of p's engines at now, as a checkpoint file holds it
 * (above). A new reference, or NULL on ENOMEM. */
json_t *emu_ckpt_state(const struct emu_parts *p, const struct topo *t, natbed_time_t now);

/* Writes f's state at now (f runs topology t) to path, an absolute path,
 * through a temporary file renamed into place, so a reader never sees half
 * a checkpoint. Returns what was written ({file, nats, firewalls, links,
 * flows, in_flight}), or NULL with "FILE: problem" in err. */
json_t *emu_ckpt_write(struct fabric *f, const struct topo *t, natbed_time_t now, const char *path,
		       char *err, size_t errlen);

/* Reads the checkpoint at path (absolute) and makes f run its state: the
 * whole file is checked first (its topology and seed are t's, it has
 * exactly t's NATs, firewalls and links, every part is well formed and
 * fits the running part) and every part is built aside; only then is
 * each adopted. Returns {file, restored...}, or NULL with "FILE: part:
 * problem" in err (e.g. "/tmp/ck.json: links.alice.up: config.loss:
 * missing or out of range") and f unchanged. */
json_t *emu_ckpt_restore(struct fabric *f, const struct topo *t, natbed_time_t now,
			 const char *path, char *err, size_t errlen);

/* The links and flows sections of emu_ckpt_state() alone, {links: {NAME:
 * {up, down}...}, flows: ...}: natbed sim's network holds them so
 * (vnet_ckpt.c), its engines exactly by other means. A new reference, or
 * NULL on ENOMEM. */
json_t *emu_ckpt_links_save(const struct emu_parts *p, const struct topo *t, natbed_time_t now);

/* Makes p's links and flows j's (emu_ckpt_links_save()'s), each part
 * checked and built aside first, then all adopted. 0, or -1 with "WHAT:
 * links.NAME.up: problem" in err and p unchanged. */
int emu_ckpt_links_restore(const struct emu_parts *p, const struct topo *t, const json_t *j,
			   natbed_time_t now, const char *what, char *err, size_t errlen);

#endif
