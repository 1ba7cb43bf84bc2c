/* util: terminal-safe text (see escape.h). */
#include <string.h>

#include "util/escape.h"

static size_t escape_one(unsigned char c, char out[5])
{
	static const char hex[] = "0123456789abcdef";

	if (c >= 0x20 && c != 0x7f && c != '\\') {
		out[0] = (char)c;
		return 1;
	}
	if (c == '\\') {
		out[0] = out[1] = '\\';
		return 2;
	}
	out[0] = '\\';
	out[1] = 'x';
	out[2] = hex[c >> 4];
	out[3] = hex[c & 15];
	return 4;
}

const char *ks_escape(char *buf, size_t cap, const char *p, size_t len)
{
	size_t o = 0;

	if (!cap)
		return buf;
	for (size_t i = 0; i < len; i++) {
		char e[5];
		size_t n = escape_one((unsigned char)p[i], e);

		if (o + n + 1 > cap) {
			/* no room: end with "..." in place of what fits last */
			if (cap >= 4) {
				o = o + 4 > cap ? cap - 4 : o;
				memcpy(buf + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(buf + o, e, n);
		o += n;
	}
	buf[o] = '\0';
	return buf;
}

void ks_fput_escaped(FILE *f, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char e[5];
		size_t n = escape_one((unsigned char)p[i], e);

		fwrite(e, 1, n, f);
	}
}
