/* natbed-emu flow numbering in a checkpoint: each flow's 5-tuple and the
 * number its next packet gets, in the order the flows were last seen.
 * Restored, the packets of a continued run get the numbers they would
 * have got, so the links decide them as an uninterrupted run does. */
#ifndef NATBED_EMU_FLOWTAB_CTL_H
#define NATBED_EMU_FLOWTAB_CTL_H

#include <jansson.h>
#include <stddef.h>

#include "flowtab.h"

/* {max, recycled, flows:[[proto, src, sport, dst, dport, next]...]}, the
 * least recently seen flow first, ports in host order. A new reference,
 * or NULL on ENOMEM. */
json_t *flowtab_checkpoint(const struct flowtab *t);

/* Restore in two steps (as nat_restore_prepare()): prepare checks all of
 * j and builds the table aside, of t's size (a checkpoint with more flows
 * than t remembers does not fit), or returns NULL with "what: problem" in
 * err and t unchanged; flowtab_adopt() (flowtab.h) then swaps it in. */
struct flowtab *flowtab_restore_prepare(const struct flowtab *t, const json_t *j, char *err,
					size_t errlen);

#endif
