/* Syscall names (from the kernel headers of this architecture) and denet's ten
 * syscall categories, for every replay analyser and writer. */
#ifndef KSIGHT_REPLAY_SYSCALLS_H
#define KSIGHT_REPLAY_SYSCALLS_H

#include <stddef.h>
#include <stdint.h>

enum ks_cat {
	KS_CAT_FILE_IO = 0,
	KS_CAT_MEMORY,
	KS_CAT_PROCESS,
	KS_CAT_NETWORK,
	KS_CAT_TIME,
	KS_CAT_IPC,
	KS_CAT_SECURITY,
	KS_CAT_SIGNAL,
	KS_CAT_SYSTEM,
	KS_CAT_OTHER,
	KS_CAT_COUNT
};

/* Buffer size that fits any name ks_syscall_name can produce. */
#define KS_SYSCALL_NAME_MAX 32

/* Returns the name of syscall nr: a static string for the numbers this build knows,
 * else "syscall_NNN" written into buf (KS_SYSCALL_NAME_MAX bytes) and buf returned. */
const char *ks_syscall_name(uint32_t nr, char buf[KS_SYSCALL_NAME_MAX]);

/* Returns the name of syscall nr, or NULL when this build does not know it. */
const char *ks_syscall_known_name(uint32_t nr);

/* Returns the number of the syscall called name, or -1. */
int ks_syscall_nr(const char *name);

/* Returns the category of syscall nr (KS_CAT_OTHER for unknown numbers). */
enum ks_cat ks_syscall_category(uint32_t nr);

/* Returns the category of a syscall given by name (KS_CAT_OTHER when unlisted). */
enum ks_cat ks_syscall_category_by_name(const char *name);

/* Returns 1 when name has an explicit entry in the category table (even "other"). */
int ks_syscall_listed(const char *name);

/* Returns the category's JSON/denet name: "file_io", "memory", ... */
const char *ks_cat_name(enum ks_cat cat);

/* Returns one past the largest syscall number this build has a name for. */
uint32_t ks_syscall_nr_end(void);

#endif
