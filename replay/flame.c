/* replay: the SVG flame graph writer (see replay/flame.h). The folded lines make
 * a tree (children merged by name, widths proportional to weight); each frame is
 * an SVG group carrying its place as fractions, which the inline script rescales
 * to zoom. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replay/flame.h"
#include "util/grow.h"

#define WIDTH 1200.0
#define FRAME_H 16
#define PAD_TOP 50
#define PAD_BOTTOM 30
#define MIN_W 0.1 /* px: narrower frames are left out */

struct node {
	const char *name; /* into the line's text */
	size_t name_len;
	uint64_t value;
	size_t first_child, next_sibling, last_child; /* indexes, 0: none */
};

struct tree {
	struct node *v;
	size_t n, cap;
	unsigned depth;
};

static size_t node_new(struct tree *t, const char *name, size_t len)
{
	if (KS_GROW(&t->v, &t->cap, t->n + 1))
		return 0;
	t->v[t->n] = (struct node){ .name = name, .name_len = len };
	return t->n++;
}

static size_t child_get(struct tree *t, size_t parent, const char *name, size_t len)
{
	size_t c = t->v[parent].last_child, k;

	/* lines come sorted: a shared prefix is the last child */
	if (c && t->v[c].name_len == len && !memcmp(t->v[c].name, name, len))
		return c;
	for (c = t->v[parent].first_child; c; c = t->v[c].next_sibling)
		if (t->v[c].name_len == len && !memcmp(t->v[c].name, name, len))
			return c;
	k = node_new(t, name, len);
	if (!k)
		return 0;
	if (t->v[parent].last_child)
		t->v[t->v[parent].last_child].next_sibling = k;
	else
		t->v[parent].first_child = k;
	t->v[parent].last_child = k;
	return k;
}

static int build(struct tree *t, const struct prof_line *lines, size_t n)
{
	if (node_new(t, "all", 3) != 0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *p = lines[i].text;
		size_t cur = 0;
		unsigned depth = 0;

		t->v[0].value += lines[i].value;
		while (*p) {
			const char *e = strchr(p, ';');
			size_t len = e ? (size_t)(e - p) : strlen(p);

			cur = child_get(t, cur, p, len);
			if (!cur)
				return -ENOMEM;
			t->v[cur].value += lines[i].value;
			depth++;
			p += len + (e ? 1 : 0);
		}
		if (depth > t->depth)
			t->depth = depth;
	}
	return 0;
}

static void put_escaped(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		switch (c) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			if (c < 0x20)
				fputc('?', f);
			else
				fputc(c, f);
		}
	}
}

/* A warm colour from the name, stable across runs (flamegraph.pl's palette). */
static void color(const char *name, size_t len, unsigned *r, unsigned *g, unsigned *b)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	*r = 205 + (h & 0x3f) % 50;
	*g = (h >> 8) % 230;
	*b = (h >> 16) % 55;
}

