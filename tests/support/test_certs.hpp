// Certificates made at test time with the OpenSSL 3 API, so no private key is committed:
// self-signed (like `openssl req -x509`: CA:TRUE, so a client can trust the certificate
// itself), SAN DNS names and a CN, valid from now for 90 days by default, written as PEM.
// Failures throw std::runtime_error: this is test code.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace got::test {

enum class key_kind
{
    ec_p256,
    rsa_2048,
};

struct certificate_request
{
    std::string common_name = "got-test";
    std::vector<std::string> dns_names; // the SAN; empty: no SAN extension at all
    key_kind key = key_kind::ec_p256;
    int days = 90;
};

struct certificate_files
{
    std::filesystem::path cert; // PEM certificate
    std::filesystem::path key;  // PEM private key (PKCS#8, unencrypted), mode 0600
};

// Writes `<stem>.pem` and `<stem>.key` into `dir`.
certificate_files write_self_signed(std::filesystem::path const& dir, std::string const& stem,
                                    certificate_request const& request);

// A new key that matches no certificate, written to `<stem>.key`: the mismatched key.
std::filesystem::path write_unrelated_key(std::filesystem::path const& dir, std::string const& stem,
                                          key_kind kind = key_kind::ec_p256);

// A new key encrypted with AES-256-CBC under `passphrase`, written to `<stem>.key`.
std::filesystem::path write_encrypted_key(std::filesystem::path const& dir, std::string const& stem,
                                          std::string const& passphrase);

} // namespace got::test
