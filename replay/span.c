/* A trace's time range (span.h): from the metadata, else from the events. */
#include "format/event.h"
#include "replay/span.h"

static void widen(struct replay_span *s, uint64_t first, uint64_t last)
{
	if (!s->any || first < s->first)
		s->first = first;
	if (!s->any || last > s->last)
		s->last = last;
	s->any = true;
}

void replay_span_header(struct replay_span *s, const struct ks_seg_header *hdr)
{
	if (hdr->count)
		widen(s, hdr->first_ts, hdr->last_ts);
}

void replay_span_rows(struct replay_span *s, const struct ks_seg_header *hdr,
		      const void *rows)
{
	const struct ks_syscall *r = rows;

	replay_span_header(s, hdr);
	if (hdr->kind != KS_KIND_SYSCALL)
		return;
	for (uint32_t i = 0; i < hdr->count; i++)
		if (!(r[i].flags & KS_SYSF_NORET) && r[i].ts + r[i].dur > s->last)
			s->last = r[i].ts + r[i].dur;
}

uint64_t replay_start_ns(const struct replay_meta *m, const struct replay_span *s)
{
	return m->have & RM_START ? m->start_ns : s->any ? s->first : 0;
}

uint64_t replay_end_ns(const struct replay_meta *m, const struct replay_span *s)
{
	uint64_t start = replay_start_ns(m, s);
	uint64_t end = m->have & RM_END ? m->end_ns : s->any ? s->last : start;

	return end < start ? start : end;
}

bool replay_duration(const struct replay_meta *m, const struct replay_span *s, uint64_t *ns,
		     bool *derived)
{
	*derived = !(m->have & RM_START && m->have & RM_END);
	*ns = 0;
	if ((!(m->have & RM_START) || !(m->have & RM_END)) && !s->any)
		return false;
	*ns = replay_end_ns(m, s) - replay_start_ns(m, s);
	return true;
}
