// What the server-side TLS contexts share: OpenSSL's error queue as text, and the TLS 1.2
// cipher suites (the certificate contexts' default, and a route's unless it sets its own).
#pragma once

#include <openssl/err.h>
#include <string>

namespace got {

// Mozilla "intermediate" TLS 1.2 suites: ECDHE with AES-GCM or ChaCha20-Poly1305.
inline constexpr char const* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The oldest error on this thread's OpenSSL queue as text; the queue is cleared.
inline std::string openssl_error()
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

} // namespace got
