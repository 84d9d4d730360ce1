/* Base64 encode/decode; see include/slipway/base64.h. */
#include "slipway/base64.h"
#include "slipway/buf.h"
#include "slipway/err.h"

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
base64_encode(struct buf *out, const void *data, size_t n, bool url)
{
	const unsigned char *p = data;
	const char *al = url ? b64_url : b64_std;
	char q[4];
	int rc;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (unsigned)p[i + 1] << 8;
		if (left > 2)
			v |= p[i + 2];
		q[0] = al[(v >> 18) & 63];
		q[1] = al[(v >> 12) & 63];
		q[2] = left > 1 ? al[(v >> 6) & 63] : '=';
		q[3] = left > 2 ? al[v & 63] : '=';
		size_t k = 4;
		if (url)
			k = left > 2 ? 4 : left + 1;
		if ((rc = buf_put(out, q, k)) < 0)
			return rc;
	}
	return 0;
}

static int
b64_value(char c, bool url)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == (url ? '-' : '+')) return 62;
	if (c == (url ? '_' : '/')) return 63;
	return -1;
}

int
base64_decode(struct buf *out, const char *text, size_t n, bool url)
{
	unsigned v = 0;
	int bits = 0, rc;

	while (n > 0 && text[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return err_set(ERR_INVALID, "bad base64 length");
	for (size_t i = 0; i < n; i++) {
		int d = b64_value(text[i], url);
		if (d < 0)
			return err_set(ERR_INVALID, "bad base64 character");
		v = (v << 6) | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if ((rc = buf_putc(out, (char)((v >> bits) & 0xff))) < 0)
				return rc;
		}
	}
	return 0;
}
