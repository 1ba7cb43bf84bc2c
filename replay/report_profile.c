/* replay: the report's CPU profile: computed with the rest (report_compute), the
 * PROFILE section of the text report, the "profile" and "offcpu" objects of the
 * JSON document, and the user stack of each slow syscall. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "replay/report.h"
#include "util/escape.h"
#include "util/units.h"

#define TOP_JSON 50
#define TOP_TEXT 15
#define OFF_TEXT 5
#define SLOW_STACK_MAX 64

int report_profile_compute(struct report *r, const struct analyze_opts *o)
{
	struct prof_opts po = {
		.has_pid = o->has_pid, .pid = o->pid, .from_ns = o->from_ns, .to_ns = o->to_ns,
		.live_symbols = true,
	};
	int err;

	r->prof = calloc(1, sizeof(*r->prof));
	if (!r->prof)
		return -ENOMEM;
	err = prof_compute(r->prof, r->t, &po);
	if (err) {
		free(r->prof);
		r->prof = NULL;
	}
	return err;
}

void report_profile_free(struct report *r)
{
	if (r->prof)
		prof_free(r->prof);
	free(r->prof);
	r->prof = NULL;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? round(1e4 * part / whole) / 100.0 : 0.0;
}

/* NULL on ENOMEM (jansson's constructors give NULL then; packing NULL fails). */
static json_t *top_json(struct prof_result *p, bool offcpu)
{
	struct prof_func *fn = NULL;
	uint64_t whole = offcpu ? p->off_ns : p->samples;
	json_t *list = json_array();
	size_t n = 0;

	if (!list || prof_top(p, offcpu, &fn, &n)) {
		json_decref(list);
		return NULL;
	}
	for (size_t i = 0; i < n && i < TOP_JSON; i++) {
		json_t *o = offcpu ?
			json_pack("{s:s, s:s, s:I, s:I, s:f, s:f}", "function", fn[i].function,
				  "module", fn[i].module, "self_ns", (json_int_t)fn[i].self,
				  "total_ns", (json_int_t)fn[i].total, "self_pct", pct(fn[i].self, whole),
				  "total_pct", pct(fn[i].total, whole)) :
			json_pack("{s:s, s:s, s:I, s:I, s:f, s:f}", "function", fn[i].function,
				  "module", fn[i].module, "self", (json_int_t)fn[i].self,
				  "total", (json_int_t)fn[i].total, "self_pct", pct(fn[i].self, whole),
				  "total_pct", pct(fn[i].total, whole));

		if (!o || json_array_append_new(list, o)) {
			json_decref(list);
			list = NULL;
			break;
		}
	}
	free(fn);
	return list;
}

json_t *report_json_profile(const struct report *r)
{
	struct prof_result *p = r->prof;
	json_t *top;

	if (!p)
		return json_null();
	top = top_json(p, false);
	return top ? json_pack("{s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "recorded",
			       p->profile_desc, "hz", (json_int_t)p->hz,
			       "samples", (json_int_t)p->samples, "lost", (json_int_t)p->lost,
			       "truncated", (json_int_t)p->truncated, "missing",
			       (json_int_t)p->missing, "unresolved", (json_int_t)p->unresolved,
			       "top", top) : NULL;
}

json_t *report_json_offcpu(const struct report *r)
{
	struct prof_result *p = r->prof;
	json_t *top;

	if (!p)
		return json_null();
	top = top_json(p, true);
	return top ? json_pack("{s:I, s:I, s:I, s:I, s:o}", "total_ns", (json_int_t)p->off_ns,
			       "blocked_ns", (json_int_t)p->off_blocked_ns, "preempted_ns",
			       (json_int_t)p->off_preempted_ns, "spans", (json_int_t)p->spans,
			       "top", top) : NULL;
}

