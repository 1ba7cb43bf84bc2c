/* cli: the CPU profile's part of `ksight record` (see cli/record_profile.h): the
 * recorder library captures, the replay library's symbolizer names, and this
 * file, above both, joins them. */
#include <stdio.h>
#include <string.h>

#include "cli/record_profile.h"
#include "replay/symbols.h"
#include "util/clock.h"
#include "util/log.h"

struct profile *record_profile_start(unsigned hz, bool offcpu, struct profile_kallsyms *ks,
				     struct probes *p, struct consumer *c)
{
	struct profile_opts po = { .hz = hz, .offcpu = offcpu, .kallsyms = ks };
	const char *what = "", *missing = "";
	struct profile *pf = NULL;
	char line[768];
	int err;

	err = profile_start(&po, p, c, &pf, &what, &missing);
	if (missing[0])
		ks_debug("CPU profile: %s; recording without it", missing);
	snprintf(line, sizeof(line), "%s%s%s", err ? "off" : what, missing[0] ? "; missing: " : "",
		 missing);
	consumer_put(c, KS_DB_META, "profile", 7, line, strlen(line));
	if (!err)
		ks_debug("CPU profile: %s", what);
	return err ? NULL : pf;
}

static int resolve_symbol(void *ctx, const char *path, const char *build_id, uint64_t off,
			  char *name, size_t size)
{
	return ks_elfsym_resolve(ctx, path, build_id, off, name, size);
}

static void put_u64(struct consumer *c, const char *key, uint64_t val)
{
	char v[32];

	snprintf(v, sizeof(v), "%llu", (unsigned long long)val);
	consumer_put(c, KS_DB_META, key, strlen(key), v, strlen(v));
}

void record_profile_finish(struct profile *pf, struct consumer *c, bool archive)
{
	struct profile_stats ps;
	struct ks_elfsym *es = NULL;
	const char *event;
	uint64_t t0 = ks_mono_ns();
	int err;

	if (!pf)
		return;
	while (consumer_drain(c) > 0)
		;
	if (archive && !ks_elfsym_new(&es)) {
		err = profile_archive(pf, resolve_symbol, es);
		if (err)
			ks_error("cannot archive the symbols of the stacks: %s", strerror(-err));
	}
	ks_elfsym_free(es);
	profile_get_stats(pf, &ps);
	ks_debug("CPU profile: %llu samples, %llu off-CPU spans, %llu stacks, %llu modules, "
		 "%llu symbols archived in %.1f ms, %llu frames unnamed",
		 (unsigned long long)ps.samples, (unsigned long long)ps.offcpu,
		 (unsigned long long)ps.stacks, (unsigned long long)ps.modules,
		 (unsigned long long)ps.symbols, (ks_mono_ns() - t0) / 1e6,
		 (unsigned long long)ps.unnamed);
	put_u64(c, "profile_hz", profile_hz(pf, &event));
	consumer_put(c, KS_DB_META, "profile_event", 13, event, strlen(event));
	put_u64(c, "profile_samples", ps.samples);
	put_u64(c, "profile_offcpu", ps.offcpu);
	put_u64(c, "profile_truncated", ps.ktrunc + ps.utrunc);
	put_u64(c, "profile_missing", ps.missing);
	put_u64(c, "profile_unresolved", ps.unresolved);
	put_u64(c, "profile_symbols", ps.symbols);
	put_u64(c, "profile_unnamed", ps.unnamed);
	put_u64(c, "profile_symbolize_us", (ks_mono_ns() - t0) / 1000);
}
