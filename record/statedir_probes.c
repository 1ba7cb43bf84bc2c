/* State directory capture with BPF: the files probes (bpf/files.bpf.c) loaded
 * through the one loader on the maps of the other families, and their map of
 * the state dirs and their ancestors filled. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "files.skel.h"
#include "record/loader.h"
#include "record/probes.h"
#include "record/statedir_priv.h"

static int fill_statedirs(struct statedir *sd, int map_fd)
{
	for (int i = 0; i < sd->ndirs; i++) {
		struct ks_statedir_key k = { .ino = sd->dirs[i].ino, .dev = sd->dirs[i].kdev };
		uint32_t v = (uint32_t)i;
		char prefix[PATH_MAX];

		if (bpf_map_update_elem(map_fd, &k, &v, BPF_ANY))
			return -errno;
		/* every ancestor, "/" included: a path relative to one may lead inside */
		for (size_t n = 1; n <= sd->dirs[i].len; n++) {
			struct stat sb;

			if (n < sd->dirs[i].len && sd->dirs[i].path[n] != '/')
				continue;
			if (n == sd->dirs[i].len)
				break;
			memcpy(prefix, sd->dirs[i].path, n);
			prefix[n] = '\0';
			if (stat(n == 0 ? "/" : prefix, &sb))
				continue;
			k.ino = sb.st_ino;
			k.dev = sd_kdev(sb.st_dev);
			v = KS_STATEDIR_ANCESTOR;
			bpf_map_update_elem(map_fd, &k, &v, BPF_NOEXIST);
		}
		{
			struct stat sb;

			if (!stat("/", &sb)) {
				k.ino = sb.st_ino;
				k.dev = sd_kdev(sb.st_dev);
				v = KS_STATEDIR_ANCESTOR;
				bpf_map_update_elem(map_fd, &k, &v, BPF_NOEXIST);
			}
		}
	}
	return 0;
}

int sd_probes_attach(struct statedir *sd, struct probes *p, const struct statedir_opts *o,
		     const char **why)
{
	struct loader *ld = probes_loader(p);
	/* only the traced tasks' file changes, even under -a */
	struct loader_knobs k = ld->knobs;
	uint32_t payload = o->max_payload ? o->max_payload : 1u << 20;
	struct files_bpf *s;
	int err;

	k.trace_all = false;
	k.wakeup_bytes = o->ring_bytes ? o->ring_bytes / 4 : 1 << 20;
	*why = "open the file probes";
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	err = files_bpf__create_skeleton(s);
	err = err ?: loader_open(ld, s->skeleton, NULL, why);
	if (err)
		goto fail;
	s->rodata->max_payload = (payload + KS_EVF_PIECE - 1) / KS_EVF_PIECE * KS_EVF_PIECE;
	err = loader_load(ld, s->skeleton, &k, why);
	if (err)
		goto fail;
	*why = "fill the state dir map";
	err = fill_statedirs(sd, bpf_map__fd(s->maps.statedirs));
	err = err ?: loader_attach(ld, s->skeleton, why);
	if (err)
		goto fail;
	sd->skel = s;
	return 0;
fail:
	files_bpf__destroy(s);
	return err < 0 ? err : -EINVAL;
}
