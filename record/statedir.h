/* State directory capture: a baseline of each --state-dir when recording starts,
 * then every change the traced processes make under them (the files probes, or
 * inotify when BPF cannot be used), as deltas in the trace; each change is
 * checked against a shadow copy rebuilt from the deltas, and what differs is
 * stored as a correction, so restoring the trace gives the live tree exactly. */
#ifndef KSIGHT_STATEDIR_H
#define KSIGHT_STATEDIR_H

#include <stdbool.h>
#include <stdint.h>

struct consumer;
struct ks_store;
struct probes;
struct statedir;

struct statedir_opts {
	char **dirs;          /* as given */
	int ndirs;
	bool fallback;        /* inotify when the probes cannot be used */
	uint32_t max_payload; /* bytes of one syscall carried by the probe (0: 1 MiB) */
	uint64_t ring_bytes;  /* the probes' wake-up threshold is a quarter of it */
};

/* Checks and canonicalizes the dirs, writes their baseline into store (which the
 * caller must own for writing: before consumer_start) and commits, then sets up
 * the capture: the files probes on p's maps (p may be NULL), or inotify when they
 * cannot be used and o->fallback is set (said on stderr). On failure msg holds
 * one line for the user. Returns 0 or a negative errno. */
int statedir_start(const struct statedir_opts *o, struct ks_store *store, struct probes *p,
		   struct statedir **out, char *msg, size_t msglen);
/* Routes the probes' records to the capture, and its later puts through c.
 * Returns 0 or a negative errno. */
int statedir_attach(struct statedir *sd, struct consumer *c);
/* An fd to poll (inotify), or -1. */
int statedir_poll_fd(struct statedir *sd);
/* Work of the drain thread after each drain: due verifications, inotify events,
 * unfinished writes. Returns 0 or a negative error. */
int statedir_tick(struct statedir *sd, uint64_t now_ns);
/* With everything drained, before consumer_finish: verifies the whole of each
 * state dir against the deltas, stores corrections, writes the capture's figures
 * into the trace metadata. Returns 0 or a negative error. */
int statedir_finish(struct statedir *sd);
/* Frees sd and removes its shadow copy (NULL is fine). */
void statedir_free(struct statedir *sd);

/* Bounded recording, drain thread. Puts the deltas waiting for their pack;
 * returns the sequence of the next delta: where the checkpoint begins. */
uint64_t statedir_checkpoint_begin(struct statedir *sd);
/* Writes the state dirs as recorded so far (the shadow copy) as baseline deltas
 * at ts, so that a restore can start from them. Content stored before (by the
 * epoch before, which stays while this one is written) is referred to, not
 * stored again: its stored bytes in *reused; the epoch's later deltas refer only
 * to what this checkpoint did or they store. Returns 0 or a negative error. */
int statedir_checkpoint(struct statedir *sd, uint64_t ts, uint64_t *reused);
/* Puts the deltas waiting for their pack (sd may be NULL). Returns 0 or an error. */
int statedir_flush(struct statedir *sd);

struct statedir_stats {
	uint64_t syscall_bytes;  /* bytes the traced write-family syscalls wrote */
	uint64_t stored_bytes;   /* key + value bytes of deltas after the baseline */
	uint64_t baseline_bytes; /* same, of the baseline */
	uint64_t deltas;
	uint64_t corrections;    /* deltas that verification had to add */
	uint64_t readback_bytes; /* bytes read back from files (dirty ranges) */
	uint64_t lost;           /* changes or links not followed for lack of memory:
				    file-capture losses, like the probes' KS_DROP_FILE */
	bool fsnotify;
};
void statedir_get_stats(struct statedir *sd, struct statedir_stats *st);

#endif
