/* SHA-256 of files and memory blocks (OpenSSL EVP). */
#include "ferry/io.h"

#include "error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

static void to_hex(const unsigned char *md, unsigned len, char hex_out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; i++) {
        hex_out[2 * i] = digits[md[i] >> 4];
        hex_out[2 * i + 1] = digits[md[i] & 15];
    }
    hex_out[2 * len] = '\0';
}

static void finish(EVP_MD_CTX *ctx, char hex_out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    FERRY_ASSERT(EVP_DigestFinal_ex(ctx, md, &len) == 1 && len == 32);
    to_hex(md, len, hex_out);
}

static EVP_MD_CTX *start(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FERRY_ASSERT(ctx != NULL);
    FERRY_ASSERT(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
    return ctx;
}

void ferry_sha256_mem(const void *data, size_t n, char hex_out[65])
{
    EVP_MD_CTX *ctx = start();
    FERRY_ASSERT(EVP_DigestUpdate(ctx, data, n) == 1);
    finish(ctx, hex_out);
    EVP_MD_CTX_free(ctx);
}

/* Feeds the whole stream to ctx; false on a read error. */
static bool digest_stream(EVP_MD_CTX *ctx, FILE *f)
{
    static _Thread_local unsigned char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) FERRY_ASSERT(EVP_DigestUpdate(ctx, buf, k) == 1);
    return !ferror(f);
}

ferry_status ferry_sha256_file(const char *path, char hex_out[65])
{
    hex_out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        return ferry_error(err == ENOENT ? FERRY_ERR_NOT_FOUND : FERRY_ERR_IO, "%s: cannot open: %s", path,
                           strerror(err));
    }
    EVP_MD_CTX *ctx = start();
    bool ok = digest_stream(ctx, f);
    fclose(f);
    if (ok) finish(ctx, hex_out);
    EVP_MD_CTX_free(ctx);
    return ok ? FERRY_OK : ferry_error(FERRY_ERR_IO, "%s: read failed while computing SHA-256", path);
}

static bool is_hex_digest(const char *s)
{
    size_t i = 0;
    for (; s[i] && i < 64; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return i == 64 && s[i] == '\0';
}

ferry_status ferry_verify_file(const char *path, const char *expected_hex)
{
    if (!expected_hex || !is_hex_digest(expected_hex))
        return ferry_error(FERRY_ERR_INVALID, "%s: expected SHA-256 '%s' is not 64 hex digits", path,
                           expected_hex ? expected_hex : "(null)");
    char actual[65];
    ferry_status s = ferry_sha256_file(path, actual);
    if (s) return s;
    if (strcasecmp(actual, expected_hex) != 0)
        return ferry_error(FERRY_ERR_CHECKSUM,
                           "%s: SHA-256 mismatch: expected %s, actual %s (file corrupted or incomplete)",
                           path, expected_hex, actual);
    return FERRY_OK;
}
