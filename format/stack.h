/* The frames of one stack in the stack table (KS_KIND_STACK rows, KS_STACK_FRAMES):
 * a compact byte string of (module, offset) pairs, kernel frames first, each part
 * innermost first. */
#ifndef KSIGHT_FORMAT_STACK_H
#define KSIGHT_FORMAT_STACK_H

#include <stddef.h>
#include <stdint.h>

#define KS_FRAMES_MAX 254 /* kernel + user frames of one stack */

struct ks_frame {
	uint32_t module; /* KS_KERNEL_MODULE, or a module id of the stack table */
	uint32_t _pad;
	uint64_t off;    /* kernel: the address; a file: the file offset */
};

/* Encodes nk kernel then nu user frames into buf (cap bytes). Layout: varint nk,
 * varint nu, then per frame varint module and the zigzag varint of its offset
 * against the previous frame's of the same module (0 before the first), which
 * keeps nearby kernel addresses short. Returns the bytes written, -EINVAL (over
 * KS_FRAMES_MAX frames), -ENOSPC (cap too small). */
int ks_frames_encode(const struct ks_frame *f, unsigned nk, unsigned nu, uint8_t *buf,
		     size_t cap);

/* Decodes len bytes into f (room for KS_FRAMES_MAX frames), *nk and *nu. Trusts
 * nothing. Returns 0, -KS_ETOOBIG (too many frames), -KS_EVARINT, -KS_ECOUNT
 * (cut short), -KS_ETRAILING (bytes after the last frame), -KS_ERANGE (a module id
 * over 32 bits). */
int ks_frames_decode(const uint8_t *buf, size_t len, struct ks_frame *f, unsigned *nk,
		     unsigned *nu);

#endif
