/* Addresses and signals for daemons; see include/slipway/net.h. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/err.h"
#include "slipway/net.h"
#include "slipway/parse.h"

int
net_addr_parse(struct sockaddr_in *out, const char *text)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	unsigned long long port;
	size_t n;

	if (colon == NULL)
		return err_set(ERR_INVALID, "'%s' is not HOST:PORT", text);
	n = (size_t)(colon - text);
	if (n == 0 || n >= sizeof(host))
		return err_set(ERR_INVALID, "bad host in '%s'", text);
	memcpy(host, text, n);
	host[n] = '\0';
	/* 0 is a port here: "any free one" for a listener. */
	if (parse_uint(&port, colon + 1, 0, 65535) < 0)
		return err_set(ERR_INVALID, "bad port in '%s'", text);
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return err_set(ERR_INVALID,
		    "bad address in '%s': want an IPv4 address", text);
	return 0;
}

void
net_addr_format(char *buf, size_t len, const struct sockaddr_in *addr)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(addr->sin_port));
}

static void
net_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

void
net_signals_block(void)
{
	sigset_t set;

	net_sigset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int
net_signal_wait(void)
{
	sigset_t set;
	int sig = 0;

	net_sigset(&set);
	while (sigwait(&set, &sig) != 0)
		;
	return sig;
}
