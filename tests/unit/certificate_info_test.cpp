// Reading certificates and keys: names, expiry, and every way the pair can be wrong.
#include "common/certificate_info.hpp"
#include "temp_dir.hpp"
#include "test_certs.hpp"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <gtest/gtest.h>
#include <openssl/err.h>

namespace got {
namespace {

using test::certificate_request;
using test::key_kind;
using test::temp_dir;
using test::write_self_signed;

std::int64_t now_seconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

TEST(CheckCertificate, SanNamesLowerCasedAndExpiry)
{
    temp_dir dir;
    auto files = write_self_signed(
        dir.path(), "c", {.common_name = "ignored.test", .dns_names = {"A.Test", "*.B.test"}});
    auto check = check_certificate(files.cert, files.key);
    ASSERT_TRUE(check.info) << check.cert_error << " / " << check.key_error;
    EXPECT_EQ(check.info->names, (std::vector<std::string>{"a.test", "*.b.test"}));
    EXPECT_EQ(check.info->key_type, "ecdsa");
    auto expected = now_seconds() + 90 * 86400;
    EXPECT_NEAR(static_cast<double>(check.info->not_after), static_cast<double>(expected), 120.0);
    EXPECT_EQ(ERR_peek_error(), 0u) << "the OpenSSL error queue is left empty";
}

TEST(CheckCertificate, CommonNameWhenNoSan)
{
    temp_dir dir;
    auto files =
        write_self_signed(dir.path(), "c", {.common_name = "Only.CN.test", .dns_names = {}});
    auto check = check_certificate(files.cert, files.key);
    ASSERT_TRUE(check.info) << check.cert_error << " / " << check.key_error;
    EXPECT_EQ(check.info->names, (std::vector<std::string>{"only.cn.test"}));
}

TEST(CheckCertificate, RsaKey)
{
    temp_dir dir;
    auto files =
        write_self_signed(dir.path(), "c", {.dns_names = {"rsa.test"}, .key = key_kind::rsa_2048});
    auto check = check_certificate(files.cert, files.key);
    ASSERT_TRUE(check.info) << check.cert_error << " / " << check.key_error;
    EXPECT_EQ(check.info->names, (std::vector<std::string>{"rsa.test"}));
    EXPECT_EQ(check.info->key_type, "rsa");
}

TEST(CheckCertificate, ChainAfterLeafIsAccepted)
{
    temp_dir dir;
    auto leaf = write_self_signed(dir.path(), "leaf", {.dns_names = {"leaf.test"}});
    auto other = write_self_signed(dir.path(), "other", {.dns_names = {"other.test"}});
    std::ifstream a(leaf.cert), b(other.cert);
    std::string chain((std::istreambuf_iterator<char>(a)), {});
    chain.append(std::istreambuf_iterator<char>(b), {});
    auto chain_file = dir.write("chain.pem", chain);
    auto check = check_certificate(chain_file, leaf.key);
    ASSERT_TRUE(check.info) << check.cert_error << " / " << check.key_error;
    EXPECT_EQ(check.info->names, (std::vector<std::string>{"leaf.test"}));
}

TEST(CheckCertificate, BrokenCertificateInChain)
{
    temp_dir dir;
    auto leaf = write_self_signed(dir.path(), "leaf", {.dns_names = {"leaf.test"}});
    std::ifstream a(leaf.cert);
    std::string chain((std::istreambuf_iterator<char>(a)), {});
    chain += "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    auto chain_file = dir.write("chain.pem", chain);
    auto check = check_certificate(chain_file, leaf.key);
    EXPECT_FALSE(check.info);
    EXPECT_NE(check.cert_error.find("cannot be parsed"), std::string::npos) << check.cert_error;
}

TEST(CheckCertificate, MissingFiles)
{
    temp_dir dir;
    auto check = check_certificate(dir.path() / "no.pem", dir.path() / "no.key");
    EXPECT_FALSE(check.info);
    EXPECT_NE(check.cert_error.find("No such file or directory"), std::string::npos);
    EXPECT_NE(check.key_error.find("No such file or directory"), std::string::npos);
}

TEST(CheckCertificate, NotPem)
{
    temp_dir dir;
    auto junk = dir.write("junk.pem", "hello\n");
    auto check = check_certificate(junk, junk);
    EXPECT_NE(check.cert_error.find("no PEM certificate"), std::string::npos) << check.cert_error;
    EXPECT_NE(check.key_error.find("no PEM private key"), std::string::npos) << check.key_error;
}

TEST(CheckCertificate, KeyAndCertificateSwapped)
{
    temp_dir dir;
    auto files = write_self_signed(dir.path(), "c", {.dns_names = {"c.test"}});
    auto check = check_certificate(files.key, files.cert);
    EXPECT_NE(check.cert_error.find("no PEM certificate"), std::string::npos) << check.cert_error;
    EXPECT_NE(check.key_error.find("no PEM private key"), std::string::npos) << check.key_error;
}

TEST(CheckCertificate, MismatchedKey)
{
    temp_dir dir;
    auto files = write_self_signed(dir.path(), "c", {.dns_names = {"c.test"}});
    auto other = test::write_unrelated_key(dir.path(), "other");
    auto check = check_certificate(files.cert, other);
    EXPECT_FALSE(check.info);
    EXPECT_TRUE(check.cert_error.empty()) << check.cert_error;
    EXPECT_NE(check.key_error.find("does not match"), std::string::npos) << check.key_error;
    EXPECT_EQ(ERR_peek_error(), 0u) << "the OpenSSL error queue is left empty";
}

TEST(CheckCertificate, MismatchedKeyType)
{
    temp_dir dir;
    auto files = write_self_signed(dir.path(), "c", {.dns_names = {"c.test"}});
    auto other = test::write_unrelated_key(dir.path(), "other", key_kind::rsa_2048);
    auto check = check_certificate(files.cert, other);
    EXPECT_NE(check.key_error.find("does not match"), std::string::npos) << check.key_error;
}

TEST(CheckCertificate, EncryptedKeyIsRefusedWithoutPrompting)
{
    temp_dir dir;
    auto files = write_self_signed(dir.path(), "c", {.dns_names = {"c.test"}});
    auto key = test::write_encrypted_key(dir.path(), "enc", "secret");
    auto check = check_certificate(files.cert, key);
    EXPECT_NE(check.key_error.find("encrypted"), std::string::npos) << check.key_error;
}

TEST(CheckCertificate, DirectoryInsteadOfFile)
{
    temp_dir dir;
    auto check = check_certificate(dir.path(), dir.path());
    EXPECT_NE(check.cert_error.find("is a directory"), std::string::npos) << check.cert_error;
}

} // namespace
} // namespace got