static const char script[] =
	"<script type=\"text/ecmascript\"><![CDATA[\n"
	"var W = %g, frames, det, matchedtxt, zoomed = null;\n"
	"function init() {\n"
	"  frames = document.querySelectorAll('g.f');\n"
	"  det = document.getElementById('details');\n"
	"  matchedtxt = document.getElementById('matched');\n"
	"  frames.forEach(function (g) {\n"
	"    g.addEventListener('click', function (e) { zoom(g); e.stopPropagation(); });\n"
	"    g.addEventListener('mouseover', function () { det.textContent = g.querySelector('title').textContent; });\n"
	"    g.addEventListener('mouseout', function () { det.textContent = ' '; });\n"
	"  });\n"
	"  document.getElementById('reset').addEventListener('click', reset);\n"
	"  document.getElementById('search').addEventListener('click', search);\n"
	"  relabel();\n"
	"}\n"
	"function place(g, x, w) {\n"
	"  var r = g.querySelector('rect'), t = g.querySelector('text');\n"
	"  r.setAttribute('x', x); r.setAttribute('width', Math.max(w, 0));\n"
	"  t.setAttribute('x', x + 3);\n"
	"  g.style.display = w < 0.1 ? 'none' : '';\n"
	"}\n"
	"function relabel() {\n"
	"  frames.forEach(function (g) {\n"
	"    var w = +g.querySelector('rect').getAttribute('width'), t = g.querySelector('text');\n"
	"    var name = g.getAttribute('data-name'), n = Math.floor((w - 6) / 7);\n"
	"    t.textContent = n < 3 ? '' : (name.length <= n ? name : name.substr(0, n - 2) + '..');\n"
	"  });\n"
	"}\n"
	"function zoom(z) {\n"
	"  var zx = +z.getAttribute('data-x'), zw = +z.getAttribute('data-w'), zd = +z.getAttribute('data-d');\n"
	"  frames.forEach(function (g) {\n"
	"    var x = +g.getAttribute('data-x'), w = +g.getAttribute('data-w'), d = +g.getAttribute('data-d');\n"
	"    var inside = x >= zx - 1e-12 && x + w <= zx + zw + 1e-12;\n"
	"    var above = d < zd && x <= zx + 1e-12 && x + w >= zx + zw - 1e-12;\n"
	"    if (d >= zd && inside) { place(g, 10 + (x - zx) / zw * W, w / zw * W); g.style.opacity = ''; }\n"
	"    else if (above) { place(g, 10, W); g.style.opacity = '0.5'; }\n"
	"    else g.style.display = 'none';\n"
	"  });\n"
	"  zoomed = z; document.getElementById('reset').style.opacity = 1; relabel();\n"
	"}\n"
	"function reset() {\n"
	"  frames.forEach(function (g) {\n"
	"    place(g, 10 + +g.getAttribute('data-x') * W, +g.getAttribute('data-w') * W); g.style.opacity = '';\n"
	"  });\n"
	"  zoomed = null; document.getElementById('reset').style.opacity = 0; relabel();\n"
	"}\n"
	"function search() {\n"
	"  var term = prompt('Search for (regular expression):', '');\n"
	"  var re, cover = [], total = 0;\n"
	"  frames.forEach(function (g) { g.querySelector('rect').style.fill = ''; });\n"
	"  if (!term) { matchedtxt.textContent = ' '; return; }\n"
	"  try { re = new RegExp(term); } catch (e) { matchedtxt.textContent = 'bad expression'; return; }\n"
	"  frames.forEach(function (g) {\n"
	"    if (!re.test(g.getAttribute('data-name'))) return;\n"
	"    g.querySelector('rect').style.fill = 'rgb(230,0,230)';\n"
	"    var x = +g.getAttribute('data-x'), w = +g.getAttribute('data-w');\n"
	"    for (var i = 0; i < cover.length; i++) if (x >= cover[i][0] && x + w <= cover[i][1] + 1e-12) return;\n"
	"    cover.push([x, x + w]); total += w;\n"
	"  });\n"
	"  matchedtxt.textContent = 'Matched: ' + (100 * total).toFixed(1) + '%%';\n"
	"}\n"
	"window.addEventListener('load', init);\n"
	"]]></script>\n";

struct writer {
	FILE *f;
	const struct tree *t;
	const struct flame_opts *o;
	double total;
	unsigned height;
};

