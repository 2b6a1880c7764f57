// Shared by the config loader tests: a fresh temp dir holding certificates made at test
// time, YAML written inline (line 1 is the first line of the raw string) with @names@ for
// file paths, and an assertion that finds a problem by line, key path and message.
#pragma once

#include "common/config_loader.hpp"
#include "temp_dir.hpp"
#include "test_certs.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <string>
#include <string_view>
#include <vector>

namespace got::test {

class config_fixture : public ::testing::Test
{
protected:
    config_fixture();

    // Replaces @dir@, @example_cert@, @example_key@, @wild_cert@, @wild_key@, @other_key@.
    std::string expand(std::string_view yaml) const;
    std::filesystem::path write_config(std::string_view yaml) const;
    config_result load(std::string_view yaml) const;
    // The config; fails the test when there were problems.
    config load_ok(std::string_view yaml) const;
    // The problems; fails the test when the config loaded.
    std::vector<config_problem> load_problems(std::string_view yaml) const;

    temp_dir dir_;
    certificate_files example_; // SAN Example.ORG, www.example.org
    certificate_files wild_;    // SAN *.Example.NET
    std::filesystem::path other_key_;
    std::filesystem::path config_path_;
};

// One line per problem, for failure messages.
std::string to_text(std::vector<config_problem> const& problems);

// Whether some problem is at `line` with key path `key` and a message containing `text`.
::testing::AssertionResult has_problem(std::vector<config_problem> const& problems, int line,
                                       std::string_view key, std::string_view text);

} // namespace got::test
