/*
 * The SSH server's listener: host key, bind, accept, one forked process per
 * connection.  See include/slipway/hooks.h.
 *
 * One loop, no signal handlers: it polls the listening socket and one pipe
 * per connection, on which the connection's process writes a byte once it
 * authenticated and which ends (EOF) when the process does.  Children are
 * reaped here, so the count of open connections is only ever changed by
 * this loop (a SIGCHLD handler decrementing it raced the increment after
 * fork, and lost decrements ended in refused connections).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "slipway/alloc.h"
#include "slipway/clock.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/listenfd.h"
#include "slipway/log.h"
#include "slipway/net.h"
#include "sshd_int.h"

int
sshd_key_fingerprint(char **out, ssh_key key)
{
	unsigned char *hash = NULL;
	size_t len = 0;
	char *fp;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &len) < 0)
		return err_set(ERR_INVALID, "cannot hash the key");
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
	ssh_clean_pubkey_hash(&hash);
	if (fp == NULL)
		return err_set(ERR_INVALID, "cannot fingerprint the key");
	*out = xstrdup(fp);
	ssh_string_free_char(fp);
	return 0;
}

int
sshd_host_key_ensure(char **fingerprint, const char *path)
{
	ssh_key key = NULL;
	char *dir, *slash;
	int rc;

	if (!fs_exists(path)) {
		dir = xstrdup(path);
		if ((slash = strrchr(dir, '/')) != NULL) {
			*slash = '\0';
			rc = fs_mkdir_p(dir, 0700);
		} else {
			rc = 0;
		}
		free(dir);
		if (rc < 0)
			return rc;
		if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK)
			return err_set(ERR_IO, "cannot make an ed25519 host key");
		/* libssh writes the file itself; umask makes it 0600. */
		mode_t old = umask(077);
		rc = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, path);
		umask(old);
		if (rc != SSH_OK) {
			ssh_key_free(key);
			return err_set(ERR_IO, "cannot write host key '%s'", path);
		}
		chmod(path, 0600);
	} else if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key) !=
	    SSH_OK) {
		return err_set(ERR_INVALID, "cannot read host key '%s'; remove "
		    "it to make a new one", path);
	}
	rc = sshd_key_fingerprint(fingerprint, key);
	ssh_key_free(key);
	return rc;
}

/* Refuse a connection before any SSH: one line for a person (an SSH
 * client shows lines before the banner in its debug output), then close.
 * Logged at most once per 10 s: refusing must not be a way to flood the
 * log. */
static void
sshd_refuse(struct sshd_limit *l, int fd, struct in_addr src,
    const char *why)
{
	static const char line[] = "slipway: too many connections, try again "
	    "later\r\n";
	char ip[INET_ADDRSTRLEN];
	char more[64];
	unsigned n;

	(void)send(fd, line, sizeof(line) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	if (!lograte_due(&n, &l->refusals, clock_mono()))
		return;
	inet_ntop(AF_INET, &src, ip, sizeof(ip));
	lograte_more(more, sizeof(more), n);
	log_warnx("refused a connection from %s: %s%s", ip, why, more);
}

/* Reap ended connections, read authentication notices, and end those
 * that did not authenticate in time. */
static void
sshd_tend(struct sshd_limit *l, const struct pollfd *pfd, size_t npfd)
{
	double now = clock_mono();
	pid_t pid;

	for (size_t i = 0; i < npfd; i++) {
		struct sshd_limit_conn *c = NULL;
		char b;

		if (pfd[i].revents == 0)
			continue;
		for (size_t k = 0; k < l->n && c == NULL; k++)
			if (l->conns[k].fd == pfd[i].fd)
				c = &l->conns[k];
		if (c == NULL)
			continue;
		ssize_t r = read(c->fd, &b, 1);

		if (r == 1) {
			c->authed = true;
		} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
			close(c->fd);
			c->fd = -1;
		}
	}
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		struct sshd_limit_conn *c = sshd_limit_find(l, pid);

		if (c && c->fd >= 0)
			close(c->fd);
		sshd_limit_remove(l, pid);
	}
	for (size_t k = 0; k < l->n; k++)
		if (sshd_limit_overdue(l, &l->conns[k], now))
			kill(l->conns[k].pid, SIGKILL);
}

