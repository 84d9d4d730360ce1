/*
 * What a person sees during a build, Heroku-style, and the build's log:
 *
 *   -----> Building 3f2a9c1 (build 4 of shop)
 *   -----> Shell app detected
 *          a line the buildpack printed
 *   -----> Slug 14.2 MB, 1034 files (0.31s)
 *    !     Build failed: the reason
 *
 * Every line goes to the output (stderr, which git sends back as
 * "remote:" lines) and, when there is one, to the log file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder_int.h"
#include "slipway/clock.h"
#include "slipway/proc.h"

static void
out_write(struct builder_out *bo, const char *prefix, const char *text)
{
	char line[PROC_LINE_MAX + 64];
	int n;

	n = snprintf(line, sizeof(line), "%s%s\n", prefix, text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (bo->out) {
		fwrite(line, 1, (size_t)n, bo->out);
		fflush(bo->out);
	}
	/* The log is best effort: a full disk must not fail the build. */
	if (bo->log_fd >= 0 && proc_write_all(bo->log_fd, line, (size_t)n) < 0)
		bo->log_fd = -1;
}

void
builder_say(struct builder_out *bo, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	out_write(bo, "-----> ", text);
}

void
builder_warn(struct builder_out *bo, const char *fmt, ...)
{
	char text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	out_write(bo, " !     ", text);
}

void
builder_line(struct builder_out *bo, const char *line)
{
	/* Buildpacks print their own arrows and indents (Heroku's
	 * convention); anything else is indented under the stage. */
	if (strncmp(line, "----->", 6) == 0 || strncmp(line, "       ", 7) == 0 ||
	    strncmp(line, " !     ", 7) == 0)
		out_write(bo, "", line);
	else
		out_write(bo, "       ", line);
}

void
builder_stage_begin(struct builder_out *bo)
{
	bo->stage_t0 = clock_mono();
}

double
builder_stage_end(struct builder_out *bo, const char *name)
{
	double s = clock_mono() - bo->stage_t0;
	size_t n = strlen(bo->timings);

	snprintf(bo->timings + n, sizeof(bo->timings) - n, "%s%s %.2fs",
	    n ? ", " : "", name, s);
	return s;
}

void
builder_size_format(char *out, size_t len, uint64_t bytes)
{
	if (bytes >= 1000 * 1000)
		snprintf(out, len, "%.1f MB", (double)bytes / 1e6);
	else if (bytes >= 1000)
		snprintf(out, len, "%.1f KB", (double)bytes / 1e3);
	else
		snprintf(out, len, "%u bytes", (unsigned)bytes);
}
