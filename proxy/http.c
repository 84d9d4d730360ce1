/*
 * HTTP/1.1 head and chunk parsing for the proxy, strict on purpose: a proxy
 * that reads a message one way while its backend reads it another is how
 * request smuggling works, so anything RFC 9112 lets a server reject is
 * rejected (RFC 9112 sections 2.2, 5, 6.1, 6.3, 7.1).  Nothing is copied:
 * the parsed head points into the caller's buffer.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "slipway/err.h"
#include "proxy_int.h"

/* tchar of RFC 9110 5.6.2. */
static const unsigned char proxy_tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

/* Field-value bytes: HTAB, SP, VCHAR, obs-text. */
static inline bool
proxy_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool
proxy_str_eq(struct proxy_str s, const char *lower)
{
	size_t n = strlen(lower);

	if (s.n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (tolower((unsigned char)s.p[i]) != lower[i])
			return false;
	return true;
}

/*
 * Find the end of the line starting at p[i] (the index of its CR) checking
 * every byte with ok().  Returns 1 with *end set, 0 when the data ends
 * first, or ERR_INVALID (message set) on a bad byte, bare CR or bare LF.
 */
static int
proxy_line(size_t *end, const char *p, size_t n, size_t i,
    bool (*ok)(unsigned char))
{
	for (; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r') {
			if (i + 1 == n)
				return 0;
			if (p[i + 1] != '\n')
				return err_set(ERR_INVALID, "bare CR in head");
			*end = i;
			return 1;
		}
		if (c == '\n')
			return err_set(ERR_INVALID, "bare LF in head");
		if (!ok(c))
			return err_set(ERR_INVALID,
			    "forbidden byte 0x%02x in head", c);
	}
	return 0;
}

static bool
proxy_any_vchar(unsigned char c)
{
	return proxy_vchar(c);
}

/* Parse a Content-Length value: 1*DIGIT, or a list of equal values. */
static int
proxy_parse_length(int64_t *out, struct proxy_str v)
{
	int64_t val = -1, cur;
	size_t i = 0;

	for (;;) {
		size_t digits = 0;

		cur = 0;
		while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		while (i < v.n && isdigit((unsigned char)v.p[i])) {
			if (++digits > 15)
				return err_set(ERR_INVALID,
				    "Content-Length too large");
			cur = cur * 10 + (v.p[i] - '0');
			i++;
		}
		if (digits == 0)
			return err_set(ERR_INVALID, "malformed Content-Length");
		if (val >= 0 && cur != val)
			return err_set(ERR_INVALID,
			    "two different Content-Length values");
		val = cur;
		while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		if (i == v.n)
			break;
		if (v.p[i] != ',')
			return err_set(ERR_INVALID, "malformed Content-Length");
		i++;
	}
	*out = val;
	return 0;
}

/* Split a Connection value into its options. */
static void
proxy_parse_connection(struct proxy_head *h, struct proxy_str v)
{
	size_t i = 0;

	while (i < v.n) {
		struct proxy_str t;

		while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' ||
		    v.p[i] == ','))
			i++;
		t.p = v.p + i;
		while (i < v.n && v.p[i] != ',' && v.p[i] != ' ' &&
		    v.p[i] != '\t')
			i++;
		t.n = (size_t)(v.p + i - t.p);
		if (t.n == 0)
			continue;
		if (proxy_str_eq(t, "close"))
			h->conn_close = true;
		else if (proxy_str_eq(t, "keep-alive"))
			h->conn_keepalive = true;
		else if (proxy_str_eq(t, "upgrade"))
			h->conn_upgrade = true;
		else if (h->nconn_tokens < PROXY_CONN_TOKENS)
			h->conn_tokens[h->nconn_tokens++] = t;
	}
}

/*
 * Parse the header fields from p[i] up to and including the empty line.
 * Returns 1 (h->len set), 0 for more, or ERR_INVALID / ERR_TOOBIG.
 */
