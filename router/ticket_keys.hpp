// Session-ticket keys, shared by every TLS context of every config snapshot, so a
// reload does not invalidate the tickets clients hold.
//
// Either generated here and rotated (`tls.ticket_rotation`, the previous key kept for
// decryption only), or loaded from `tls.ticket_keys`: a file of 80-byte keys
// (16-byte name, 32-byte HMAC key, 32-byte AES key; `openssl rand 80 > file`, several
// concatenated), the first one encrypting, the others only decrypting. Replicas that
// share the file resume each other's sessions.
#pragma once

#include "common/published.hpp"

#include <array>
#include <atomic>
#include <memory>
#include <openssl/ssl.h>
#include <string>
#include <vector>

namespace got {

struct ticket_key
{
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> hmac;
    std::array<unsigned char, 32> aes;
};

class ticket_keyring
{
public:
    static ticket_keyring& get();

    using key_list = std::shared_ptr<std::vector<ticket_key> const>;

    // Reads keys from a file without using them; null with `error` when the file is
    // unreadable or malformed. A config snapshot holds them until it is applied.
    static key_list read_file(std::string const& path, std::string& error);
    // Encrypts with the first of `keys` from now on, decrypts with any of them.
    void use_file_keys(key_list keys);
    // Uses generated keys: a new current key, the old current kept for decryption.
    void rotate();
    bool from_file() const { return from_file_.load(); }

    // For SSL_CTX_set_tlsext_ticket_key_evp_cb.
    static int callback(SSL* ssl, unsigned char* key_name, unsigned char* iv,
                        EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt);

private:
    ticket_keyring();
    published<std::vector<ticket_key> const> keys_;
    std::atomic<bool> from_file_{false};
};

} // namespace got
