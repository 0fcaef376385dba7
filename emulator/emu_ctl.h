/* natbed-emu control commands: the table behind the control socket. */
#ifndef NATBED_EMU_EMU_CTL_H
#define NATBED_EMU_EMU_CTL_H

#include <stddef.h>

#include "ctl.h"
#include "fabric.h"

struct emu_ctl_ctx {
	struct fabric *fabric;
	const struct topo *topo;
	struct sched *sched;
};

extern const struct ctl_cmd emu_ctl_cmds[];
extern const size_t emu_ctl_n_cmds;

#endif
