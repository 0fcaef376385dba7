/* natbed agents: the NAT classes live in libnatbed (natbed/natinfo.h),
 * shared with the CLI's results and report. */
#ifndef NATBED_AGENTS_NATINFO_H
#define NATBED_AGENTS_NATINFO_H

#include "natbed/natinfo.h"

#endif