/* Accept one connection, or refuse it by the limits. */
static void
sshd_accept(struct sshd_limit *l, ssh_bind bind, const struct sshd_opts *opts)
{
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	ssh_session session;
	char why[256];
	int fd, pipefd[2];
	pid_t pid;

	fd = accept4(ssh_bind_get_fd(bind), (struct sockaddr *)&peer, &plen,
	    SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept failed");
		return;
	}
	if (peer.sin_family != AF_INET)
		peer.sin_addr.s_addr = htonl(INADDR_ANY);
	if (!sshd_limit_admit(why, sizeof(why), l, peer.sin_addr,
	    (uint32_t)random())) {
		sshd_refuse(l, fd, peer.sin_addr, why);
		return;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		log_warn("cannot make a pipe for a connection");
		close(fd);
		return;
	}
	session = ssh_new();
	if (ssh_bind_accept_fd(bind, session, fd) != SSH_OK) {
		log_warnx("accept failed: %s", ssh_get_error(bind));
		goto fail;
	}
	if ((pid = fork()) < 0) {
		log_warn("cannot fork for a connection");
		goto fail;
	}
	if (pid == 0) {
		close(pipefd[0]);
		ssh_bind_free(bind);
		sshd_conn_serve(session, opts, pipefd[1]);
		_exit(0);
	}
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	sshd_limit_add(l, pid, pipefd[0], peer.sin_addr, clock_mono());
	/* The child owns the connection now. */
	ssh_free(session);
	return;
fail:
	ssh_disconnect(session);
	ssh_free(session);
	close(pipefd[0]);
	close(pipefd[1]);
}

int
sshd_run(const struct sshd_opts *opts)
{
	struct sockaddr_in addr;
	char host[32], port[8], *fp = NULL;
	unsigned bound = 0;
	struct sshd_limit lim;
	struct pollfd *pfd;
	ssh_bind bind = NULL;
	int rc, no = 0, lfd;

	if ((rc = net_addr_parse(&addr, opts->listen)) < 0)
		return rc;
	if ((rc = sshd_host_key_ensure(&fp, opts->host_key)) < 0)
		return rc;
	net_addr_format(host, sizeof(host), &addr);
	*strrchr(host, ':') = '\0';
	snprintf(port, sizeof(port), "%u", (unsigned)ntohs(addr.sin_port));
	sshd_limit_init(&lim, opts);
	pfd = xcalloc(lim.max_conns + 1, sizeof(*pfd));
	/* Children are reaped by the loop: none may be reaped for us. */
	signal(SIGCHLD, SIG_DFL);
	/* A command that exits without reading its stdin must cost a write
	 * error (EPIPE, handled), not the connection: whoever runs us. */
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)getpid() ^ (unsigned)(clock_mono() * 1e6));

	bind = ssh_bind_new();
	ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
	ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDADDR, host);
	ssh_bind_options_set(bind, SSH_BIND_OPTIONS_BINDPORT_STR, port);
	if (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_HOSTKEY,
	    opts->host_key) < 0) {
		rc = err_set(ERR_INVALID, "cannot use host key '%s': %s",
		    opts->host_key, ssh_get_error(bind));
		goto done;
	}
	/* libssh listens on a socket it is given instead of binding one
	 * ("app-provided bind socket"); it closes it in ssh_bind_free, this
	 * process's copy only. */
	if (opts->listen_fd >= 3)
		ssh_bind_set_fd(bind, opts->listen_fd);
	if (ssh_bind_listen(bind) < 0) {
		rc = err_set(ERR_IO, "cannot listen on '%s': %s", opts->listen,
		    ssh_get_error(bind));
		goto done;
	}
	lfd = ssh_bind_get_fd(bind);
	/* poll says when to accept; a client gone meanwhile must not
	 * block the loop in accept. */
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	{
		struct sockaddr_in got;
		socklen_t len = sizeof(got);
		if (getsockname(lfd, (struct sockaddr *)&got, &len) == 0)
			bound = ntohs(got.sin_port);
	}
	log_info("listening on %s:%u%s, host key %s", host, bound,
	    opts->listen_fd >= 3 ? " (handed over)" : "", fp);
	log_info("limits: %u connections, %u of them kept for authenticated "
	    "users; unauthenticated: %u per address, start:rate:full "
	    "%u:%u:%u, %u s to authenticate", lim.max_conns,
	    lim.reserved_auth, lim.per_source, lim.start, lim.rate, lim.full,
	    lim.unauth_grace);
	if (opts->on_listen)
		opts->on_listen(bound, fp, opts->ctx);
	/* A reload under `slipway up` stops the sshd before us now. */
	listenfd_ready();

	while (!(opts->stop && *opts->stop)) {
		size_t n = 0;

		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (size_t k = 0; k < lim.n; k++)
			if (lim.conns[k].fd >= 0)
				pfd[n++] = (struct pollfd){
				    .fd = lim.conns[k].fd, .events = POLLIN };
		if (poll(pfd, n, 1000) < 0 && errno != EINTR) {
			rc = err_sys("cannot wait for connections");
			goto done;
		}
		sshd_tend(&lim, pfd + 1, n - 1);
		if (pfd[0].revents & POLLIN)
			sshd_accept(&lim, bind, opts);
	}
	rc = 0;
done:
	for (size_t k = 0; k < lim.n; k++)
		if (lim.conns[k].fd >= 0)
			close(lim.conns[k].fd);
	sshd_limit_free(&lim);
	free(pfd);
	ssh_bind_free(bind);
	free(fp);
	return rc;
}
