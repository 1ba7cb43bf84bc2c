/* Inline SVG charts for the HTML report (replay/report_html.c): fixed-size view
 * boxes that scale with the page, no script, exact values in tooltips. */
#include <math.h>
#include <string.h>

#include "replay/svg.h"

#define BARS_W 540
#define BAR_H 18
#define LABEL_W 120
#define COL_H 160
#define PAD 28

const char *svg_fmt(char buf[32], double v, const char *unit)
{
	static const char *const si[] = { "", "k", "M", "G", "T", "P" };
	static const char *const bytes[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned k = 0;

	if (!strcmp(unit, "ns")) {
		if (v >= 1e9)
			snprintf(buf, 32, "%.3g s", v / 1e9);
		else if (v >= 1e6)
			snprintf(buf, 32, "%.3g ms", v / 1e6);
		else if (v >= 1e3)
			snprintf(buf, 32, "%.3g us", v / 1e3);
		else
			snprintf(buf, 32, "%.0f ns", v);
		return buf;
	}
	if (!strcmp(unit, "%")) {
		snprintf(buf, 32, "%.1f%%", v);
		return buf;
	}
	if (!strcmp(unit, "B")) {
		while (fabs(v) >= 1024 && k < 5) {
			v /= 1024;
			k++;
		}
		snprintf(buf, 32, k ? "%.3g %s" : "%.0f %s", v, bytes[k]);
		return buf;
	}
	while (fabs(v) >= 1000 && k < 5) {
		v /= 1000;
		k++;
	}
	snprintf(buf, 32, k || v != floor(v) ? "%.3g%s%s%s" : "%.0f%s%s%s", v, si[k],
		 *unit ? " " : "", unit);
	return buf;
}

void svg_esc(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
		}
	}
}

static void open_chart(FILE *f, const char *title, int w, int h)
{
	fputs("<figure class=\"chart\"><figcaption>", f);
	svg_esc(f, title, strlen(title));
	fprintf(f, "</figcaption><svg class=\"ks-chart\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\"><title>",
		w, h, w, h);
	svg_esc(f, title, strlen(title));
	fputs("</title>", f);
}

static void close_chart(FILE *f)
{
	fputs("</svg></figure>\n", f);
}

void svg_hbars(FILE *f, const char *title, const char *const *labels, const double *v,
	       size_t n, const char *unit)
{
	double max = 0;
	char b[32];
	int h = (int)n * (BAR_H + 4) + 8;

	for (size_t i = 0; i < n; i++)
		if (v[i] > max)
			max = v[i];
	open_chart(f, title, BARS_W, h > 30 ? h : 30);
	for (size_t i = 0; i < n; i++) {
		int y = 4 + (int)i * (BAR_H + 4);
		double w = max > 0 ? v[i] / max * (BARS_W - LABEL_W - 80) : 0;

		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"lbl\">",
			LABEL_W - 6, y + 13);
		svg_esc(f, labels[i], strlen(labels[i]));
		fprintf(f, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" class=\"bar\">"
			"<title>", LABEL_W, y, w < 1 && v[i] > 0 ? 1 : w, BAR_H);
		svg_esc(f, labels[i], strlen(labels[i]));
		fprintf(f, ": %s</title></rect><text x=\"%.1f\" y=\"%d\" class=\"val\">%s</text>",
			svg_fmt(b, v[i], unit), LABEL_W + w + 5, y + 13, b);
	}
	close_chart(f);
}

/* A round step (1, 2 or 5 times a power of ten) giving at most 5 grid lines. */
static double grid_step(double max)
{
	double s = pow(10, floor(log10(max / 5))), m = max / 5 / s;

	return s * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10);
}

void svg_columns(FILE *f, const char *title, int width, const double *v, size_t n,
		 const char *unit, const char *(*xlabel)(void *ctx, size_t i), void *ctx)
{
	double max = 0, cw, step;
	char b[32];
	int x0 = 70, pw = width - x0 - 10;
	size_t every;

	for (size_t i = 0; i < n; i++)
		if (v[i] > max)
			max = v[i];
	open_chart(f, title, width, COL_H + PAD + 10);
	if (max <= 0) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"axis\">none in this trace</text>",
			x0, PAD / 2 + COL_H / 2);
		close_chart(f);
		return;
	}
	step = grid_step(max);
	for (double g = 0; g <= max * 1.0001; g += step) {
		int y = PAD / 2 + COL_H - (int)(g / max * COL_H);

		fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" class=\"grid\"/>"
			"<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"axis\">%s</text>",
			x0, width - 10, y, y, x0 - 4, y + 4, svg_fmt(b, g, unit));
	}
	cw = n ? (double)pw / (double)n : pw;
	if (cw > 48)
		cw = 48;
	every = (size_t)ceil(60.0 / cw);
	for (size_t i = 0; i < n; i++) {
		double h = v[i] / max * COL_H;
		const char *xl = xlabel(ctx, i);

		fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"col\" "
			"data-v=\"%.17g\"><title>", x0 + cw * (double)i, PAD / 2 + COL_H - h,
			cw > 2 ? cw - 1 : cw, h, v[i]);
		svg_esc(f, xl, strlen(xl));
		fprintf(f, ": %s</title></rect>", svg_fmt(b, v[i], unit));
		if (i % every == 0) {
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"axis\">", x0 + cw * (double)i,
				PAD / 2 + COL_H + 16);
			svg_esc(f, xl, strlen(xl));
			fputs("</text>", f);
		}
	}
	close_chart(f);
}
