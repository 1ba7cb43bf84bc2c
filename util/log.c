/* util: stderr messages, one line each (see log.h). */
#include <stdarg.h>
#include <stdio.h>

#include "util/escape.h"
#include "util/log.h"

int ks_debug_enabled;

/* One line, whatever the message holds: a path or a process name with a newline
 * or an escape sequence is printed escaped. */
static void say(const char *prefix, const char *fmt, va_list ap)
{
	char msg[2048];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	fputs(prefix, stderr);
	ks_fput_escaped(stderr, msg, (size_t)n);
	fputc('\n', stderr);
}

void ks_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("ksight: ", fmt, ap);
	va_end(ap);
}

void ks_debug(const char *fmt, ...)
{
	va_list ap;

	if (!ks_debug_enabled)
		return;
	va_start(ap, fmt);
	say("ksight: debug: ", fmt, ap);
	va_end(ap);
}
