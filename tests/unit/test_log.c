/* Unit tests for lib/log.c and lib/lograte.c: the escaper every log line goes through, fed
 * hostile input (every byte, broken UTF-8, lines far past the buffers). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "slipway/lograte.h"

static char *
t_escape(const char *s, size_t n)
{
	char *out = malloc(4 * n + 1);

	EXPECT_TRUE(out != NULL);
	log_escape(out, 4 * n + 1, s, n);
	return out;
}

/* Nothing a terminal acts on: no C0 byte, no DEL, no C1 in UTF-8. */
static bool
t_inert(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; p[i]; i++)
		if (p[i] < 0x20 || p[i] == 0x7f ||
		    (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] < 0xa0))
			return false;
	return true;
}

TEST(log__escape_keeps_plain_text_and_utf8)
{
	static const char s[] = "user 'ana' runs \"git-receive-pack 'web'\" "
	    "\\ caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80 \xc2\xa0";
	char *out = t_escape(s, sizeof(s) - 1);

	EXPECT_STR(s, out);
	free(out);
}

TEST(log__escape_control_bytes)
{
	static const char s[] = "a\nb\rc\td\x1b[31me\x7f\x01\x1f";
	char *out = t_escape(s, sizeof(s) - 1);

	EXPECT_STR("a\\nb\\rc\\td\\x1b[31me\\x7f\\x01\\x1f", out);
	free(out);
}

TEST(log__escape_every_byte)
{
	char all[256], one[8];

	for (int b = 0; b < 256; b++) {
		char in = (char)b, *out = t_escape(&in, 1);

		if (b == '\n' || b == '\r' || b == '\t')
			snprintf(one, sizeof(one), "\\%c",
			    b == '\n' ? 'n' : b == '\r' ? 'r' : 't');
		else if (b < 0x20 || b >= 0x7f)
			snprintf(one, sizeof(one), "\\x%02x", b);
		else
			snprintf(one, sizeof(one), "%c", b);
		EXPECT_STR(one, out);
		free(out);
		all[b] = (char)b;
	}
	/* all 256 in a row: a NUL in the middle does not end it, and no
	 * byte of 0x80..0xff forms a character with its neighbours */
	{
		char *out = t_escape(all, sizeof(all));

		EXPECT_TRUE(t_inert(out));
		EXPECT_TRUE(strstr(out, "\\x00\\x01") == out);
		EXPECT_TRUE(strstr(out, " !\"#") != NULL);
		EXPECT_TRUE(strstr(out, "~\\x7f\\x80\\x81") != NULL);
		EXPECT_TRUE(strstr(out, "\\xfe\\xff") != NULL);
		EXPECT_INT(32 * 4 - 3 * 2 + 95 + 129 * 4, strlen(out));
		free(out);
	}
}

TEST(log__escape_invalid_utf8)
{
	static const struct { const char *in, *want; } cases[] = {
		{ "\xc0\xaf", "\\xc0\\xaf" },                 /* overlong / */
		{ "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },        /* overlong */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },        /* surrogate */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" }, /* > U+10FFFF */
		{ "\xf5\x80", "\\xf5\\x80" },
		{ "\xe2\x82", "\\xe2\\x82" },                 /* cut short */
		{ "\xe2\x82x", "\\xe2\\x82x" },
		{ "\x80\xbf", "\\x80\\xbf" },                 /* lone continuations */
		{ "\xc2\x9b" "31m", "\\xc2\\x9b31m" },        /* C1 CSI */
		{ "\xc2\x85", "\\xc2\\x85" },                 /* C1 NEL */
		{ "\xc2", "\\xc2" },
		{ "ok\xe2\x82\xac\xff\xe2\x82\xac", "ok\xe2\x82\xac\\xff\xe2\x82\xac" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = t_escape(cases[i].in, strlen(cases[i].in));

		EXPECT_STR(cases[i].want, out);
		free(out);
	}
}

TEST(log__escape_long_input_and_small_buffers)
{
	size_t n = 200000;
	char *in = malloc(n), *out, small[10];

	EXPECT_TRUE(in != NULL);
	memset(in, 0x1b, n);
	out = t_escape(in, n);
	EXPECT_INT(4 * n, strlen(out));
	EXPECT_TRUE(t_inert(out));
	free(out);
	/* a buffer too small ends before an escape that does not fit */
	EXPECT_INT(8, log_escape(small, sizeof(small), in, n));
	EXPECT_STR("\\x1b\\x1b", small);
	/* nor is a character cut in two */
	EXPECT_INT(2, log_escape(small, 5, "ab\xe2\x82\xac", 5));
	EXPECT_STR("ab", small);
	EXPECT_INT(0, log_escape(small, 1, "abc", 3));
	EXPECT_STR("", small);
	EXPECT_INT(0, log_escape(small, 0, "abc", 3));
	free(in);
}

/* What an SSH client put in its command cannot start a line of its own
 * in a daemon's log, nor reach the terminal as a control sequence. */
TEST(log__lines_escape_their_arguments)
{
	static const char forged[] = "x\n2026-12-03T00:00:00Z info  sshd: "
	    "user 'admin' authenticated with key SHA256:FORGED\x1b[2J";
	int fd = open("err", O_WRONLY | O_CREAT | O_TRUNC, 0600), saved;
	struct buf b;
	size_t lines = 0;

	EXPECT_TRUE(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
	log_init("sshd", LOG_LEVEL_INFO, true);
	log_info("user '%s' runs '%s'", "eve", forged);
	log_warnx("%s", "\r\x7f");
	log_init(NULL, LOG_LEVEL_INFO, false);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	EXPECT_OK(fs_read_file(&b, "err", 1 << 20));
	for (size_t i = 0; i < b.len; i++)
		lines += b.ptr[i] == '\n';
	EXPECT_INT(2, lines);
	for (size_t i = 0; i < b.len; i++)
		EXPECT_TRUE(b.ptr[i] == '\n' ||
		    ((unsigned char)b.ptr[i] >= 0x20 && b.ptr[i] != 0x7f));
	EXPECT_TRUE(strstr(b.ptr, "sshd: user 'eve' runs 'x\\n2026-12-03T00:00:00Z "
	    "info  sshd: user 'admin' authenticated with key SHA256:FORGED"
	    "\\x1b[2J'\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "sshd: \\r\\x7f\n") != NULL);
	buf_free(&b);
}

TEST(log__lograte_one_line_per_interval)
{
	struct lograte r = { .every = 10 };
	unsigned left = 99;
	char more[64];

	EXPECT_TRUE(lograte_due(&left, &r, 100.0));
	EXPECT_INT(0, (int)left);
	lograte_more(more, sizeof(more), left);
	EXPECT_STR("", more);
	/* within the interval: counted, not logged */
	for (int i = 0; i < 5; i++)
		EXPECT_TRUE(!lograte_due(&left, &r, 100.0 + i));
	EXPECT_TRUE(!lograte_due(&left, &r, 109.9));
	EXPECT_TRUE(lograte_due(&left, &r, 110.0));
	EXPECT_INT(6, (int)left);
	lograte_more(more, sizeof(more), left);
	EXPECT_STR(" (and 6 more since the last such line)", more);
	/* the count starts again from the line */
	EXPECT_TRUE(lograte_due(&left, &r, 125.0));
	EXPECT_INT(0, (int)left);
}
