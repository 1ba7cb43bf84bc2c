/* cli: the live progress line of `ksight record` (see progress.h). It writes to
 * stderr only when stderr is a terminal: "\r" + the line + erase-to-end, so a
 * shorter line never leaves the tail of a longer one. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/progress.h"

void progress_init(struct progress *p, bool quiet, const char *path, uint64_t start_ns)
{
	*p = (struct progress){ .on = !quiet && isatty(STDERR_FILENO), .path = path,
				.start_ns = start_ns, .last_ns = start_ns };
}

static void fmt_size(char *b, size_t n, double v)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned k = 0;

	while (v >= 1024 && k < 4) {
		v /= 1024;
		k++;
	}
	snprintf(b, n, k ? "%.1f %s" : "%.0f %s", v, u[k]);
}

void progress_draw(struct progress *p, uint64_t now, uint64_t lost)
{
	double dt = (double)(now - p->last_ns) / 1e9;
	double rate = dt > 0 ? (double)(p->events - p->last_events) / dt : 0;
	struct stat sb;
	char size[32];

	if (!p->on)
		return;
	fmt_size(size, sizeof(size), stat(p->path, &sb) ? 0 : (double)sb.st_size);
	fprintf(stderr, "\rksight: recording %.1f s, %llu events (%.0f/s), trace %s, %llu lost\033[K",
		(double)(now - p->start_ns) / 1e9, (unsigned long long)p->events, rate, size,
		(unsigned long long)lost);
	fflush(stderr);
	p->last_ns = now;
	p->last_events = p->events;
	p->drawn = true;
}

void progress_end(struct progress *p)
{
	if (p->on && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = false;
}
