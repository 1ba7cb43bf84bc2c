/* util: the one way ksight reports a failure or a debug line on stderr. The
 * commands (cli/) and the recorder library use it; format/ and store/ never print. */
#ifndef KSIGHT_UTIL_LOG_H
#define KSIGHT_UTIL_LOG_H

/* Prints "ksight: <message>\n" to stderr (one line; callers say what failed and
 * what to do). */
void ks_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, as "ksight: debug: ...", only when ks_debug_enabled (--debug). */
void ks_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int ks_debug_enabled;

#endif
