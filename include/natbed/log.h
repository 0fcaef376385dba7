/* natbed logging: one line per event on stderr, prefixed by the program name. */
#ifndef NATBED_LOG_H
#define NATBED_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the program name shown in each line and the most verbose level shown. */
void log_init(const char *prog, enum log_level max);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether a line of level lvl is shown: to skip formatting its arguments
 * (addresses, say) when it is not. */
bool log_wants(enum log_level lvl);

#define log_err(...)   log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