static int
proxy_parse_fields(struct proxy_head *h, const char *p, size_t n, size_t i)
{
	int ncl = 0, nte = 0, rc;

	h->content_length = -1;
	for (;;) {
		size_t end, colon, vs, ve;
		struct proxy_hdr *f;

		if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n')
			break;
		if (i < n && p[i] == '\n')
			return err_set(ERR_INVALID, "bare LF in head");
		if (i + 1 >= n)
			return (i < n && p[i] != '\r' && p[i] != ' ' &&
			    p[i] != '\t' && !proxy_tchar[(unsigned char)p[i]]) ?
			    err_set(ERR_INVALID, "invalid header name") : 0;
		if (p[i] == ' ' || p[i] == '\t')
			return err_set(ERR_INVALID,
			    "obsolete line folding in header");
		colon = i;
		while (colon < n && proxy_tchar[(unsigned char)p[colon]])
			colon++;
		if (colon == n)
			return 0;
		if (p[colon] != ':' || colon == i)
			return err_set(ERR_INVALID, "invalid header name");
		if ((rc = proxy_line(&end, p, n, colon + 1, proxy_any_vchar)) <= 0)
			return rc;
		if (h->nhdr == PROXY_HEADERS_MAX)
			return err_set(ERR_TOOBIG, "more than %d header fields",
			    PROXY_HEADERS_MAX);
		vs = colon + 1;
		ve = end;
		while (vs < ve && (p[vs] == ' ' || p[vs] == '\t'))
			vs++;
		while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
			ve--;
		f = &h->hdr[h->nhdr++];
		f->name = (struct proxy_str){ p + i, colon - i };
		f->value = (struct proxy_str){ p + vs, ve - vs };

		if (proxy_str_eq(f->name, "content-length")) {
			int64_t len = -1;

			if ((rc = proxy_parse_length(&len, f->value)) < 0)
				return rc;
			if (ncl++ && len != h->content_length)
				return err_set(ERR_INVALID,
				    "two different Content-Length values");
			h->content_length = len;
		} else if (proxy_str_eq(f->name, "transfer-encoding")) {
			if (nte++)
				return err_set(ERR_INVALID,
				    "more than one Transfer-Encoding header");
			if (!proxy_str_eq(f->value, "chunked"))
				return err_set(ERR_INVALID,
				    "Transfer-Encoding '%.*s' is not chunked",
				    (int)(f->value.n > 40 ? 40 : f->value.n),
				    f->value.p);
			h->chunked = true;
		} else if (proxy_str_eq(f->name, "connection")) {
			proxy_parse_connection(h, f->value);
		} else if (proxy_str_eq(f->name, "upgrade")) {
			h->upgrade = f->value;
		} else if (proxy_str_eq(f->name, "x-request-id")) {
			h->request_id = f->value;
		}
		i = end + 2;
	}
	if (ncl && nte)
		return err_set(ERR_INVALID,
		    "both Content-Length and Transfer-Encoding");
	h->len = i + 2;
	return 1;
}

static void
proxy_head_reset(struct proxy_head *h)
{
	memset(h, 0, offsetof(struct proxy_head, hdr));
	h->nhdr = 0;
	h->content_length = -1;
	h->chunked = h->conn_close = h->conn_keepalive = false;
	h->conn_upgrade = false;
	h->upgrade = (struct proxy_str){ NULL, 0 };
	h->nconn_tokens = 0;
	h->request_id = (struct proxy_str){ NULL, 0 };
}

/* Host values: reg-name or IP literal with an optional port. */
static bool
proxy_host_valid(struct proxy_str s)
{
	if (s.n == 0 || s.n > 255)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (!isalnum(c) && c != '.' && c != '-' && c != ':' &&
		    c != '[' && c != ']' && c != '_')
			return false;
	}
	return true;
}

/* The request line: method SP target SP HTTP/1.x CRLF. */
static int
proxy_parse_request_line(struct proxy_head *h, int *status, const char *p,
    size_t n, size_t *next)
{
	size_t i = 0, end, t0;
	int rc;

	while (i < n && proxy_tchar[(unsigned char)p[i]])
		i++;
	if (i == n)
		return i > 32 ? err_set(ERR_INVALID, "method too long") : 0;
	if (i == 0 || i > 32 || p[i] != ' ')
		return err_set(ERR_INVALID, "malformed request line");
	h->method = (struct proxy_str){ p, i };
	t0 = ++i;
	while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
		i++;
	if (i - t0 > PROXY_LINE_MAX) {
		*status = 414;
		return err_set(ERR_TOOBIG, "request target longer than %d bytes",
		    PROXY_LINE_MAX);
	}
	if (i == n)
		return 0;
	if (i == t0 || p[i] != ' ')
		return err_set(ERR_INVALID, "malformed request target");
	h->target = (struct proxy_str){ p + t0, i - t0 };
	i++;
	if ((rc = proxy_line(&end, p, n, i, proxy_any_vchar)) <= 0)
		return rc;
	if (end - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 ||
	    (p[i + 7] != '0' && p[i + 7] != '1')) {
		if (end - i == 8 && memcmp(p + i, "HTTP/", 5) == 0 &&
		    isdigit((unsigned char)p[i + 5]) && p[i + 6] == '.' &&
		    isdigit((unsigned char)p[i + 7])) {
			*status = 505;
			return err_set(ERR_UNSUPPORTED,
			    "HTTP version %.3s not supported", p + i + 5);
		}
		return err_set(ERR_INVALID, "malformed HTTP version");
	}
	h->minor = p[i + 7] - '0';
	*next = end + 2;
	return 1;
}

