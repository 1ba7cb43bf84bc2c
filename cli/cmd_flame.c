/* `ksight flame`: a trace's on-CPU or off-CPU stacks as one self-contained,
 * interactive SVG flame graph. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/stacks.h"
#include "replay/flame.h"

static const char usage_text[] =
	"usage: ksight flame FILE [--offcpu] [--pid PID] [--time FROM,TO] [-o OUT.svg]\n"
	"\n"
	"Writes a flame graph of the trace's on-CPU samples (or, with --offcpu, of the\n"
	"time threads spent off the CPU) as one SVG file with everything inside it:\n"
	"hover a frame for its count and share, click to zoom, Search to highlight\n"
	"functions by regular expression. Frames are named as 'ksight stacks' names them.\n"
	"\n"
	"options:\n"
	"  -o, --output OUT.svg  where to write (default flame.svg; '-': stdout)\n"
	"      --offcpu          off-CPU time instead of on-CPU samples\n"
	STACKS_OPTIONS_HELP
	"\n"
	"examples:\n"
	"  ksight flame trace.lmdb -o cpu.svg\n"
	"  ksight flame trace.lmdb --offcpu -o wait.svg\n";

int cmd_flame(int argc, char **argv)
{
	struct stacks_args a;
	struct replay_trace *t = NULL;
	struct prof_result r;
	struct prof_line *lines = NULL;
	struct flame_opts fo;
	char title[256];
	size_t n = 0;
	FILE *f = NULL;
	int rc, err;

	rc = stacks_parse("flame", argc, argv, usage_text, true, &a);
	if (rc >= 0)
		return rc;
	if (!a.output)
		a.output = "flame.svg";
	rc = stacks_load(&a, &t, &r);
	if (rc)
		return rc;
	rc = KS_EXIT_FAIL;
	if (prof_folded(&r, a.offcpu, &lines, &n)) {
		ks_error("flame: out of memory");
		goto out;
	}
	snprintf(title, sizeof(title), "%s: %s", a.offcpu ? "Off-CPU time" : "CPU samples", a.path);
	fo = (struct flame_opts){ .title = title, .unit = a.offcpu ? "us" : "samples",
				  .unit_scale = a.offcpu ? 1000.0 : 1.0 };
	f = strcmp(a.output, "-") ? replay_create_output(a.output) : stdout;
	if (!f) {
		ks_error("flame: cannot create %s: %s", a.output, strerror(errno));
		goto out;
	}
	err = flame_write(f, lines, n, &fo);
	if (f != stdout ? fclose(f) : fflush(f))
		err = err ?: -errno;
	if (err) {
		ks_error("flame: cannot write %s: %s", a.output, strerror(-err));
		goto out;
	}
	rc = KS_EXIT_OK;
out:
	prof_lines_free(lines, n);
	prof_free(&r);
	replay_close(t);
	return rc;
}
