/* Where the traced processes' code lives: each process's executable mappings
 * (from /proc/PID/maps, read when the process is first sampled and again after an
 * exec or a miss) and the table of the files mapped (modules), each kept open so
 * it can be symbolized at the end of the recording even if it was deleted. The
 * kernel's symbols are snapshotted from /proc/kallsyms. */
#ifndef KSIGHT_RECORD_PROCMAPS_H
#define KSIGHT_RECORD_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PM_UNKNOWN_MODULE 0xffffffffu /* a user address in no known mapping */
#define PM_MAX_SEGS 8

struct pm_module {
	uint32_t id;        /* >= 1 (0 is the kernel) */
	bool dirty;         /* new, or its file found since the caller last wrote it */
	int fd;             /* the file, opened while mapped; -1 for [vdso] and the like */
	uint64_t dev, ino;
	char *path;         /* as /proc/PID/maps names it */
	char build_id[41];  /* hex, "" when the file has none */
	/* its loadable segments (file offset -> address in the ELF), so frames stay
	 * resolvable in a separate debug file, whose offsets differ */
	struct pm_seg { uint64_t off, vaddr, size; } seg[PM_MAX_SEGS];
	unsigned nseg;
};

struct pmaps;

/* Returns 0, -ENOMEM. */
int pmaps_new(struct pmaps **out);
void pmaps_free(struct pmaps *pm);

/* Places addr of process pid in a module: *module and *off (the file offset).
 * Reads the process's maps the first time, and again when addr is in none of
 * them (at most every 5 ms). Returns 0, -ENOENT (in no file mapping, or the
 * process is gone), -ENOMEM. */
int pmaps_place(struct pmaps *pm, uint32_t pid, uint64_t addr, uint32_t *module, uint64_t *off);

/* The module of the file whose GNU build-id is id (20 bytes), as the kernel
 * names user frames with BPF_F_USER_BUILD_ID: a module with no file yet when no
 * process's maps showed it so far (the file is attached when one does).
 * Returns 0, -ENOMEM. */
int pmaps_module_by_build_id(struct pmaps *pm, const unsigned char *id, uint32_t *module);

/* The next module that is new or got its file since the last call (clearing
 * the mark), or NULL. */
struct pm_module *pmaps_next_dirty(struct pmaps *pm);

/* Makes sure the maps held for process pid are those of its address space mm
 * (the kernel's mm pointer, as the sampling program reports it): read now when
 * there are none, or they were read for another mm (an exec came between).
 * Returns 0 when pid's maps are held, -ENOENT (gone), -ENOMEM. */
int pmaps_sync(struct pmaps *pm, uint32_t pid, uint64_t mm);

/* The process exited: its maps are freed (a late event of it finds it gone). */
void pmaps_drop(struct pmaps *pm, uint32_t pid);

/* The process's mappings are stale (it exec'd) or gone (it exited): read them
 * again at its next sample. */
void pmaps_forget(struct pmaps *pm, uint32_t pid);

/* The module table: ids 1..n. Returns NULL when id is out of range. */
struct pm_module *pmaps_module(struct pmaps *pm, uint32_t id);
size_t pmaps_nmodules(const struct pmaps *pm);

/* Kernel symbols: a snapshot of /proc/kallsyms's text symbols. */
struct ksyms;
/* Reads f (/proc/kallsyms, opened while the recorder had its privileges: the
 * kernel decides at open whether addresses are shown) and closes it. Returns 0,
 * -EINVAL (f NULL), -EPERM (addresses hidden: kptr_restrict), -ENOMEM. */
int ksyms_load(FILE *f, struct ksyms **out);
/* The function holding addr ("name" or "name [module]"), or NULL. */
const char *ksyms_find(const struct ksyms *k, uint64_t addr);
void ksyms_free(struct ksyms *k);

#endif
