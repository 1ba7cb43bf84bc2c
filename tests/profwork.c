/* A workload with a known CPU split for the profile tests: alpha burns three times
 * the CPU of beta, both called from main; blocker sleeps 400 ms; lib_work (in a
 * shared library, tests/profwork_lib.c) burns as much as beta. Built with frame
 * pointers, as a PIE: profwork [ROUNDS]. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>

void lib_work(unsigned long n);

static volatile unsigned long sink;

__attribute__((noinline)) static void spin(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i * 7;
}

__attribute__((noinline)) void alpha(unsigned long n)
{
	spin(3 * n);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void beta(unsigned long n)
{
	spin(n);
	__asm__ volatile("" ::: "memory");
}

/* The syscall is made here, not in libc: libc has no frame pointers, and a
 * frame-pointer unwind from inside a libc function skips its caller. */
__attribute__((noinline)) void blocker(void)
{
	struct timespec ts = { 0, 400 * 1000 * 1000 };
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_nanosleep), "D"(&ts), "S"(0)
			 : "rcx", "r11", "memory");
	(void)ret;
#else
	nanosleep(&ts, NULL);
#endif
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 200;

	blocker();
	for (unsigned long r = 0; r < rounds; r++) {
		alpha(1000000);
		beta(1000000);
		lib_work(1000000);
	}
	return 0;
}
