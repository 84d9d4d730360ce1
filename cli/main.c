/*
 * slipway: the one binary.  Finds the command in cli_tables[] by the
 * longest run of words that names a row, handles --help for it, and runs it.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/cli.h"
#include "slipway/client.h"
#include "slipway/cmdline.h"
#include "slipway/log.h"

#define CLI_MAX_WORDS 3

/* Does argv[0..n) spell name word by word? */
static bool
cli_words_match(const char *name, char **argv, int n)
{
	const char *p = name;

	for (int i = 0; i < n; i++) {
		size_t len = strlen(argv[i]);
		if (strncmp(p, argv[i], len) != 0)
			return false;
		p += len;
		if (i < n - 1) {
			if (*p != ' ')
				return false;
			p++;
		}
	}
	return *p == '\0';
}

/* Print the rows whose name starts with "prefix " (a command group). */
static int
cli_print_group(const char *prefix)
{
	const struct cmdline_command *c;
	size_t n = strlen(prefix);
	int found = 0;

	for (size_t i = 0; (c = cli_command_at(i)) != NULL; i++) {
		if (strncmp(c->name, prefix, n) == 0 && c->name[n] == ' ') {
			if (!found)
				printf("usage: slipway %s <command>\n\n", prefix);
			printf("  %-22s %s\n", c->name, c->summary);
			found = 1;
		}
	}
	return found;
}

static bool
cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

int
main(int argc, char **argv)
{
	const struct cmdline_command *cmd = NULL, *c;
	char name[256];
	int words = 0;

	/* A peer that goes away must give an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	log_init(NULL, LOG_LEVEL_INFO, false);
	cmdline_set_synopsis(cli_synopsis);

	if (argc < 2) {
		char *av[] = { "help", NULL };
		cli_cmd_help(1, av);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		argv[1] = "help";
	if (strcmp(argv[1], "--version") == 0)
		argv[1] = "version";

	for (int n = CLI_MAX_WORDS; n >= 1 && !cmd; n--) {
		if (n > argc - 1)
			continue;
		for (size_t i = 0; (c = cli_command_at(i)) != NULL; i++) {
			if (cli_words_match(c->name, argv + 1, n)) {
				cmd = c;
				words = n;
				break;
			}
		}
	}
	if (cmd == NULL) {
		if (cli_print_group(argv[1]))
			return argc > 2 ? 2 : 0;
		fprintf(stderr, "slipway: '%s' is not a command; see "
		    "'slipway help'\n", argv[1]);
		return 2;
	}

	snprintf(name, sizeof(name), "%s", cmd->name);
	argv[words] = name;
	argc -= words;
	argv += words;
	if (cli_wants_help(argc, argv)) {
		cmdline_print_usage(cmd);
		return 0;
	}
	if (client_command_find(cmd->name) == cmd) {
		struct client_app_args a;
		int rc;

		if ((rc = client_app_args(&a, argc, argv, cmd, true)))
			return rc;
		optind = 0;
		rc = cmd->run(a.argc, a.argv);
		client_app_args_free(&a);
		return rc;
	}
	optind = 0;
	return cmd->run(argc, argv);
}
