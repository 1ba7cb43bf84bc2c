/* The shared library of tests/profwork.c: a function that burns CPU. */
static volatile unsigned long lib_sink;

__attribute__((noinline)) void lib_work(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		lib_sink += i * 3;
	__asm__ volatile("" ::: "memory");
}
