/* The progress line of backup and restore (backup_int.h): bytes and
 * entries so far, rewritten in place on a terminal, never in a log. */
#include <stdio.h>

#include "backup_int.h"

static double
progress_mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

static void
progress_show(struct backup_progress *p)
{
	if (p->total_entries)
		fprintf(stderr, "\r%s %llu/%llu entries, %.1f/%.1f MiB   ",
		    p->verb, (unsigned long long)p->entries,
		    (unsigned long long)p->total_entries,
		    progress_mib(p->bytes), progress_mib(p->total_bytes));
	else
		fprintf(stderr, "\r%s %llu entries, %.1f MiB   ", p->verb,
		    (unsigned long long)p->entries, progress_mib(p->bytes));
	p->shown = true;
}

void
backup_progress_tick(struct backup_progress *p, uint64_t bytes, bool entry)
{
	struct timespec now;

	if (p == NULL)
		return;
	p->bytes += bytes;
	if (entry)
		p->entries++;
	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (p->shown && (now.tv_sec - p->last.tv_sec) * 1000000000L +
	    (now.tv_nsec - p->last.tv_nsec) < 100000000L)
		return;
	p->last = now;
	progress_show(p);
}

void
backup_progress_end(struct backup_progress *p)
{
	if (p == NULL || !p->on)
		return;
	progress_show(p);
	fputc('\n', stderr);
	p->shown = false;
}
