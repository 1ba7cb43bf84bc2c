/* util: stderr messages, one line each (see log.h). */
#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

int ks_debug_enabled;

static void say(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
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
