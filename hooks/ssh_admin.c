/*
 * Admin commands over SSH, Dokku-style, for someone with a key and no API
 * token:
 *
 *   ssh -p 2222 git@HOST apps:create shop
 *   ssh -p 2222 git@HOST config:set shop GREETING="hello world"
 *   ssh -p 2222 git@HOST keys:add < ~/.ssh/laptop.pub
 *   ssh -p 2222 git@HOST logs shop -f
 *   ssh -p 2222 git@HOST run shop -- 'echo $PORT'
 *
 * The line is split into words without a shell (hooks_words_split) and
 * the first word looked up in the client commands a key may run
 * (client_ssh_find, include/slipway/client.h); each runs in this process,
 * talking to the controller with the session's token, so it can do
 * exactly what the user could do with the CLI and nothing more.  It runs
 * as the server's user, so it reads only the channel's stdin, never a
 * path the client names: the SSH rows are forms that open none.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/client.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/hooks.h"
#include "slipway/name.h"
#include "slipway/repo.h"

#define ADMIN_WORDS_MAX 64
#define ADMIN_WORD_MAX 8192

/* The usage lines of commands run here (cmdline_set_synopsis): the SSH
 * rows', which for some differ from the CLI's. */
static const char *
admin_synopsis(const char *name)
{
	const struct cmdline_command *c = client_ssh_find(name);

	return c ? c->args : NULL;
}

/* Bytes no command line carries: C0 controls and DEL. */
static bool
admin_is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

void
hooks_words_free(char **words)
{
	for (size_t i = 0; words && words[i]; i++)
		free(words[i]);
	free(words);
}

int
hooks_words_split(char ***out, size_t *nout, const char *line, size_t max)
{
	char **w = xcalloc(max + 1, sizeof(*w));
	struct buf cur;
	size_t n = 0;
	bool in_word = false;
	int rc = 0;

	buf_init(&cur, ADMIN_WORD_MAX);
	for (const char *p = line;; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\0' || c == ' ' || c == '\t') {
			if (in_word) {
				if (n == max) {
					rc = err_set(ERR_INVALID, "more than %zu "
					    "words", max);
					goto done;
				}
				buf_puts(&cur, "");
				w[n++] = buf_detach(&cur, NULL);
				in_word = false;
			}
			if (c == '\0')
				break;
			continue;
		}
		in_word = true;
		if (c == '\'') {
			/* Quoted bytes are bytes of the word: none may be a
			 * control byte, as outside quotes. */
			for (p++; *p && *p != '\''; p++) {
				if (admin_is_control((unsigned char)*p))
					goto control;
				if ((rc = buf_putc(&cur, *p)) < 0)
					break;
			}
			if (rc == 0 && *p != '\'') {
				rc = err_set(ERR_INVALID, "a quote (') is not "
				    "closed");
				goto done;
			}
		} else if (c == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				if (admin_is_control((unsigned char)*p))
					goto control;
				if ((rc = buf_putc(&cur, *p)) < 0)
					break;
			}
			if (rc == 0 && *p != '"') {
				rc = err_set(ERR_INVALID, "a quote (\") is not "
				    "closed");
				goto done;
			}
		} else if (c == '\\') {
			if (p[1] == '\0') {
				rc = err_set(ERR_INVALID, "a '\\' ends the "
				    "command");
				goto done;
			}
			if (admin_is_control((unsigned char)p[1]))
				goto control;
			rc = buf_putc(&cur, *++p);
		} else if (admin_is_control(c)) {
			goto control;
		} else {
			rc = buf_putc(&cur, (char)c);
		}
		if (rc < 0) {
			rc = err_set(ERR_INVALID, "a word is longer than %d "
			    "bytes", ADMIN_WORD_MAX);
			goto done;
		}
	}
	*out = w;
	*nout = n;
	w = NULL;
	goto done;
control:
	rc = err_set(ERR_INVALID, "the command has a control character");
done:
	buf_free(&cur);
	hooks_words_free(w);
	return rc;
}

static void
admin_help(void)
{
	const struct cmdline_command *c;

	printf("Commands (ssh git@HOST COMMAND ARGS...; 'COMMAND --help' "
	    "for one):\n");
	for (size_t i = 0; (c = client_ssh_at(i)) != NULL; i++)
		printf("  %-14s %s\n", c->name, c->summary);
	printf("  %-14s %s\n", "help", "this list");
	printf("git: git push ssh://git@HOST:PORT/APP.git main; git clone the "
	    "same URL\n");
}

int
hooks_admin_run(const char *line, const char *user, const char *home)
{
	const struct cmdline_command *cmd;
	char **words = NULL, **argv = NULL;
	size_t n = 0;
	int rc;

	if (hooks_words_split(&words, &n, line, ADMIN_WORDS_MAX) < 0) {
		hooks_say_error("cannot read the command: %s", err_last());
		return 2;
	}
	if (n == 0 || strcmp(words[0], "help") == 0 ||
	    strcmp(words[0], "--help") == 0) {
		admin_help();
		rc = n == 0 ? 2 : 0;
		goto done;
	}
	if ((cmd = client_ssh_find(words[0])) == NULL) {
		hooks_say_error("'%.80s' is not a command here; run 'help' for "
		    "the list", words[0]);
		rc = 2;
		goto done;
	}
	/* argv[0] is the command's full name, as cli/main.c hands it. */
	argv = xcalloc(n + 2, sizeof(*argv));
	argv[0] = (char *)cmd->name;
	for (size_t i = 1; i < n; i++) {
		argv[i] = words[i];
		if (strcmp(words[i], "--help") == 0 ||
		    strcmp(words[i], "-h") == 0) {
			cmdline_print_usage(cmd);
			rc = 0;
			goto done;
		}
	}
	cmdline_set_synopsis(admin_synopsis);
	optind = 0;
	rc = cmd->run((int)n, argv);
	fflush(stdout);
	/* A destroyed app's code goes with it. */
	if (rc == 0 && strcmp(cmd->name, "apps:destroy") == 0 && n >= 2 &&
	    name_app_is_valid(words[1])) {
		int lock = -1;
		if (repo_lock(&lock, home, words[1], user) == 0) {
			if (repo_remove(home, words[1]) < 0)
				hooks_say_error("app '%s' is destroyed but its "
				    "repository stays: %s", words[1],
				    err_last());
			close(lock);
		} else {
			hooks_say_error("app '%s' is destroyed; its repository "
			    "goes with the next push of that name", words[1]);
		}
	}
done:
	free(argv);
	hooks_words_free(words);
	return rc;
}
