/* Unit tests for the SSH server transport (sshd/sshd*.c), driven by a
 * real OpenSSH client, and for git command parsing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/hooks.h"
#include "slipway/name.h"
#include "slipway/proc.h"
#include "slipway/sshd.h"

/* The known key's fingerprint, read from the file the test wrote. */
static int
t_lookup(char **user, const char *fp, void *ctx)
{
	struct buf b;
	int rc = ERR_NOTFOUND;

	(void)ctx;
	if (fs_read_file(&b, "known.fp", 1024) == 0) {
		if (strncmp(b.ptr, fp, strlen(fp)) == 0 &&
		    b.ptr[strlen(fp)] == '\n') {
			*user = xstrdup("alice");
			rc = 0;
		}
		buf_free(&b);
	}
	return rc;
}

static void
t_on_listen(unsigned port, const char *fp, void *ctx)
{
	char s[16];

	(void)ctx;
	snprintf(s, sizeof(s), "%u", port);
	fs_write_atomic("port", s, strlen(s), 0644);
	fs_write_atomic("hostfp", fp, strlen(fp), 0644);
}

/* Start the server in a child, with at most max_conns connections (0:
 * the default); returns its pid, port in *port. */
static pid_t
t_sshd_max(unsigned *port, unsigned max_conns)
{
	static char *argv[] = { "sh", "-c", "printf '%s|%s|' "
	    "\"$SLIPWAY_SSH_USER\" \"$SSH_ORIGINAL_COMMAND\"; cat; "
	    "echo to-stderr >&2; exit 7", NULL };
	struct sshd_opts o = { .listen = "127.0.0.1:0",
	    .host_key = "ssh/host_ed25519_key", .lookup = t_lookup,
	    .exec_argv = argv, .on_listen = t_on_listen,
	    .login_grace_sec = 5, .max_conns = max_conns };
	pid_t pid;
	struct buf b;

	SH("ssh-keygen -q -t ed25519 -N '' -f key && ssh-keygen -q -t "
	    "ed25519 -N '' -f other");
	SH("ssh-keygen -lf key.pub | cut -d' ' -f2 > known.fp");
	if ((pid = fork()) == 0) {
		exit(sshd_run(&o) < 0 ? 1 : 0);
	}
	for (int i = 0; i < 100 && !fs_exists("port"); i++)
		usleep(50000);
	EXPECT_OK(fs_read_file(&b, "port", 16));
	*port = (unsigned)atoi(b.ptr);
	buf_free(&b);
	return pid;
}

static pid_t
t_sshd(unsigned *port)
{
	return t_sshd_max(port, 0);
}

static int
t_ssh(struct buf *out, unsigned port, const char *key, const char *extra,
    const char *cmd)
{
	char *argv[] = { "sh", "-c", NULL, NULL };
	int rc;

	argv[2] = xasprintf("echo stdin-data | ssh -p %u -i %s -o "
	    "StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
	    "-o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR %s "
	    "git@127.0.0.1 %s 2>&1", port, key, extra, cmd);
	rc = proc_run(out, argv, 0, 1 << 16);
	free(argv[2]);
	return rc;
}

static void
t_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

TEST(sshd__exec_pipes_and_exit_status)
{
	unsigned port;
	pid_t pid = t_sshd(&port);
	struct buf out;
	struct stat st;

	EXPECT_INT(7, t_ssh(&out, port, "key", "",
	    "\"git-receive-pack 'app.git'\""));
	EXPECT_TRUE(strstr(out.ptr, "alice|git-receive-pack 'app.git'|"
	    "stdin-data\n") != NULL);
	EXPECT_TRUE(strstr(out.ptr, "to-stderr") != NULL);
	buf_free(&out);
	EXPECT_INT(0, stat("ssh/host_ed25519_key", &st));
	EXPECT_INT(0600, st.st_mode & 0777);
	t_stop(pid);
}

/* A TCP connection that sends only a client banner.  Returns its fd when
 * the server answered with its own banner (it holds the connection), -1
 * when it closed it or said anything else (a refusal). */
static int
t_idle_conn(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	struct pollfd pfd;
	char got[8] = "";
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    write(fd, "SSH-2.0-x\r\n", 11) != 11) {
		close(fd);
		return -1;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 5000) != 1 || read(fd, got, 4) != 4 ||
	    memcmp(got, "SSH-", 4) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Connections that come and go by the hundred, from several processes at
 * once, must leave the server's count of open connections right: after
 * them, as many connections as before are accepted.  (The count was
 * changed both by the accept loop and by a SIGCHLD handler, and a
 * decrement lost to the race made the server refuse everybody in the
 * end.) */
