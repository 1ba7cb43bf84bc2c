/* The report's files: files[] in the JSON document and the FILES table. */
#include <jansson.h>
#include <stdio.h>

#include "replay/report.h"
#include "util/escape.h"
#include "util/units.h"

#define FILES_SHOWN 15

json_t *report_json_files(const struct report *r)
{
	const struct files_analysis *f = &r->files;
	json_t *list = json_array();

	for (size_t i = 0; list && i < f->nsorted; i++) {
		const struct file_stat *s = f->sorted[i];
		const struct fdt_object *o = files_object(f, s);
		json_t *e = json_pack("{s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
				      "path", report_json_text(o->name, o->name_len),
				      "opens", (json_int_t)s->opens, "reads", (json_int_t)s->reads,
				      "read_bytes", (json_int_t)s->read_bytes,
				      "writes", (json_int_t)s->writes,
				      "write_bytes", (json_int_t)s->write_bytes,
				      "errors", (json_int_t)s->errors,
				      "time_ns", (json_int_t)s->time_ns);

		if (!e || json_array_append_new(list, e)) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

void report_text_files(FILE *out, const struct report *r)
{
	const struct files_analysis *f = &r->files;
	size_t shown = f->nsorted < FILES_SHOWN ? f->nsorted : FILES_SHOWN;
	char d[KS_DUR_BUF];

	if (!f->have_args)
		return;
	fprintf(out, "\nFILES: %zu", f->nsorted);
	if (f->nsorted > shown)
		fprintf(out, ", the %zu with the most syscall time shown (--json lists all)", shown);
	fputc('\n', out);
	if (!shown)
		return;
	fprintf(out, "%10s %7s %9s %12s %9s %12s %7s  %s\n", "time", "opens", "reads",
		"read bytes", "writes", "write bytes", "errors", "path");
	for (size_t i = 0; i < shown; i++) {
		const struct file_stat *s = f->sorted[i];
		const struct fdt_object *o = files_object(f, s);

		fprintf(out, "%10s %7llu %9llu %12llu %9llu %12llu %7llu  ",
			ks_fmt_dur(d, s->time_ns), (unsigned long long)s->opens,
			(unsigned long long)s->reads, (unsigned long long)s->read_bytes,
			(unsigned long long)s->writes, (unsigned long long)s->write_bytes,
			(unsigned long long)s->errors);
		ks_fput_escaped(out, o->name, o->name_len);
		fputc('\n', out);
	}
}
