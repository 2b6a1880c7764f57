// Certificates that share names: only a dual pair (the same names, one ECDSA and one RSA
// key) may; any other sharing is refused with both entries' lines.
#include "config_fixture.hpp"

namespace got::test {
namespace {

class ConfigLoaderCertificates : public config_fixture
{
protected:
    ConfigLoaderCertificates()
    {
        auto add = [&](std::string const& stem, std::vector<std::string> names, key_kind key) {
            auto files = write_self_signed(dir_.path(), stem, {.dns_names = names, .key = key});
            entries_.push_back("  - { cert: " + files.cert.string() +
                               ", key: " + files.key.string() + " }\n");
        };
        add("ec", {"dual.test", "www.dual.test"}, key_kind::ec_p256);
        add("rsa", {"dual.test", "www.dual.test"}, key_kind::rsa_2048);
        add("ec2", {"dual.test", "www.dual.test"}, key_kind::ec_p256);
        add("rsa_part", {"dual.test"}, key_kind::rsa_2048);
    }

    // A config whose certificates are the entries `picks` (0..3) of the list above, in
    // that order, from line 5 on.
    std::string with(std::vector<int> const& picks) const
    {
        std::string yaml = "listeners:\n  - address: 127.0.0.1:0\n    default_route: a\n"
                           "certificates:\n";
        for (int p : picks)
            yaml += entries_[static_cast<std::size_t>(p)];
        return yaml + "routes:\n  - name: a\n    backends: [\"127.0.0.1:7070\"]\n";
    }

    std::vector<std::string> entries_;
};

TEST_F(ConfigLoaderCertificates, DualPairLoadsWithItsKeyTypes)
{
    auto cfg = load_ok(with({0, 1}));
    ASSERT_EQ(cfg.certificates.size(), 2u);
    EXPECT_EQ(cfg.certificates[0].key_type, "ecdsa");
    EXPECT_EQ(cfg.certificates[1].key_type, "rsa");
    EXPECT_EQ(cfg.certificates[0].names, cfg.certificates[1].names);
}

TEST_F(ConfigLoaderCertificates, SameKeyTypeTwiceIsRefused)
{
    auto problems = load_problems(with({0, 2}));
    EXPECT_TRUE(
        has_problem(problems, 6, "certificates[1]", "both ecdsa certificates for \"dual.test\""))
        << to_text(problems);
    EXPECT_TRUE(has_problem(problems, 6, "certificates[1]", "line 5")) << to_text(problems);
}

TEST_F(ConfigLoaderCertificates, SharingSomeNamesIsRefused)
{
    auto problems = load_problems(with({0, 3}));
    EXPECT_TRUE(has_problem(problems, 6, "certificates[1]", "but not the same names"))
        << to_text(problems);
}

TEST_F(ConfigLoaderCertificates, ThirdOfAPairIsRefused)
{
    auto problems = load_problems(with({0, 1, 2}));
    EXPECT_TRUE(has_problem(problems, 7, "certificates[2]", "both ecdsa")) << to_text(problems);
}

} // namespace
} // namespace got::test
