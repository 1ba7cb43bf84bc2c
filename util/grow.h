/* util: the one growth helper for arrays that grow by appending, and their sort. */
#ifndef KSIGHT_UTIL_GROW_H
#define KSIGHT_UTIL_GROW_H

#include <stddef.h>
#include <stdlib.h>

/* Makes *v (of *cap elements of size bytes) hold at least need elements,
 * doubling from 16. *v and *cap are unchanged on failure. Returns 0, -ENOMEM,
 * or -EOVERFLOW when need * size does not fit in a size_t. */
int ks_grow(void **v, size_t *cap, size_t need, size_t size);

/* ks_grow for a typed pointer: KS_GROW(&arr, &cap, n + 1). */
#define KS_GROW(pp, capp, need) ks_grow((void **)(pp), (capp), (need), sizeof(**(pp)))

/* a * b, or -EOVERFLOW: the size of a fresh allocation of a elements. */
int ks_mul_size(size_t a, size_t b, size_t *out);

/* qsort that accepts an empty array (NULL, 0), which qsort itself may not be
 * given: every array of ksight is sorted through it. */
static inline void ks_qsort(void *base, size_t n, size_t size,
			    int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

#endif
