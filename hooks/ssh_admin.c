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
 * (client_ssh_find, include/slipway/client.h: the CLI's table); but for
 * `run` the rest of the line after its own words is one word, the
 * command, which the container's shell reads.  Each runs in this process,
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

/*
 * Have the words of a `run` line (w[0] is "run" or "run:detached")
 * reached the command?
 * They have after APP, the first word that is not an option of run's or
 * an option's value, and after a "--" that follows it.
 */
static bool
admin_run_words_done(char **w, size_t n)
{
	size_t i = 1;

	while (i < n && w[i][0] == '-' && strcmp(w[i], "--") != 0) {
		/* run's options that take a value in the next word */
		if (strcmp(w[i], "--timeout") == 0)
			i++;
		i++;
	}
	if (i >= n)
		return false;
	if (strcmp(w[i], "--") == 0)    /* "run -- ..." : no APP */
		return true;
	/* w[i] is APP: done with it, or with the "--" after it */
	return n == i + 1 || (n == i + 2 && strcmp(w[i + 1], "--") == 0);
}

void
hooks_words_free(char **words)
{
	for (size_t i = 0; words && words[i]; i++)
		free(words[i]);
	free(words);
}

/* One word from *pp (after any blanks) into cur, *pp moved past it.
 * Returns 1 for a word, 0 at the end of the line, or a negative code. */
static int
admin_word_next(struct buf *cur, const char **pp)
{
	const char *p = *pp + strspn(*pp, " \t");
	int rc = 0;

	buf_reset(cur);
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	for (; *p && *p != ' ' && *p != '\t'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\'') {
			/* Quoted bytes are bytes of the word: none may be a
			 * control byte, as outside quotes. */
			for (p++; *p && *p != '\''; p++) {
				if (admin_is_control((unsigned char)*p))
					goto control;
				if ((rc = buf_putc(cur, *p)) < 0)
					goto long_word;
			}
			if (*p != '\'')
				return err_set(ERR_INVALID, "a quote (') is not "
				    "closed");
		} else if (c == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				if (admin_is_control((unsigned char)*p))
					goto control;
				if ((rc = buf_putc(cur, *p)) < 0)
					goto long_word;
			}
			if (*p != '"')
				return err_set(ERR_INVALID, "a quote (\") is not "
				    "closed");
		} else if (c == '\\') {
			if (p[1] == '\0')
				return err_set(ERR_INVALID, "a '\\' ends the "
				    "command");
			if (admin_is_control((unsigned char)p[1]))
				goto control;
			if ((rc = buf_putc(cur, *++p)) < 0)
				goto long_word;
		} else if (admin_is_control(c)) {
			goto control;
		} else if ((rc = buf_putc(cur, (char)c)) < 0) {
			goto long_word;
		}
	}
	buf_puts(cur, "");
	*pp = p;
	return 1;
control:
	return err_set(ERR_INVALID, "the command has a control character");
long_word:
	return err_set(ERR_INVALID, "a word is longer than %d bytes",
	    ADMIN_WORD_MAX);
}

static int admin_split(char ***out, size_t *nout, const char *line,
    size_t max, bool run_rest);

/* run's command from the rest of the line: as it came, for the
 * container's shell to read; but a rest that is one quoted word is that
 * word (the CLI's rule: one word is a command line), so `run app --
 * 'echo $PORT'` sent with its quotes runs the echo, not a program named
 * "echo $PORT". */
static char *
admin_run_command(const char *rest)
{
	char **w = NULL, *cmd;
	size_t n = 0;

	if (admin_split(&w, &n, rest, 2, false) == 0 && n == 1) {
		cmd = w[0];
		w[0] = NULL;
	} else {
		cmd = xstrdup(rest);
	}
	hooks_words_free(w);
	return cmd;
}

/* Split line into words; with run_rest, `run`'s own words only, and the
 * rest of the line after them (and after a "--") as one last word. */
static int
admin_split(char ***out, size_t *nout, const char *line, size_t max,
    bool run_rest)
{
	/* room for run's "--" and command, and the NULL */
	char **w = xcalloc(max + 3, sizeof(*w));
	const char *p = line;
	struct buf cur;
	size_t n = 0;
	int rc;

	buf_init(&cur, ADMIN_WORD_MAX);
	while ((rc = admin_word_next(&cur, &p)) == 1) {
		if (n == max) {
			rc = err_set(ERR_INVALID, "more than %zu words", max);
			break;
		}
		w[n++] = buf_detach(&cur, NULL);
		buf_init(&cur, ADMIN_WORD_MAX);
		if (run_rest && admin_run_words_done(w, n)) {
			p += strspn(p, " \t");
			if (strcmp(w[n - 1], "--") != 0 &&
			    strncmp(p, "--", 2) == 0 &&
			    (p[2] == ' ' || p[2] == '\t' || p[2] == '\0'))
				p += 2 + strspn(p + 2, " \t");
			for (const char *q = p; *q; q++)
				if (admin_is_control((unsigned char)*q)) {
					rc = err_set(ERR_INVALID, "the command "
					    "has a control character");
					goto done;
				}
			if (strcmp(w[n - 1], "--") != 0)
				w[n++] = xstrdup("--");
			if (*p)
				w[n++] = admin_run_command(p);
			rc = 0;
			break;
		}
	}
done:
	buf_free(&cur);
	if (rc < 0) {
		hooks_words_free(w);
		return rc;
	}
	*out = w;
	*nout = n;
	return 0;
}

int
hooks_words_split(char ***out, size_t *nout, const char *line, size_t max)
{
	return admin_split(out, nout, line, max, false);
}

static void
admin_help(void)
{
	const struct cmdline_command *c;

	printf("Commands (ssh git@HOST COMMAND ARGS...; 'COMMAND --help' "
	    "for one):\n");
	for (size_t i = 0; (c = client_ssh_at(i)) != NULL; i++)
		printf("  %-19s %s\n", c->name, c->summary);
	printf("  %-19s %s\n", "help", "this list");
	printf("git: git push ssh://git@HOST:PORT/APP.git main; git clone the "
	    "same URL\n");
}

int
hooks_admin_run(const char *line, const char *user, const char *home)
{
	const struct cmdline_command *cmd;
	struct client_app_args args;
	char **words = NULL, **argv = NULL;
	size_t n = 0;
	int rc;

	const char *first = line + strspn(line, " \t");
	/* run takes the rest of the line as its command, as Dokku's: the
	 * container's shell reads it, not us. */
	size_t w0 = strcspn(first, " \t");
	bool run = (w0 == 3 && strncmp(first, "run", 3) == 0) ||
	    (w0 == 12 && strncmp(first, "run:detached", 12) == 0);

	if (admin_split(&words, &n, line, ADMIN_WORDS_MAX, run) < 0) {
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
	for (size_t i = 1, opts = 1; i < n; i++) {
		argv[i] = words[i];
		/* after "--" the words are not options (run's command) */
		if (strcmp(words[i], "--") == 0)
			opts = 0;
		if (opts && (strcmp(words[i], "--help") == 0 ||
		    strcmp(words[i], "-h") == 0)) {
			cmdline_print_usage(cmd);
			rc = 0;
			goto done;
		}
	}
	cmdline_set_synopsis(admin_synopsis);
	/* -a APP as from the CLI; no remote to read here */
	if ((rc = client_app_args(&args, (int)n, argv, cmd, false)))
		goto done;
	optind = 0;
	rc = cmd->run(args.argc, args.argv);
	client_app_args_free(&args);
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