/* Split the target into path and (absolute-form) host. */
static int
proxy_parse_target(struct proxy_head *h)
{
	struct proxy_str t = h->target;
	size_t skip = 0;

	if (t.p[0] == '/') {
		h->path = t;
		return 0;
	}
	if (t.n == 1 && t.p[0] == '*') {
		if (!proxy_str_eq(h->method, "options"))
			return err_set(ERR_INVALID, "'*' target needs OPTIONS");
		h->path = t;
		return 0;
	}
	if (t.n > 7 && strncasecmp(t.p, "http://", 7) == 0)
		skip = 7;
	else if (t.n > 8 && strncasecmp(t.p, "https://", 8) == 0)
		skip = 8;
	else
		return err_set(ERR_INVALID, "malformed request target");
	h->host.p = t.p + skip;
	h->host.n = 0;
	while (skip + h->host.n < t.n && t.p[skip + h->host.n] != '/' &&
	    t.p[skip + h->host.n] != '?')
		h->host.n++;
	if (!proxy_host_valid(h->host) || memchr(h->host.p, '@', h->host.n))
		return err_set(ERR_INVALID, "malformed request target");
	h->path.p = h->host.p + h->host.n;
	h->path.n = t.n - skip - h->host.n;
	return 0;
}

int
proxy_http_parse_request(struct proxy_head *h, int *status, const char *p,
    size_t n)
{
	size_t i = 0, line = 0, lim = n < PROXY_HEAD_MAX ? n : PROXY_HEAD_MAX;
	int rc, nhost = 0;
	struct proxy_str host = { NULL, 0 };

	proxy_head_reset(h);
	*status = 400;
	/* RFC 9112 2.2: a server SHOULD ignore empty lines before a request
	 * (at least one; we allow a few). */
	while (i + 1 < lim && p[i] == '\r' && p[i + 1] == '\n' && i < 8)
		i += 2;
	rc = proxy_parse_request_line(h, status, p + i, lim - i, &line);
	if (rc > 0)
		rc = proxy_parse_fields(h, p, lim, i + line);
	if (rc <= 0) {
		if (rc == ERR_TOOBIG && *status != 414)
			*status = 431;
		if (rc == 0 && n >= PROXY_HEAD_MAX) {
			if (line == 0) {
				*status = 414;
				return err_set(ERR_TOOBIG,
				    "request line over %d bytes", PROXY_HEAD_MAX);
			}
			*status = 431;
			return err_set(ERR_TOOBIG, "request head over %d bytes",
			    PROXY_HEAD_MAX);
		}
		return rc;
	}
	for (size_t k = 0; k < h->nhdr; k++) {
		if (proxy_str_eq(h->hdr[k].name, "host")) {
			host = h->hdr[k].value;
			nhost++;
		}
	}
	if (nhost > 1)
		return err_set(ERR_INVALID, "more than one Host header");
	if (nhost == 0 && h->minor == 1)
		return err_set(ERR_INVALID, "no Host header");
	if (nhost && !proxy_host_valid(host))
		return err_set(ERR_INVALID, "malformed Host header");
	if (h->chunked && h->minor == 0)
		return err_set(ERR_INVALID, "Transfer-Encoding in HTTP/1.0");
	if (proxy_str_eq(h->method, "connect")) {
		*status = 501;
		return err_set(ERR_UNSUPPORTED, "CONNECT is not supported");
	}
	h->host = host;
	if ((rc = proxy_parse_target(h)) < 0)
		return rc;
	if (h->host.n == 0)
		return err_set(ERR_INVALID, "no Host header");
	return 1;
}

int
proxy_http_parse_response(struct proxy_head *h, const char *p, size_t n)
{
	size_t lim = n < PROXY_HEAD_MAX ? n : PROXY_HEAD_MAX, end, i;
	int rc;

	proxy_head_reset(h);
	if (lim < 12) {
		if (memcmp(p, "HTTP/1.", lim < 7 ? lim : 7) != 0)
			return err_set(ERR_INVALID, "not an HTTP/1 response");
		return 0;
	}
	if (memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || !isdigit((unsigned char)p[9]) ||
	    !isdigit((unsigned char)p[10]) || !isdigit((unsigned char)p[11]) ||
	    p[9] == '0' || p[9] > '5')
		return err_set(ERR_INVALID, "malformed status line");
	h->minor = p[7] - '0';
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	i = 12;
	if (i < lim && p[i] != '\r' && p[i] != ' ')
		return err_set(ERR_INVALID, "malformed status line");
	if ((rc = proxy_line(&end, p, lim, i, proxy_any_vchar)) <= 0)
		goto incomplete;
	h->reason = (struct proxy_str){ p + i + (i < end), end - i - (i < end) };
	rc = proxy_parse_fields(h, p, lim, end + 2);
incomplete:
	if (rc == 0 && n >= PROXY_HEAD_MAX)
		return err_set(ERR_TOOBIG, "response head over %d bytes",
		    PROXY_HEAD_MAX);
	return rc;
}

