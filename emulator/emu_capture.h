/* natbed-emu control commands of the live capture (emulator/livecap.h),
 * for the table of emu_ctl.c; ctx is a struct emu_ctl_ctx:
 *   capture VIEW        a stream: the answer {"id","view","buffer"}, then
 *                       the view's records (natbed/capstream.h)
 *   capture-end ID      ends viewer ID: its final counters
 *   show captures       every viewer's counters */
#ifndef NATBED_EMU_EMU_CAPTURE_H
#define NATBED_EMU_EMU_CAPTURE_H

#include "ctl.h"

int emu_capture(void *ctx, int argc, const char **argv, int fd, char *err, size_t errlen);
json_t *emu_capture_end(void *ctx, int argc, const char **argv, char *err, size_t errlen);
json_t *emu_show_captures(void *ctx, int argc, const char **argv, char *err, size_t errlen);

#endif
