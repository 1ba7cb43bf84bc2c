/* Names for stack frames, offline. The ELF symbolizer (elfutils' libdwfl) names a
 * file offset of a module from its .symtab or .dynsym, or from separate debug
 * info found by build-id (/usr/lib/debug/.build-id) or .gnu_debuglink; the
 * trace's stack table gives the stacks, the modules and the symbols archived at
 * the end of the recording, which are preferred (the binary may be gone). */
#ifndef KSIGHT_REPLAY_SYMBOLS_H
#define KSIGHT_REPLAY_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/stack.h"
#include "replay/trace.h"

#define KS_UNKNOWN_MODULE 0xffffffffu /* a user frame the recorder could not place */

struct ks_elfsym;

/* Returns 0, -ENOMEM. */
int ks_elfsym_new(struct ks_elfsym **out);
/* Where separate debug files live (default /usr/lib/debug: DIR/.build-id/xx/
 * rest.debug, and DIR/... for .gnu_debuglink names). Returns 0, -ENAMETOOLONG,
 * -ENOMEM. */
int ks_elfsym_set_debug_dir(struct ks_elfsym *es, const char *dir);
void ks_elfsym_free(struct ks_elfsym *es);

/* Names the function at file offset off of the ELF file path whose build-id is
 * build_id (hex; "" or NULL: unknown). When the file is missing or its build-id
 * differs (rebuilt), only debug info found by build_id is used. Returns 0 with
 * name filled, -ENOENT (no file, no symbol covers off), -ENOMEM. */
int ks_elfsym_resolve(struct ks_elfsym *es, const char *path, const char *build_id,
		      uint64_t off, char *name, size_t size);
/* The same for an address in the ELF (its segments' p_vaddr), which holds in a
 * separate debug file too (file offsets do not). */
int ks_elfsym_resolve_vaddr(struct ks_elfsym *es, const char *path, const char *build_id,
			    uint64_t vaddr, char *name, size_t size);

struct ks_symtab;

/* Loads t's stack table. live: name frames the trace has no symbol for from the
 * files on this machine. Returns 0, -ENOMEM, or a segment error (t->err set). */
int ks_symtab_load(struct replay_trace *t, bool live, struct ks_symtab **out);
void ks_symtab_free(struct ks_symtab *s);
/* An empty table, and one row added to it (what ks_symtab_load does per row).
 * ks_symtab_add returns 0, -ENOMEM, or the frame decoder's error for a damaged
 * stack (format/stack.h); rows of unknown kinds are ignored. */
int ks_symtab_new(bool live, struct ks_symtab **out);
int ks_symtab_add(struct ks_symtab *s, const struct ks_stack_row *r);

/* The frames of stack id (kernel ones first, each part innermost first).
 * Returns 0, -ENOENT (no such stack: a damaged or cut trace). */
int ks_symtab_stack(const struct ks_symtab *s, uint64_t id, const struct ks_frame **f,
		    unsigned *nk, unsigned *nu);

/* The function of frame f ("name"), else "module+0xoff", else "[unknown]"; the
 * string lives as long as s. *named (may be NULL) says whether it is a name. */
const char *ks_symtab_name(struct ks_symtab *s, const struct ks_frame *f, bool *named);

/* The module's short name (file name, "[kernel]", "[unknown]"). */
const char *ks_symtab_module(const struct ks_symtab *s, uint32_t module);

/* Distinct frames named from the archive, from live files, and left unnamed. */
void ks_symtab_counts(const struct ks_symtab *s, uint64_t *archived, uint64_t *live,
		      uint64_t *unnamed);

#endif
