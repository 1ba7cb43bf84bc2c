/* The charts of the HTML report, drawn as inline SVG: horizontal bars (a value
 * per label) and columns over time or buckets. Numbers are printed with
 * svg_fmt; every bar carries a <title> with its value as a tooltip (columns: the
 * exact value in data-v too). */
#ifndef KSIGHT_REPLAY_SVG_H
#define KSIGHT_REPLAY_SVG_H

#include <stddef.h>
#include <stdio.h>

/* Writes v in short form with unit ("1.5k calls", "12.3 MB", "4.1 ms") into
 * buf (32 bytes). unit: "" (a count), "B" (bytes), "ns" (a duration), "%", or a
 * word appended as is. Returns buf. */
const char *svg_fmt(char buf[32], double v, const char *unit);

/* Writes text with &, <, >, " and ' as entities and control bytes as '?'. */
void svg_esc(FILE *f, const char *s, size_t len);

/* A horizontal bar per label (n of them), values in unit. */
void svg_hbars(FILE *f, const char *title, const char *const *labels, const double *v,
	       size_t n, const char *unit);

/* n columns in a chart width units wide: column i is labelled xlabel(i) (a
 * static buffer) under the axis every few columns, its value v[i] in unit. */
void svg_columns(FILE *f, const char *title, int width, const double *v, size_t n,
		 const char *unit, const char *(*xlabel)(void *ctx, size_t i), void *ctx);

#endif
