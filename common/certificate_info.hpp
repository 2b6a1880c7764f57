// Reading a PEM certificate chain and its private key the way the loader needs them:
// which names the certificate serves, when it expires, and whether the key belongs to it.
// Messages name the file and say what is wrong with it. OpenSSL's error queue is left
// empty afterwards, and an encrypted key is refused rather than prompting on a terminal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct x509_st;

namespace got {

struct certificate_info
{
    // Lower-case SAN DNS names of the leaf; its CN only when it has no SAN DNS name.
    std::vector<std::string> names;
    std::int64_t not_after = 0; // seconds since the epoch
    // The leaf key's algorithm: "ecdsa", "rsa", "ed25519", "ed448" or "other". One name
    // may have one certificate of each (dual certificates: ECDSA and RSA).
    std::string key_type;
};

struct certificate_check
{
    std::optional<certificate_info> info; // set when both files are good and match
    std::string cert_error;               // what is wrong with the certificate file
    std::string key_error;                // what is wrong with the key file, or the pair
};

certificate_check check_certificate(std::string const& cert_file, std::string const& key_file);

// A verified peer certificate's subject, RFC 2253 (`CN=client,O=Example`), and its first
// CN (empty when it has none), for the access log and the PROXY v2 CN TLV.
std::string certificate_subject(x509_st* cert);
std::string certificate_common_name(x509_st* cert);

// What is wrong with a file of trusted CA certificates (`client_ca`): unreadable, not PEM,
// no certificate in it, or a certificate that is not a CA. Empty when it is good.
std::string ca_file_problem(std::string const& file);

} // namespace got
