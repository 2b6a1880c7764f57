// The config model's small helpers and the problem's printed form.
#include "common/config.hpp"
#include "common/config_loader.hpp"

#include <gtest/gtest.h>

namespace got {
namespace {

TEST(Endpoint, ToStringBracketsIpv6)
{
    EXPECT_EQ((endpoint{"127.0.0.1", 70}.to_string()), "127.0.0.1:70");
    EXPECT_EQ((endpoint{"::1", 70}.to_string()), "[::1]:70");
    EXPECT_EQ((endpoint{"::", 0}.to_string()), "[::]:0");
    EXPECT_EQ((endpoint{"localhost", 7070}.to_string()), "localhost:7070");
}

TEST(Config, FindRoute)
{
    config cfg;
    cfg.routes.resize(2);
    cfg.routes[0].name = "a";
    cfg.routes[1].name = "b";
    ASSERT_NE(cfg.find_route("b"), nullptr);
    EXPECT_EQ(cfg.find_route("b"), &cfg.routes[1]);
    EXPECT_EQ(cfg.find_route("c"), nullptr);
    EXPECT_EQ(cfg.find_route(""), nullptr);
}

TEST(Config, DefaultCertificateIsTheMarkedOne)
{
    config cfg;
    cfg.certificates.resize(2);
    cfg.certificates[1].is_default = true;
    EXPECT_EQ(cfg.default_certificate(), &cfg.certificates[1]);
}

TEST(Config, DefaultCertificateIsTheFirstWhenNoneIsMarked)
{
    config cfg;
    EXPECT_EQ(cfg.default_certificate(), nullptr);
    cfg.certificates.resize(2);
    EXPECT_EQ(cfg.default_certificate(), &cfg.certificates[0]);
}

TEST(ConfigProblem, ToString)
{
    EXPECT_EQ((config_problem{"got.yaml", 3, 5, "routes[2].backends[0]", "bad"}.to_string()),
              "got.yaml:3:5: routes[2].backends[0]: bad");
    EXPECT_EQ((config_problem{"got.yaml", 0, 0, "", "cannot read"}.to_string()),
              "got.yaml: cannot read");
    EXPECT_EQ((config_problem{"got.yaml", 0, 0, "listeners", "missing"}.to_string()),
              "got.yaml: listeners: missing");
    EXPECT_EQ((config_problem{"got.yaml", 7, 1, "", "nesting too deep"}.to_string()),
              "got.yaml:7:1: nesting too deep");
}

} // namespace
} // namespace got
