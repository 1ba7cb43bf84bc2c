/* The block I/O and network probe families (bpf/blockio.bpf.c, bpf/net.bpf.c):
 * loaded beside the syscall family, sharing its maps, each hook only where the
 * kernel has it; their records become block and net rows. Optional: what cannot
 * load is said, never fatal. */
#ifndef KSIGHT_RECORD_IO_H
#define KSIGHT_RECORD_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "record/consumer.h"
#include "record/probes.h"

struct io_probes_opts {
	bool block, net;
};

struct io_probes;

/* Loads and attaches what the kernel supports of the families o asks for,
 * through p's loader (its BTF, knobs and shared maps). *out is set even when nothing could load (then describe() says why).
 * Returns 0 or -ENOMEM. */
int io_probes_start(struct probes *p, const struct io_probes_opts *o, struct io_probes **out);
/* Comma-separated attached hooks ("tp_btf/block_io_start,..."), or "" . */
const char *io_probes_describe(const struct io_probes *io);
/* What could not be recorded, one sentence, or "" when everything asked for is. */
const char *io_probes_missing(const struct io_probes *io);
/* Routes the families' ring records into c as block and net rows. Returns 0 or
 * a negative errno. */
int io_probes_attach(struct io_probes *io, struct consumer *c);
void io_probes_free(struct io_probes *io);

/* The block devices the machine has, as a JSON object "major:minor" -> name
 * (from /proc/partitions), malloc'd in *out. Returns 0, -ENOENT, -ENOMEM. */
int io_block_devices_json(char **out);

#endif
