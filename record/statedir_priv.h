/* State directory capture, inside: the struct the statedir*.c files share and
 * the functions they call across. Not for use outside record/statedir*.c. */
#ifndef KSIGHT_STATEDIR_PRIV_H
#define KSIGHT_STATEDIR_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include "bpf/events.h"
#include "format/delta.h"
#include "record/statedir.h"
#include "util/hmap.h"

#define IO_BUF (1u << 20)           /* a read-back or content block */
#define MAX_PENDING 64              /* threads with a write in pieces */
#define PENDING_TIMEOUT_NS (200ull * 1000 * 1000)
#define VERIFY_DELAY_NS (100ull * 1000 * 1000)   /* a closed file: verified after this */
#define VERIFY_MAX_WAIT_NS (5000ull * 1000 * 1000) /* ... or this, when never quiet */
#define INOTIFY_QUIET_NS (50ull * 1000 * 1000)   /* fallback: a change settles */
#define PACK_FLUSH_NS (100ull * 1000 * 1000)     /* deltas wait for their pack at most */
#define INOTIFY_MAX_WAIT_NS (500ull * 1000 * 1000)

struct consumer;
struct files_bpf;
struct ks_store;
struct probes;
struct rs_tree;

struct sd_dir {
	char *path;
	size_t len;
	int fd;
	struct rs_tree *live; /* opens beneath the state dir, for reading */
	uint32_t kdev;        /* kernel encoding */
	uint64_t ino;
};

/* A path changed since it was last verified. */
struct track {
	uint64_t changed_ns;
	uint64_t due_ns;   /* verify from then on; 0: not due */
	bool mapped;       /* shared writable mapping: verify on msync, munmap, exit */
	bool expected;     /* the probes could not carry the change: reading it back is
			      the capture, not a correction */
	uint64_t event_ts; /* expected: when the change happened (the deltas' time) */
	char path[];
};

/* Live (dev, ino) -> a path, for hard links found by verification. */
struct ino_ent {
	uint64_t dev, ino;
	char path[];
};

/* The paths changed since verified, and the inodes seen with more than one link.
 * Neither ever drops an entry quietly: one that cannot be kept (no memory) is
 * counted in lost and logged. */
struct sd_tracks {
	struct ks_hmap paths; /* ks_hash_bytes(path) -> struct track * */
	struct ks_hmap inos;  /* hash of (dev, ino) -> struct ino_ent * */
	size_t ntracks;
	uint64_t lost;        /* changes or links that could not be tracked */
};

/* A write in pieces (KS_EVF_F_MORE), gathered until its last piece. */
struct pending {
	bool used;
	uint32_t tid, pid;
	uint64_t ts, off, seen_ns;
	char *path;
	uint8_t *buf;
	size_t len, cap;
};

/* Dirty ranges of a file the probes left to be read back while the ring was
 * busy: merged, and read back once per tick. */
struct deferred {
	struct deferred *next;
	uint64_t ts;   /* the last of its writes */
	uint32_t pid;
	size_t n, cap;
	uint64_t (*r)[2]; /* [start, end) */
	char path[];
};

struct statedir {
	struct sd_dir *dirs;
	int ndirs;
	struct ks_store *store;
	struct consumer *c;
	struct ks_delta_writer *w;
	char shadow_path[PATH_MAX];
	struct rs_tree *shadow;
	struct files_bpf *skel;
	int ifd;                 /* inotify */
	char **wds;              /* wd -> watched directory */
	size_t nwds;
	struct sd_tracks tr;
	struct pending pend[MAX_PENDING];
	struct deferred *deferred;
	bool sweep_due;          /* fallback: an overflow; everything is verified */
	uint8_t *buf, *buf2;
	uint64_t baseline_stored;
	uint8_t flags;           /* KS_DF_* of the deltas being made now */
	bool verifying;          /* reconciling: what it emits is not a change to verify */
	uint64_t verify_ts;      /* the time of what verification emits (0: now) */
	uint64_t last_record_ns; /* the last record of the probes */
	uint64_t last_flush_ns;
	uint64_t last_verify_ns;
	bool fsnotify;
	struct statedir_stats st;
};

/* A device number as the kernel encodes it (the probes' statedirs keys). */
static inline uint32_t sd_kdev(dev_t d)
{
	return (uint32_t)(major(d) << 20 | minor(d));
}

/* statedir.c: the state dir holding absolute path p, or -1. */
int sd_dir_of(struct statedir *sd, const char *p);

/* statedir_track.c: the tables (usable alone: they know nothing else of sd). */
/* The track of path, or NULL. */
struct track *sd_track_find(struct sd_tracks *tr, const char *path);
/* The track of path, made when missing; NULL (counted in tr->lost, logged) when
 * it cannot be made. */
struct track *sd_track_add(struct sd_tracks *tr, const char *path);
/* Forgets t and frees it. */
void sd_track_drop(struct sd_tracks *tr, struct track *t);
/* Every track: fn(t, ctx) for each, in no order; fn must not add or drop. */
void sd_track_each(struct sd_tracks *tr, void (*fn)(struct track *t, void *ctx), void *ctx);
/* A path seen for the inode (dev, ino), or NULL. */
const char *sd_ino_get(struct sd_tracks *tr, uint64_t dev, uint64_t ino);
/* Notes path for (dev, ino), replacing the path noted before. Returns 0, or
 * -ENOMEM (counted in tr->lost, logged). */
int sd_ino_put(struct sd_tracks *tr, uint64_t dev, uint64_t ino, const char *path);
void sd_tracks_free(struct sd_tracks *tr);
/* Counts a change the capture could not follow (what, of path) in tr->lost and
 * logs it. */
void sd_track_lose(struct sd_tracks *tr, const char *what, const char *path);

/* statedir_track.c: when paths are due for verification. */
void sd_changed(struct statedir *sd, const char *path);
void sd_make_due_at(struct statedir *sd, const char *path, bool expected, uint64_t ts);
void sd_make_due(struct statedir *sd, const char *path, bool expected);
void sd_all_due(struct statedir *sd, bool mapped_only, uint64_t ts);

/* statedir_emit.c: deltas, applied to the shadow and written. */
int sd_emit(struct statedir *sd, struct ks_delta *d, uint32_t tid, const char *path,
	    const char *path2, const void *data, size_t len);
int sd_emit_simple(struct statedir *sd, unsigned op, uint64_t ts, uint32_t pid, uint32_t tid,
		   const char *path, const char *path2, const struct ks_delta *args);
int sd_emit_content(struct statedir *sd, const char *path, int fd, const struct stat *sb,
		    uint64_t ts);

/* statedir_verify.c: the live tree against the shadow. */
int sd_open_live(struct statedir *sd, int i, const char *path, int flags);
int sd_open_shadow(struct statedir *sd, const char *path, int flags);
int sd_reconcile(struct statedir *sd, const char *path, bool recursive, int depth);
int sd_verify_all(struct statedir *sd);
int sd_verify_due(struct statedir *sd, uint64_t now, bool everything);

/* statedir_events.c: the files probes' records. */
int sd_on_record(void *ctx, const void *data, size_t size);
int sd_finish_write(struct statedir *sd, struct pending *p, uint64_t rb_off, uint64_t rb_len);
int sd_flush_deferred(struct statedir *sd);

/* statedir_probes.c: loads and attaches the files probes on p's maps. */
int sd_probes_attach(struct statedir *sd, struct probes *p, const struct statedir_opts *o,
		     const char **why);

/* statedir_notify.c: the inotify fallback. */
int sd_notify_start(struct statedir *sd);
void sd_notify_read(struct statedir *sd, uint64_t now);

#endif