json_t *report_json_slow_stack(const struct report *r, const struct slow_call *c)
{
	const char *names[SLOW_STACK_MAX];
	json_t *list = json_array();
	size_t n = r->prof ? prof_user_stack(r->prof, c->tid, c->ts, c->dur, names,
					     SLOW_STACK_MAX) : 0;

	for (size_t i = 0; list && i < n; i++)
		if (json_array_append_new(list, json_string(names[i]))) {
			json_decref(list);
			list = NULL;
		}
	return list;
}

/* The heaviest off-CPU stacks, innermost user frame and a few kernel ones. */
static void offcpu_text(FILE *f, struct prof_result *p)
{
	struct prof_line *lines = NULL;
	size_t n = 0;
	char d[KS_DUR_BUF];

	if (prof_folded(p, true, &lines, &n)) {
		fputs("  (out of memory folding the stacks)\n", f);
		return;
	}
	for (size_t shown = 0; shown < OFF_TEXT && shown < n; shown++) {
		size_t best = shown;

		for (size_t i = shown + 1; i < n; i++)
			if (lines[i].value > lines[best].value)
				best = i;
		struct prof_line t = lines[shown];
		lines[shown] = lines[best];
		lines[best] = t;
		fprintf(f, "  %9s %5.1f%%  ", ks_fmt_dur(d, lines[shown].value),
			pct(lines[shown].value, p->off_ns));
		ks_fput_escaped(f, lines[shown].text, strlen(lines[shown].text));
		fputc('\n', f);
	}
	prof_lines_free(lines, n);
}

void report_text_profile(FILE *f, const struct report *r)
{
	struct prof_result *p = r->prof;
	struct prof_func *fn = NULL;
	char d1[KS_DUR_BUF], d2[KS_DUR_BUF], d3[KS_DUR_BUF];
	size_t n = 0;

	if (p && !p->any && p->profile_desc) {
		fputs("\nPROFILE  ", f);
		ks_fput_escaped(f, p->profile_desc, strlen(p->profile_desc));
		fputc('\n', f);
	}
	if (!p || !p->any)
		return;
	fprintf(f, "\nPROFILE  %llu samples at %llu Hz, %llu lost, %llu truncated, %llu without "
		"a stack, %llu with frames outside any known file\n",
		(unsigned long long)p->samples, (unsigned long long)p->hz,
		(unsigned long long)p->lost, (unsigned long long)p->truncated,
		(unsigned long long)p->missing, (unsigned long long)p->unresolved);
	if (p->profile_desc && strstr(p->profile_desc, "missing")) {
		fputs("  recorded: ", f);
		ks_fput_escaped(f, p->profile_desc, strlen(p->profile_desc));
		fputc('\n', f);
	}
	if (p->samples && !prof_top(p, false, &fn, &n)) {
		fprintf(f, "%8s %7s %8s %7s  %-40s %s\n", "self", "%", "total", "%", "function",
			"module");
		for (size_t i = 0; i < n && i < TOP_TEXT; i++) {
			char fb[256], mb[256];

			fprintf(f, "%8llu %6.2f%% %8llu %6.2f%%  %-40s %s\n",
				(unsigned long long)fn[i].self, pct(fn[i].self, p->samples),
				(unsigned long long)fn[i].total, pct(fn[i].total, p->samples),
				ks_escape(fb, sizeof(fb), fn[i].function, strlen(fn[i].function)),
				ks_escape(mb, sizeof(mb), fn[i].module, strlen(fn[i].module)));
		}
		free(fn);
	}
	if (p->spans) {
		fprintf(f, "\nOFF-CPU  %s over %llu spans (%s blocked, %s preempted); the heaviest "
			"stacks ('ksight stacks --offcpu' lists all)\n", ks_fmt_dur(d1, p->off_ns),
			(unsigned long long)p->spans, ks_fmt_dur(d2, p->off_blocked_ns),
			ks_fmt_dur(d3, p->off_preempted_ns));
		offcpu_text(f, p);
	}
}
