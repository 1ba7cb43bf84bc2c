/* util: text from a trace or the file system (process names, argv, paths) made safe
 * for a terminal: control characters become \xNN, so an escape sequence is never
 * sent raw and a newline never splits a line. */
#ifndef KSIGHT_UTIL_ESCAPE_H
#define KSIGHT_UTIL_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Writes the len bytes at p into buf (cap bytes, NUL-terminated) with control
 * characters (< 0x20, 0x7f) and backslashes escaped; cut short, with "...", when
 * buf is too small. Returns buf. */
const char *ks_escape(char *buf, size_t cap, const char *p, size_t len);

/* Prints the len bytes at p to f, escaped the same way. */
void ks_fput_escaped(FILE *f, const char *p, size_t len);

#endif