/* ---- chunked bodies -------------------------------------------------- */

enum {
	CK_SIZE = 0,     /* hex digits */
	CK_SIZE_WS,      /* after the size: BWS, then ';' or CR */
	CK_EXT,          /* after ';': extension bytes up to CR */
	CK_SIZE_LF,
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TRAILER,      /* start of a trailer line, or the final CRLF */
	CK_TRAILER_NAME,
	CK_TRAILER_VALUE,
	CK_TRAILER_LF,
	CK_FINAL_LF,
};

static int
proxy_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

ssize_t
proxy_chunk_scan(struct proxy_chunk *c, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && !c->done) {
		unsigned char ch = (unsigned char)p[i];
		int v;

		switch (c->state) {
		case CK_SIZE:
			if ((v = proxy_hexval(ch)) >= 0) {
				/* 15 hex digits cap a chunk near 2^60. */
				if (++c->digits > 15)
					return err_set(ERR_INVALID,
					    "chunk size too large");
				c->left = c->left * 16 + (uint64_t)v;
				c->line++;
				i++;
				break;
			}
			if (c->digits == 0)
				return err_set(ERR_INVALID,
				    "malformed chunk size");
			c->state = CK_SIZE_WS;
			break;
		case CK_SIZE_WS:
			if (ch == '\r') {
				c->state = CK_SIZE_LF;
			} else if (ch == ';') {
				c->state = CK_EXT;
			} else if (ch == '\n') {
				return err_set(ERR_INVALID,
				    "bare LF after chunk size");
			} else if (ch != ' ' && ch != '\t') {
				return err_set(ERR_INVALID,
				    "malformed chunk size");
			}
			if (++c->line > PROXY_CHUNK_LINE_MAX)
				return err_set(ERR_INVALID,
				    "chunk extension too long");
			i++;
			break;
		case CK_EXT:
			if (ch == '\r') {
				c->state = CK_SIZE_LF;
			} else if (ch == '\n') {
				return err_set(ERR_INVALID,
				    "bare LF after chunk size");
			} else if (!proxy_vchar(ch)) {
				return err_set(ERR_INVALID,
				    "forbidden byte in chunk extension");
			}
			if (++c->line > PROXY_CHUNK_LINE_MAX)
				return err_set(ERR_INVALID,
				    "chunk extension too long");
			i++;
			break;
		case CK_SIZE_LF:
			if (ch != '\n')
				return err_set(ERR_INVALID,
				    "bare CR after chunk size");
			i++;
			c->line = 0;
			c->digits = 0;
			c->state = c->left ? CK_DATA : CK_TRAILER;
			break;
		case CK_DATA: {
			size_t take = n - i;

			if (take > c->left)
				take = (size_t)c->left;
			i += take;
			c->left -= take;
			if (c->left == 0)
				c->state = CK_DATA_CR;
			break;
		}
		case CK_DATA_CR:
			if (ch != '\r')
				return err_set(ERR_INVALID,
				    "chunk data longer than its size");
			c->state = CK_DATA_LF;
			i++;
			break;
		case CK_DATA_LF:
			if (ch != '\n')
				return err_set(ERR_INVALID,
				    "bare CR after chunk data");
			c->state = CK_SIZE;
			i++;
			break;
		case CK_TRAILER:
			if (ch == '\r') {
				c->state = CK_FINAL_LF;
				i++;
				break;
			}
			if (!proxy_tchar[ch])
				return err_set(ERR_INVALID,
				    "invalid trailer field");
			c->state = CK_TRAILER_NAME;
			break;
		case CK_TRAILER_NAME:
			if (ch == ':')
				c->state = CK_TRAILER_VALUE;
			else if (!proxy_tchar[ch])
				return err_set(ERR_INVALID,
				    "invalid trailer field name");
			goto count;
		case CK_TRAILER_VALUE:
			if (ch == '\r')
				c->state = CK_TRAILER_LF;
			else if (ch == '\n' || !proxy_vchar(ch))
				return err_set(ERR_INVALID,
				    "invalid trailer field value");
			goto count;
		case CK_TRAILER_LF:
			if (ch != '\n')
				return err_set(ERR_INVALID,
				    "bare CR in trailer");
			c->state = CK_TRAILER;
		count:
			if (++c->trailer > PROXY_TRAILER_MAX)
				return err_set(ERR_INVALID,
				    "trailer fields too long");
			i++;
			break;
		case CK_FINAL_LF:
			if (ch != '\n')
				return err_set(ERR_INVALID,
				    "bare CR at end of chunked body");
			i++;
			c->done = true;
			break;
		}
	}
	return (ssize_t)i;
}
