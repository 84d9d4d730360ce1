/*
 * Unit tests for client/commands.c (the client commands' table and the
 * rows a key may run over SSH) and for how cli/ lists it among its own.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/buf.h"
#include "slipway/cli.h"
#include "slipway/client.h"
#include "slipway/fs.h"

TEST(client__ssh_rows_are_client_commands)
{
	const struct cmdline_command *s;
	size_t n = 0, all = 0;

	for (size_t i = 0; (s = client_ssh_at(i)) != NULL; i++, n++) {
		EXPECT_TRUE(client_command_find(s->name) != NULL);
		EXPECT_TRUE(client_ssh_find(s->name) == s);
		EXPECT_TRUE(s->run != NULL && s->args && s->summary);
	}
	/* one table: every client command but login and git:remote, in the
	 * same order */
	for (const struct cmdline_command *c = client_commands; c->name; c++)
		all++;
	EXPECT_INT((int)all - 2, (int)n);
	EXPECT_TRUE(client_ssh_at(0) == client_command_find("apps"));
	EXPECT_TRUE(client_ssh_find("users:add") ==
	    client_command_find("users:add"));
	EXPECT_TRUE(client_ssh_find("domains:add") != NULL);
	EXPECT_TRUE(client_ssh_find("builds:log") != NULL);
	EXPECT_TRUE(client_ssh_find("login") == NULL);
	EXPECT_TRUE(client_ssh_find("git:remote") == NULL);
	EXPECT_TRUE(client_ssh_find("runner") == NULL);
}

/* keys:add over SSH is not the CLI's: it names no FILE. */
TEST(client__ssh_keys_add_reads_stdin_only)
{
	const struct cmdline_command *cli = client_command_find("keys:add");
	const struct cmdline_command *ssh = client_ssh_find("keys:add");

	EXPECT_TRUE(cli && ssh && cli->run != ssh->run);
	EXPECT_TRUE(strstr(cli->args, "FILE") != NULL);
	EXPECT_TRUE(strstr(ssh->args, "FILE") == NULL);
	EXPECT_TRUE(strstr(ssh->args, "< KEY.pub") != NULL);
	EXPECT_TRUE(client_ssh_find("keys")->run ==
	    client_command_find("keys")->run);
}

/* A path argument is refused before anything is opened or sent: no API
 * is running here, so a refusal that came later would say so instead. */
TEST(client__ssh_keys_add_refuses_a_path_unopened)
{
	const struct cmdline_command *ssh = client_ssh_find("keys:add");
	char *argv[] = { "keys:add", "/etc/hostname", NULL };
	int saved = dup(2), fd, rc;
	struct buf b;

	fflush(stderr);
	fd = open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	optind = 0;
	rc = ssh->run(2, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	EXPECT_INT(2, rc);
	buf_init(&b, 4096);
	EXPECT_OK(fs_read_file(&b, "stderr.txt", 4096));
	buf_puts(&b, "");
	EXPECT_STR("slipway keys:add: the key is read from stdin, never from "
	    "a file on the server: ssh git@HOST keys:add < key.pub\n", b.ptr);
	buf_free(&b);
}

/* cli lists its first rows, then the client's, then the rest, as one
 * table. */
TEST(client__cli_lists_the_client_table_in_place)
{
	const struct cmdline_command *c;
	size_t i, login = 0, runners_remove = 0, image = 0, n = 0;

	for (i = 0; (c = cli_command_at(i)) != NULL; i++, n++) {
		if (strcmp(c->name, "login") == 0)
			login = i;
		if (strcmp(c->name, "runners:remove") == 0)
			runners_remove = i;
		if (strcmp(c->name, "image build") == 0)
			image = i;
		EXPECT_TRUE(cli_command_find(c->name) == c);
	}
	EXPECT_STR("help", cli_command_at(0)->name);
	EXPECT_STR("controller", cli_command_at(login - 1)->name);
	EXPECT_TRUE(cli_command_at(login) == &client_commands[0]);
	EXPECT_INT(runners_remove + 1, image);
	EXPECT_TRUE(cli_command_find("keys:add") ==
	    client_command_find("keys:add"));
	EXPECT_TRUE(cli_command_at(n) == NULL);
	EXPECT_TRUE(cli_command_find("nothing") == NULL);
}

/* The words client_app_args makes of argv for command name, joined by
 * blanks ("" after a refusal), and its exit status in *rc. */
static char *
app_args_of(int *rc, const char *name, char **argv, int argc)
{
	const struct cmdline_command *cmd = client_command_find(name);
	struct client_app_args a;
	struct buf b;
	int saved = dup(2), fd;

	buf_init(&b, 4096);
	fflush(stderr);
	fd = open("/dev/null", O_WRONLY);
	dup2(fd, 2);
	close(fd);
	*rc = client_app_args(&a, argc, argv, cmd, false);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	for (int i = 0; *rc == 0 && i < a.argc; i++)
		buf_printf(&b, "%s%s", i ? " " : "", a.argv[i]);
	buf_puts(&b, "");
	if (*rc == 0)
		client_app_args_free(&a);
	return buf_detach(&b, NULL);
}

#define EXPECT_APP_ARGS(want, wantrc, name, ...) do {                     \
	char *av_[] = { name, __VA_ARGS__, NULL };                        \
	int rc_;                                                          \
	char *got_ = app_args_of(&rc_, name, av_,                         \
	    (int)(sizeof(av_) / sizeof(av_[0])) - 1);                     \
	EXPECT_INT(wantrc, rc_);                                          \
	EXPECT_STR(want, got_);                                           \
	free(got_);                                                       \
} while (0)

/* -a APP goes where the command's first argument goes. */
TEST(client__app_option_moves_to_the_first_argument)
{
	EXPECT_APP_ARGS("config:set shop K=V", 0, "config:set", "-a", "shop",
	    "K=V");
	EXPECT_APP_ARGS("config:set shop K=V", 0, "config:set", "K=V",
	    "--app", "shop");
	EXPECT_APP_ARGS("config --json shop", 0, "config", "--app=shop",
	    "--json");
	EXPECT_APP_ARGS("ps shop", 0, "ps", "-ashop");
	/* an option's value is not the first argument */
	EXPECT_APP_ARGS("logs -n 10 shop", 0, "logs", "-n", "10", "-a", "shop");
	EXPECT_APP_ARGS("logs --source router shop", 0, "logs", "--source",
	    "router", "-a", "shop");
	EXPECT_APP_ARGS("releases:info shop v2", 0, "releases:info", "v2",
	    "-a", "shop");
	/* run: before the "--", and -a after it is the command's */
	EXPECT_APP_ARGS("run --timeout 5 shop -- ls -a x", 0, "run",
	    "--timeout", "5", "-a", "shop", "--", "ls", "-a", "x");
	/* without -a, nothing moves */
	EXPECT_APP_ARGS("config shop", 0, "config", "shop");
}

TEST(client__app_option_refused_where_no_app_goes)
{
	EXPECT_APP_ARGS("", 2, "apps", "-a", "shop");
	EXPECT_APP_ARGS("", 2, "users", "--app=shop");
	EXPECT_APP_ARGS("", 2, "config", "-a");
}
