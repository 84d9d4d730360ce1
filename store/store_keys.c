/*
 * SSH public keys: parsed with libssh, fingerprinted as ssh-keygen -lf
 * prints them ("SHA256:" + unpadded base64 of the blob's sha256), and kept
 * one key to one user (the fingerprint is unique in the table).
 *
 * A key line is refused, with the reason, when it has options before the
 * type, an unknown or unsupported type (DSA, certificates), base64 that
 * does not decode, a blob that is truncated or has trailing bytes, a blob
 * whose inner type differs from the named one, or an RSA modulus under
 * 2048 bits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libssh/libssh.h>
#include <openssl/evp.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "store_int.h"

#define KEY_LINE_MAX 16384
#define KEY_COMMENT_MAX 256
#define KEY_RSA_MIN_BITS 2048

struct key_parsed {
	char type[64];
	char *b64;
	char comment[KEY_COMMENT_MAX + 1];
	char fingerprint[80];
};

/* Bits of the RSA modulus in an ssh-rsa blob (string type, mpint e,
 * mpint n); 0 when the blob does not parse. */
static unsigned
key_rsa_bits(const char *b64)
{
	size_t n = strlen(b64), off = 0;
	unsigned char *raw = xmalloc(n / 4 * 3 + 3);
	int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	unsigned bits = 0;

	if (len < 0)
		goto done;
	/* EVP_DecodeBlock counts the padding as bytes. */
	if (n >= 1 && b64[n - 1] == '=')
		len--;
	if (n >= 2 && b64[n - 2] == '=')
		len--;
	for (int field = 0; field < 3; field++) {
		uint32_t flen;

		if ((size_t)len - off < 4)
			goto done;
		flen = (uint32_t)raw[off] << 24 | (uint32_t)raw[off + 1] << 16 |
		    (uint32_t)raw[off + 2] << 8 | raw[off + 3];
		off += 4;
		if (flen > (size_t)len - off)
			goto done;
		if (field == 2) {
			const unsigned char *m = raw + off;
			while (flen > 0 && *m == 0)
				m++, flen--;
			if (flen == 0)
				goto done;
			bits = (flen - 1) * 8;
			for (unsigned c = *m; c; c >>= 1)
				bits++;
		}
		off += flen;
	}
done:
	free(raw);
	return bits;
}

static void
key_fingerprint(char out[80], ssh_key key)
{
	unsigned char *hash = NULL;
	unsigned char b64[64];
	size_t hlen = 0;
	int n;

	out[0] = '\0';
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) != 0 || hlen != 32) {
		ssh_clean_pubkey_hash(&hash);
		return;
	}
	n = EVP_EncodeBlock(b64, hash, (int)hlen);
	ssh_clean_pubkey_hash(&hash);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(out, 80, "SHA256:%.*s", n, (const char *)b64);
}

static bool
key_is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parse and check one public key line; on success p->b64 is allocated. */
static int
key_parse(struct key_parsed *p, const char *line)
{
	enum ssh_keytypes_e type;
	ssh_key key = NULL;
	char *copy = NULL, *b64 = NULL, *again = NULL, *s, *e;
	size_t n;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	n = strnlen(line, KEY_LINE_MAX + 1);
	if (n > KEY_LINE_MAX)
		return err_set(ERR_TOOBIG, "public key is over %d bytes",
		    KEY_LINE_MAX);
	copy = xstrndup(line, n);
	/* Trim, then insist on one line. */
	for (s = copy; key_is_space(*s) || *s == '\n' || *s == '\r'; s++)
		;
	e = s + strlen(s);
	while (e > s && (key_is_space(e[-1]) || e[-1] == '\n' ||
	    e[-1] == '\r'))
		*--e = '\0';
	if (*s == '\0') {
		rc = err_set(ERR_INVALID, "public key is empty");
		goto done;
	}
	if (strpbrk(s, "\r\n")) {
		rc = err_set(ERR_INVALID, "public key must be one line "
		    "(add keys one at a time)");
		goto done;
	}
	/* type */
	for (e = s; *e && !key_is_space(*e); e++)
		;
	if ((size_t)(e - s) >= sizeof(p->type)) {
		rc = err_set(ERR_INVALID, "public key type is too long; is "
		    "this an OpenSSH public key (TYPE BASE64 [COMMENT])?");
		goto done;
	}
	memcpy(p->type, s, (size_t)(e - s));
	for (s = e; key_is_space(*s); s++)
		;
	type = ssh_key_type_from_name(p->type);
	if (strstr(p->type, "-cert-")) {
		rc = err_set(ERR_INVALID, "certificates are not accepted "
		    "('%s'); add the plain public key", p->type);
		goto done;
	}
	if (type == SSH_KEYTYPE_DSS) {
		rc = err_set(ERR_INVALID, "DSA keys are not accepted (too "
		    "weak); use ed25519, ecdsa or rsa");
		goto done;
	}
	if (type == SSH_KEYTYPE_UNKNOWN) {
		rc = err_set(ERR_INVALID, "unknown key type '%s'; is this an "
		    "OpenSSH public key (TYPE BASE64 [COMMENT]), not a "
		    "private key or options?", p->type);
		goto done;
	}
	/* base64 */
	for (e = s; *e && !key_is_space(*e); e++)
		;
	if (e == s) {
		rc = err_set(ERR_INVALID, "public key has no key data after "
		    "its type");
		goto done;
	}
	b64 = xstrndup(s, (size_t)(e - s));
	for (s = e; key_is_space(*s); s++)
		;
	if (strlen(s) > KEY_COMMENT_MAX) {
		rc = err_set(ERR_INVALID, "key comment is over %d bytes",
		    KEY_COMMENT_MAX);
		goto done;
	}
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			rc = err_set(ERR_INVALID, "key comment has control "
			    "characters");
			goto done;
		}
	snprintf(p->comment, sizeof(p->comment), "%s", s);

	if (ssh_pki_import_pubkey_base64(b64, type, &key) != SSH_OK) {
		rc = err_set(ERR_INVALID, "malformed %s key: the key data "
		    "does not decode (truncated or not base64?)", p->type);
		goto done;
	}
	/* libssh reads what it needs and ignores the rest, and does not
	 * check the blob's own type name: export it again and insist on the
	 * same bytes, so trailing data or a mislabelled blob is refused. */
	if (ssh_pki_export_pubkey_base64(key, &again) != SSH_OK ||
	    strcmp(again, b64) != 0 ||
	    strcmp(ssh_key_type_to_char(ssh_key_type(key)), p->type) != 0) {
		rc = err_set(ERR_INVALID, "malformed %s key: the key data "
		    "has extra bytes or names another type", p->type);
		goto done;
	}
	if (type == SSH_KEYTYPE_RSA) {
		unsigned bits = key_rsa_bits(b64);
		if (bits < KEY_RSA_MIN_BITS) {
			rc = err_set(ERR_INVALID, "RSA key of %u bits is too "
			    "weak; use at least %d bits, or ed25519", bits,
			    KEY_RSA_MIN_BITS);
			goto done;
		}
	}
	key_fingerprint(p->fingerprint, key);
	if (p->fingerprint[0] == '\0') {
		rc = err_set(ERR_IO, "cannot fingerprint the %s key", p->type);
		goto done;
	}
	p->b64 = b64;
	b64 = NULL;