static void emit(struct writer *w, size_t k, double x, unsigned depth)
{
	const struct node *nd = &w->t->v[k];
	double frac = nd->value / w->total, px = frac * WIDTH;
	unsigned r, g, b;
	double y = w->height - PAD_BOTTOM - (depth + 1) * FRAME_H;

	if (px < MIN_W)
		return;
	color(nd->name, nd->name_len, &r, &g, &b);
	fprintf(w->f, "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-d=\"%u\" data-name=\"",
		x, frac, depth);
	put_escaped(w->f, nd->name, nd->name_len);
	fputs("\"><title>", w->f);
	put_escaped(w->f, nd->name, nd->name_len);
	fprintf(w->f, " (%.15g %s, %.2f%%)</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
		"height=\"%d\" fill=\"rgb(%u,%u,%u)\" rx=\"2\" ry=\"2\"/><text x=\"%.2f\" y=\"%.1f\">",
		nd->value / w->o->unit_scale, w->o->unit, 100.0 * frac,
		10 + x * WIDTH, y, px, FRAME_H - 1, r, g, b, 10 + x * WIDTH + 3, y + 11.5);
	if (w->o->inline_id) {
		/* the label the script would set: as many 7 px characters as fit */
		size_t fit = px > 6 ? (size_t)((px - 6) / 7) : 0;

		if (fit >= 3 && nd->name_len <= fit) {
			put_escaped(w->f, nd->name, nd->name_len);
		} else if (fit >= 3) {
			put_escaped(w->f, nd->name, fit - 2);
			fputs("..", w->f);
		}
	}
	fputs("</text></g>\n", w->f);
	for (size_t c = nd->first_child; c; c = w->t->v[c].next_sibling) {
		emit(w, c, x, depth + 1);
		x += w->t->v[c].value / w->total;
	}
}

int flame_write(FILE *f, const struct prof_line *lines, size_t n, const struct flame_opts *o)
{
	struct tree t = { 0 };
	struct writer w = { .f = f, .t = &t, .o = o };
	int err = build(&t, lines, n);

	if (err) {
		free(t.v);
		return err;
	}
	w.total = t.v[0].value ? (double)t.v[0].value : 1.0;
	w.height = PAD_TOP + PAD_BOTTOM + (t.depth + 1) * FRAME_H;
	if (o->inline_id) {
		fprintf(f, "<svg class=\"ks-flame\" id=\"%s\" width=\"%d\" height=\"%u\" "
			"viewBox=\"0 0 %d %u\" xmlns=\"http://www.w3.org/2000/svg\">\n<style>"
			"#%s text{font-family:monospace;font-size:12px;fill:#000}"
			"#%s g.f:hover rect{stroke:#000;stroke-width:0.5}</style>\n",
			o->inline_id, (int)WIDTH + 20, w.height, (int)WIDTH + 20, w.height, o->inline_id,
			o->inline_id);
		fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%u\" fill=\"#f8f8f0\"/>\n"
			"<text x=\"610\" y=\"24\" text-anchor=\"middle\" style=\"font-size:17px\">",
			(int)WIDTH + 20, w.height);
		put_escaped(f, o->title, strlen(o->title));
		fputs("</text>\n", f);
		emit(&w, 0, 0.0, 0);
		fputs("</svg>\n", f);
		free(t.v);
		return ferror(f) ? -EIO : 0;
	}
	fprintf(f, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%d\" height=\"%u\" viewBox=\"0 0 %d %u\" "
		"xmlns=\"http://www.w3.org/2000/svg\">\n"
		"<style type=\"text/css\">text { font-family: monospace; font-size: 12px; fill: #000; }"
		" g.f:hover rect { stroke: #000; stroke-width: 0.5; cursor: pointer; }"
		" .btn { cursor: pointer; fill: #33a; }</style>\n",
		(int)WIDTH + 20, w.height, (int)WIDTH + 20, w.height);
	fprintf(f, script, WIDTH);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%u\" fill=\"#f8f8f0\"/>\n",
		(int)WIDTH + 20, w.height);
	fputs("<text x=\"610\" y=\"24\" text-anchor=\"middle\" style=\"font-size:17px\">", f);
	put_escaped(f, o->title, strlen(o->title));
	fputs("</text>\n<text id=\"reset\" class=\"btn\" x=\"10\" y=\"24\" style=\"opacity:0\">"
	      "Reset Zoom</text>\n<text id=\"search\" class=\"btn\" x=\"1110\" y=\"24\">Search"
	      "</text>\n", f);
	fprintf(f, "<text id=\"details\" x=\"10\" y=\"%u\"> </text>\n"
		"<text id=\"matched\" x=\"1110\" y=\"%u\"> </text>\n", w.height - 10, w.height - 10);
	emit(&w, 0, 0.0, 0);
	fputs("</svg>\n", f);
	free(t.v);
	return ferror(f) ? -EIO : 0;
}