TEST(sshd__churn_leaves_the_connection_count_right)
{
	unsigned port;
	/* 20 connections: the default reserve leaves strangers 4 */
	pid_t pid = t_sshd_max(&port, 20), w[6];
	struct buf out;
	int held[3] = { -1, -1, -1 }, ok = 0;

	for (int i = 0; i < 6; i++) {
		if ((w[i] = fork()) == 0) {
			for (int k = 0; k < 150; k++) {
				int fd = t_idle_conn(port);

				if (fd >= 0)
					close(fd);
			}
			_exit(0);
		}
	}
	for (int i = 0; i < 6; i++)
		waitpid(w[i], NULL, 0);
	/* The last of them may still be ending: wait for the room, up to
	 * 10 s, then a real session must go through beside three idle
	 * connections. */
	for (int tries = 0; tries < 100 && !ok; tries++) {
		ok = 1;
		for (int i = 0; i < 3; i++) {
			if (held[i] < 0)
				held[i] = t_idle_conn(port);
			ok &= held[i] >= 0;
		}
		if (!ok)
			usleep(100000);
	}
	EXPECT_TRUE(ok);
	EXPECT_INT(7, t_ssh(&out, port, "key", "", "true"));
	buf_free(&out);
	for (int i = 0; i < 3; i++)
		close(held[i]);
	t_stop(pid);
}

TEST(sshd__unknown_key_refused)
{
	unsigned port;
	pid_t pid = t_sshd(&port);
	struct buf out;

	EXPECT_INT(255, t_ssh(&out, port, "other", "", "true"));
	EXPECT_TRUE(strstr(out.ptr, "Permission denied") != NULL);
	buf_free(&out);
	t_stop(pid);
}

TEST(sshd__password_and_none_refused)
{
	unsigned port;
	pid_t pid = t_sshd(&port);
	struct buf out;

	EXPECT_INT(255, t_ssh(&out, port, "other",
	    "-o PreferredAuthentications=password,keyboard-interactive,none "
	    "-o PubkeyAuthentication=no", "true"));
	/* refused, not dropped: a crashed server also makes ssh exit 255 */
	EXPECT_TRUE(strstr(out.ptr, "Permission denied") != NULL);
	buf_free(&out);
	t_stop(pid);
}

TEST(sshd__shell_runs_help_and_pty_refused)
{
	unsigned port;
	pid_t pid = t_sshd(&port);
	struct buf out;

	/* no command: a shell request; no shell, but the command "help" */
	t_ssh(&out, port, "key", "", "");
	EXPECT_TRUE(strstr(out.ptr, "alice|help|") != NULL);
	EXPECT_TRUE(strstr(out.ptr, "shell request failed") == NULL);
	buf_free(&out);
	/* a pty is refused; the command still runs without one */
	t_ssh(&out, port, "key", "-tt", "x");
	EXPECT_TRUE(strstr(out.ptr, "PTY allocation request failed") !=
	    NULL);
	buf_free(&out);
	t_stop(pid);
}

TEST(sshd__port_forwarding_refused)
{
	unsigned port;
	pid_t pid = t_sshd(&port);
	struct buf out;

	EXPECT_TRUE(t_ssh(&out, port, "key",
	    "-o ExitOnForwardFailure=yes -R 0:127.0.0.1:1 -N", "") != 0);
	EXPECT_TRUE(strstr(out.ptr, "remote port forwarding failed") != NULL);
	buf_free(&out);
	t_stop(pid);
}

/* Session callbacks: begin adds SESSION_VAR (or refuses, when the file
 * "refuse" exists); end leaves the file "ended". */
static int
t_session_begin(char ***env, void **session, const char *user,
    const char *fp, void *ctx)
{
	(void)fp; (void)ctx;
	if (fs_exists("refuse"))
		return err_set(ERR_AUTH, "refused by the test");
	*env = xcalloc(2, sizeof(**env));
	(*env)[0] = xasprintf("SESSION_VAR=for-%s", user);
	*session = xstrdup("the session");
	return 0;
}

static void
t_session_end(void *session, void *ctx)
{
	(void)ctx;
	fs_write_atomic("ended", session, strlen(session), 0644);
	free(session);
}

