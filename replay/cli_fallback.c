/* Weak stand-ins for what record/main.c defines, so that binaries linking the
 * libraries without main.c (the unit tests link every replay/ object, commands
 * included) still link. In ./ksight the strong definitions in main.c win. */
#include <stdarg.h>
#include <stdio.h>

#include "record/cli.h"

__attribute__((weak)) void ks_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ksight: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
