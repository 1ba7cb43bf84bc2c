/* util: overflow-checked array growth (see grow.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/grow.h"

int ks_mul_size(size_t a, size_t b, size_t *out)
{
	if (b && a > SIZE_MAX / b)
		return -EOVERFLOW;
	*out = a * b;
	return 0;
}

int ks_grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 16, bytes;
	void *nv;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -EOVERFLOW;
		ncap *= 2;
	}
	if (ks_mul_size(ncap, size, &bytes))
		return -EOVERFLOW;
	nv = realloc(*v, bytes);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}
