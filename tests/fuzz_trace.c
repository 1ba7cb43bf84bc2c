/* libFuzzer target of the whole-trace readers: the input is an LMDB image, opened
 * the way every reading command opens a trace (store verification, meta, then the
 * segments), and run through what `report`, `report --json`, `timeline` and
 * `restore` compute from it. Restores go into a fresh directory under /dev/shm that
 * is removed after each input. Seeds: small real traces (the .img files in tests/corpus/fuzz_trace). */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replay/report.h"
#include "replay/restore.h"
#include "replay/timeline.h"
#include "replay/trace.h"

static char dir[64];

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d))) {
		char sub[4096];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (e->d_type == DT_DIR)
			rm_tree(sub);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static void read_trace(const char *path)
{
	char msg[512], to[128];
	struct replay_trace *t;
	struct analyze_opts o;
	struct report r = { 0 };
	struct timeline tl = { 0 };
	struct restore_stats st = { 0 };

	if (replay_open(path, &t, msg, sizeof(msg)))
		return;
	analyze_opts_default(&o);
	if (!report_compute(&r, t, &o)) {
		FILE *f = fopen("/dev/null", "w");
		json_t *j = report_json(&r);

		if (f) {
			report_text(f, &r);
			fclose(f);
		}
		json_decref(j);
	}
	report_free(&r);
	if (!timeline_build(t, NULL, &tl))
		timeline_free(&tl);
	snprintf(to, sizeof(to), "%s/to", dir);
	restore_trace(t, &(struct restore_opts){ .to = to, .at = UINT64_MAX }, &st);
	rm_tree(to);
	replay_close(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[128];
	int fd;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/dev/shm/ksight-fuzz-%d", (int)getpid());
		mkdir(dir, 0700);
	}
	snprintf(path, sizeof(path), "%s/trace.lmdb", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	close(fd);
	read_trace(path);
	unlink(path);
	return 0;
}