TEST(sshd__sessions_begin_before_and_end_after_the_command)
{
	static char *argv[] = { "sh", "-c", "printf 'var=%s|' \"$SESSION_VAR\"",
	    NULL };
	struct sshd_opts o = { .listen = "127.0.0.1:0",
	    .host_key = "ssh/host_ed25519_key", .lookup = t_lookup,
	    .exec_argv = argv, .on_listen = t_on_listen,
	    .login_grace_sec = 5, .session_begin = t_session_begin,
	    .session_end = t_session_end };
	struct buf out;
	unsigned port;
	pid_t pid;

	SH("ssh-keygen -q -t ed25519 -N '' -f key");
	SH("ssh-keygen -lf key.pub | cut -d' ' -f2 > known.fp");
	if ((pid = fork()) == 0)
		exit(sshd_run(&o) < 0 ? 1 : 0);
	for (int i = 0; i < 100 && !fs_exists("port"); i++)
		usleep(50000);
	EXPECT_OK(fs_read_file(&out, "port", 16));
	port = (unsigned)atoi(out.ptr);
	buf_free(&out);
	EXPECT_INT(0, t_ssh(&out, port, "key", "", "anything"));
	EXPECT_TRUE(strstr(out.ptr, "var=for-alice|") != NULL);
	buf_free(&out);
	for (int i = 0; i < 100 && !fs_exists("ended"); i++)
		usleep(50000);
	EXPECT_TRUE(fs_exists("ended"));
	/* a session that cannot begin: the command does not run */
	SH("touch refuse && rm ended");
	EXPECT_TRUE(t_ssh(&out, port, "key", "", "anything") != 0);
	EXPECT_TRUE(strstr(out.ptr, "var=") == NULL);
	buf_free(&out);
	EXPECT_TRUE(!fs_exists("ended"));
	t_stop(pid);
}

TEST(sshd__host_key_kept_across_restarts)
{
	char *fp1 = NULL, *fp2 = NULL;

	EXPECT_OK(sshd_host_key_ensure(&fp1, "k/host"));
	EXPECT_OK(sshd_host_key_ensure(&fp2, "k/host"));
	EXPECT_STR(fp1, fp2);
	EXPECT_TRUE(strncmp(fp1, "SHA256:", 7) == 0);
	free(fp1);
	free(fp2);
	SH("echo garbage > k/bad");
	EXPECT_INT(ERR_INVALID, sshd_host_key_ensure(&fp1, "k/bad"));
}

TEST(hooks__git_command_parse)
{
	const char *svc;
	char *app;

	EXPECT_OK(hooks_git_command_parse(&svc, &app,
	    "git-receive-pack 'myapp.git'"));
	EXPECT_STR("git-receive-pack", svc);
	EXPECT_STR("myapp", app);
	free(app);
	EXPECT_OK(hooks_git_command_parse(&svc, &app,
	    "git-upload-pack '/my-app.git'"));
	EXPECT_STR("git-upload-pack", svc);
	EXPECT_STR("my-app", app);
	free(app);
	EXPECT_OK(hooks_git_command_parse(&svc, &app, "git receive-pack 'a'"));
	free(app);
	EXPECT_INT(ERR_NOTFOUND, hooks_git_command_parse(&svc, &app, "ls"));
	EXPECT_INT(ERR_NOTFOUND, hooks_git_command_parse(&svc, &app,
	    "git-receive-packx 'a.git'"));
	EXPECT_INT(ERR_INVALID, hooks_git_command_parse(&svc, &app,
	    "git-receive-pack '../other.git'"));
	EXPECT_INT(ERR_INVALID, hooks_git_command_parse(&svc, &app,
	    "git-receive-pack 'foo.git; id'"));
	EXPECT_INT(ERR_INVALID, hooks_git_command_parse(&svc, &app,
	    "git-receive-pack \"$(id)\""));
	EXPECT_INT(ERR_INVALID, hooks_git_command_parse(&svc, &app,
	    "git-receive-pack 'a/b.git'"));
	EXPECT_INT(ERR_INVALID, hooks_git_command_parse(&svc, &app,
	    "git-receive-pack 'Upper.git'"));
	EXPECT_INT(ERR_INVALID, hooks_git_command_parse(&svc, &app,
	    "git-receive-pack ''"));
	EXPECT_INT(ERR_INVALID, hooks_git_command_parse(&svc, &app,
	    "git-receive-pack 'a'\\''b.git'"));
	EXPECT_TRUE(!name_app_is_valid("a234567890123456789012345678901"));
	EXPECT_TRUE(name_app_is_valid("a23456789012345678901234567890"));
}
