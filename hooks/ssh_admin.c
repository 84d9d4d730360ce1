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
 * the first word looked up in a fixed table; each entry runs the CLI's
 * own command function (controller/cmd_*.c) in this process, talking to
 * the controller with the session's token, so it can do exactly what the
 * user could do with the CLI and nothing more.  It runs as the server's
 * user, so it reads only the channel's stdin, never a path the client
 * names (admin_table).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/cli.h"
#include "slipway/cmdline.h"
#include "slipway/controller.h"
#include "slipway/err.h"
#include "slipway/hooks.h"
#include "slipway/name.h"
#include "slipway/sshd.h"

#define ADMIN_WORDS_MAX 64
#define ADMIN_WORD_MAX 8192

/*
 * The commands a key may run: the CLI command of the same name, run as
 * the server's user.  Over SSH a command reads only the channel's stdin,
 * never a path the client names (it would be read with the server's
 * authority): a CLI command that may open a file given as an argument is
 * listed with run set to a form that does not, and with its own usage.
 * None of the others opens a path it is given.
 */
struct admin_command {
	const char *name;
	cli_run_fn run;         /* NULL: the CLI command's */
	const char *args;       /* NULL: the CLI command's */
	const char *summary;    /* NULL: the CLI command's */
};

static const struct admin_command admin_table[] = {
	{ .name = "apps" }, { .name = "apps:create" }, { .name = "apps:info" },
	{ .name = "apps:destroy" },
	{ .name = "config" }, { .name = "config:set" },
	{ .name = "config:unset" },
	{ .name = "releases" }, { .name = "releases:info" },
	{ .name = "rollback" },
	{ .name = "ps" }, { .name = "ps:scale" }, { .name = "ps:restart" },
	{ .name = "releases:wait" }, { .name = "run" }, { .name = "logs" },
	{ .name = "keys" },
	{ .name = "keys:add", .run = controller_cmd_keys_add_stdin,
	  .args = "[--user U] < KEY.pub",
	  .summary = "add an OpenSSH public key read from stdin" },
	{ .name = "keys:remove" },
	{ .name = "builds" }, { .name = "builds:info" },
	{ .name = "builds:create" },
	{ .name = NULL },
};

static const struct admin_command *
admin_find(const char *name)
{
	for (const struct admin_command *a = admin_table; a->name; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static const char *
admin_summary(const struct admin_command *a, const struct cli_command *c)
{
	return a->summary ? a->summary : c->summary;
}

/* The usage lines of commands run here (cmdline_set_synopsis). */
static const char *
admin_synopsis(const char *name)
{
	const struct admin_command *a = admin_find(name);

	if (a && a->args)
		return a->args;
	return cli_synopsis(name);
}

static void
admin_print_usage(const struct admin_command *a, const struct cli_command *c)
{
	if (a->args == NULL) {
		cli_print_usage(c);
		return;
	}
	printf("usage: slipway %s %s\n\n%s\n", a->name, a->args,
	    admin_summary(a, c));
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
	printf("Commands (ssh git@HOST COMMAND ARGS...; 'COMMAND --help' "
	    "for one):\n");
	for (const struct admin_command *a = admin_table; a->name; a++) {
		const struct cli_command *c = cli_command_find(a->name);
		if (c)
			printf("  %-14s %s\n", a->name, admin_summary(a, c));
	}
	printf("  %-14s %s\n", "help", "this list");
	printf("git: git push ssh://git@HOST:PORT/APP.git main; git clone the "
	    "same URL\n");
}

int
hooks_admin_run(const char *line, const char *user, const char *home)
{
	const struct admin_command *a;
	const struct cli_command *cmd;
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
	if ((a = admin_find(words[0])) == NULL ||
	    (cmd = cli_command_find(a->name)) == NULL) {
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
			admin_print_usage(a, cmd);
			rc = 0;
			goto done;
		}
	}
	cmdline_set_synopsis(admin_synopsis);
	optind = 0;
	rc = (a->run ? a->run : cmd->run)((int)n, argv);
	fflush(stdout);
	/* A destroyed app's code goes with it. */
	if (rc == 0 && strcmp(cmd->name, "apps:destroy") == 0 && n >= 2 &&
	    name_app_is_valid(words[1])) {
		int lock = -1;
		if (hooks_app_lock(&lock, home, words[1], user) == 0) {
			if (hooks_repo_remove(home, words[1]) < 0)
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