done:
	ssh_string_free_char(again);
	ssh_key_free(key);
	free(b64);
	free(copy);
	return rc;
}

#define KEY_COLUMNS \
	"k.fingerprint AS fingerprint, u.name AS user, k.type AS type," \
	" k.comment AS comment, k.type || ' ' || k.public_key AS public_key," \
	" strftime('%Y-%m-%dT%H:%M:%SZ', k.created_at, 'unixepoch')" \
	" AS created_at"

int
store_key_add(json_t **out, struct store *s, const char *user,
    const char *line)
{
	struct key_parsed p;
	int64_t uid;
	int rc;

	*out = NULL;
	if ((rc = key_parse(&p, line)) < 0)
		return rc;
	if ((rc = store_tx_write(s)) < 0)
		goto out;
	if ((rc = store_user_id(&uid, s, user)) < 0)
		goto done;
	rc = store_exec(s, NULL, "INSERT INTO ssh_keys (user_id, fingerprint,"
	    " type, public_key, comment, created_at) VALUES (?, ?, ?, ?, ?, ?)",
	    "issssi", uid, p.fingerprint, p.type, p.b64, p.comment,
	    (int64_t)time(NULL));
	if (rc == ERR_EXISTS) {
		/* Who holds it is not said: that would tell a member whose
		 * key they have. */
		rc = err_set(ERR_EXISTS, "key %s is already registered (a "
		    "key belongs to one user)", p.fingerprint);
		goto done;
	}
	if (rc < 0)
		goto done;
	rc = store_key_get(out, s, p.fingerprint);
done:
	rc = store_tx_end_json(s, rc, out);
out:
	free(p.b64);
	return rc;
}

int
store_key_remove(struct store *s, const char *fingerprint, const char *user)
{
	int changes = 0, rc;

	rc = store_exec(s, &changes, "DELETE FROM ssh_keys"
	    " WHERE fingerprint = ?1 AND (?2 IS NULL OR"
	    "  user_id = (SELECT id FROM users WHERE name = ?2))", "ss",
	    fingerprint, user);
	if (rc < 0)
		return rc;
	if (changes == 0)
		return err_set(ERR_NOTFOUND, "no such key '%.80s'",
		    fingerprint);
	return 0;
}

int
store_key_list(json_t **out, struct store *s, const char *user)
{
	return store_query_rows(out, s, "SELECT " KEY_COLUMNS " FROM ssh_keys k"
	    " JOIN users u ON u.id = k.user_id WHERE ?1 IS NULL OR u.name = ?1"
	    " ORDER BY u.name, k.id", "s", user);
}

int
store_key_get(json_t **out, struct store *s, const char *fingerprint)
{
	int rc = store_query_row(out, s, "SELECT " KEY_COLUMNS
	    " FROM ssh_keys k JOIN users u ON u.id = k.user_id"
	    " WHERE k.fingerprint = ?", "s", fingerprint);

	if (rc == ERR_NOTFOUND)
		return err_set(rc, "no such key '%.80s'", fingerprint);
	return rc;
}
