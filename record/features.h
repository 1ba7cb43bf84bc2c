/* What this kernel lets ksight use, each feature probed once by really loading a
 * tiny program or creating a map, and the plan `record` follows from it: the one
 * answer both the loader and `ksight doctor` give. */
#ifndef KSIGHT_FEATURES_H
#define KSIGHT_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record/btf.h"

enum feature {
	FEAT_BTF,          /* kernel BTF for CO-RE (system, cached or downloaded) */
	FEAT_TP_BTF,       /* BTF tracepoint on sys_enter */
	FEAT_RAW_TP,       /* raw tracepoint on sys_enter */
	FEAT_TRACEFS,      /* tracefs mounted (or mountable: record mounts it) */
	FEAT_TRACEPOINT,   /* classic tracepoint program on a syscall tracepoint */
	FEAT_RINGBUF,      /* BPF ring buffer, created and mapped */
	FEAT_PERFBUF,      /* perf event array with a BPF-output perf event */
	FEAT_TASK_STORAGE, /* task storage map */
	FEAT_HASH,         /* hash map (the traced set's fallback) */
	FEAT_PAGE_FAULT,   /* the exceptions:page_fault_user tracepoint (x86 only) */
	FEAT_PERF_EVENT,   /* perf-event program on the software cpu-clock */
	FEAT_HW_CYCLES,    /* hardware cycles counter (a PMU) */
	FEAT_KPROBE,       /* information only: ksight uses no kprobe */
	FEAT_FENTRY,       /* information only: ksight uses no fentry */
	FEAT_CGROUP2,      /* record --cgroup: a cgroup v2 mount and the ancestor-id helper */
	FEAT_MAX
};

enum probe_attach { ATTACH_AUTO = 0, ATTACH_TP_BTF, ATTACH_RAW_TP, ATTACH_TRACEPOINT };
enum probe_set { SET_AUTO = 0, SET_TASK_STORAGE, SET_HASH };
enum probe_transport { TRANSPORT_AUTO = 0, TRANSPORT_RINGBUF, TRANSPORT_PERFBUF };

/* What the user forces (--probe-kind, --traced-set, --transport); AUTO: let the
 * plan choose. */
struct probe_request {
	enum probe_attach attach;
	enum probe_set set;
	enum probe_transport transport;
	bool sched; /* the scheduler family too (it alone uses page faults) */
};

/* The plan: what record loads. */
struct probes_mode {
	enum probe_attach attach;
	enum probe_set set;
	enum probe_transport transport;
	bool page_faults; /* the scheduler family's page-fault program is loaded */
};

struct feature_result {
	bool probed;
	bool ok;
	bool masked;        /* KSIGHT_FEATURES_MASK named it */
	int err;            /* negative errno when !ok (-EPERM: privileges) */
	char detail[512];   /* what was tried and what happened */
	char hint[384];     /* what to do, or why it does not matter */
};

struct features_opts {
	const struct btf_opts *btf; /* BTF discovery for FEAT_BTF (doctor) */
	const char *btf_known;      /* record: BTF already discovered; this describes it */
	bool mount_tracefs;         /* record: mount tracefs if the tracepoint kind needs it */
	/* record: tp_btf is tried by loading the real probes, which report a failure
	 * with features_set_failed; the tiny probe would parse the kernel's whole BTF
	 * for its attach id, costing more than the load itself */
	bool tp_btf_by_loader;
};

struct features {
	struct features_opts o;
	uint32_t mask;
	struct feature_result r[FEAT_MAX];
	struct btf *vmlinux; /* the running kernel's BTF, for attach ids */
	int vmlinux_err;
	bool vmlinux_tried;
	char tracefs[32];    /* where tracefs is mounted, "" when nowhere */
};

/* strerror of err (negative or not), naming the kernel-internal ENOTSUPP (524)
 * that some bpf() paths return. */
const char *features_strerror(int err);

/* The name KSIGHT_FEATURES_MASK and --json use ("tp_btf") and doctor's check
 * name ("prog.tp_btf"). */
const char *feature_name(enum feature f);
const char *feature_check_name(enum feature f);

/* Reads KSIGHT_FEATURES_MASK (comma-separated feature names, or "all"). Returns
 * 0, or -EINVAL with the unknown name in why. Probes nothing yet. */
int features_init(struct features *ft, const struct features_opts *o, char *why, size_t len);
/* Probes f (once; later calls return the same answer). */
const struct feature_result *features_get(struct features *ft, enum feature f);
bool features_have(struct features *ft, enum feature f);
/* The loader found f broken after all (a real program refused): later plans
 * avoid it. */
void features_set_failed(struct features *ft, enum feature f, int err, const char *why);
/* Where tracefs is mounted ("" when nowhere), mounting it when opts allow. */
const char *features_tracefs(struct features *ft);
void features_free(struct features *ft);

/* -EINVAL with one line in why when rq can hold on no kernel (task storage with
 * a probe kind that has no BTF task pointers); else 0. */
int features_check_request(const struct probe_request *rq, char *why, size_t len);

/* The plan from the working features (have: bit 1 << FEAT_x) and the request;
 * denied: features refused for lack of privilege. Returns 0 with *out filled;
 * -EINVAL for a request that can hold on no kernel; -EPERM when no probe kind
 * can load for lack of privilege (record goes on with /proc samples only);
 * -EOPNOTSUPP when the kernel lacks what is needed. why says which, in one line. */
int features_plan_from(uint32_t have, uint32_t denied, const struct probe_request *rq,
		       struct probes_mode *out, char *why, size_t len);
/* The same, probing what the plan needs. */
int features_plan(struct features *ft, const struct probe_request *rq, struct probes_mode *out,
		  char *why, size_t len);

const char *probe_attach_name(enum probe_attach a);
const char *probe_set_name(enum probe_set s);
const char *probe_transport_name(enum probe_transport t);

#endif
