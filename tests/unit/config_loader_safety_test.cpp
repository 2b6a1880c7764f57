// Hostile input: alias bombs, cycles, deep nesting and oversized files are refused quickly
// with a clear message, and nothing throws out of the loader.
#include "config_fixture.hpp"

#include <chrono>

namespace got::test {
namespace {

using ConfigLoaderSafety = config_fixture;
using clock_type = std::chrono::steady_clock;

// The classic "billion laughs": nine levels of nine aliases, about 390 million nodes.
constexpr std::string_view alias_bomb =
    R"(a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
)";

std::vector<config_problem> problems_of(config_result const& result)
{
    auto const* p = std::get_if<std::vector<config_problem>>(&result);
    return p ? *p : std::vector<config_problem>{};
}

TEST_F(ConfigLoaderSafety, AliasBombRefusedFast)
{
    ASSERT_LT(alias_bomb.size(), 400u);
    auto start = clock_type::now();
    auto p = load_problems(alias_bomb);
    auto elapsed = clock_type::now() - start;
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_NE(p[0].message.find("too many YAML nodes (alias expansion?)"), std::string::npos)
        << p[0].message;
    EXPECT_LT(elapsed, std::chrono::seconds(1));
}

TEST_F(ConfigLoaderSafety, AliasBombUnderAKnownKeyRefusedFast)
{
    std::string text(alias_bomb);
    text += "listeners: *i\nroutes: *i\n";
    auto start = clock_type::now();
    auto p = load_problems(text);
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_NE(p[0].message.find("too many YAML nodes"), std::string::npos) << p[0].message;
    EXPECT_LT(clock_type::now() - start, std::chrono::seconds(1));
}

TEST_F(ConfigLoaderSafety, SelfReferencingAliasRefused)
{
    auto start = clock_type::now();
    auto p = load_problems("listeners: &l [*l]\nroutes: []\n");
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_NE(p[0].message.find("too many YAML nodes"), std::string::npos) << p[0].message;
    EXPECT_LT(clock_type::now() - start, std::chrono::seconds(1));
}

TEST_F(ConfigLoaderSafety, DeepNestingRefused)
{
    auto text = "listeners: " + std::string(1000, '[') + std::string(1000, ']') + "\n";
    auto p = load_problems(text);
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_EQ(p[0].message, "nesting too deep");
    EXPECT_GE(p[0].line, 1);
}

TEST_F(ConfigLoaderSafety, DeepBlockNestingRefused)
{
    std::string text;
    for (int depth = 0; depth < 1000; ++depth)
        text +=
            std::string(static_cast<std::size_t>(depth), ' ') + "k" + std::to_string(depth) + ":\n";
    auto p = load_problems(text);
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_EQ(p[0].message, "nesting too deep");
}

TEST_F(ConfigLoaderSafety, OversizeFileRefused)
{
    std::string text = "listeners: []\n";
    text += "#" + std::string((std::size_t{1} << 20), 'x') + "\n";
    auto p = load_problems(text);
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_NE(p[0].message.find("larger than 1 MiB"), std::string::npos) << p[0].message;
    EXPECT_EQ(p[0].line, 0);
}

TEST_F(ConfigLoaderSafety, OversizeTextRefused)
{
    std::string text((std::size_t{1} << 20) + 1, '#');
    auto p = problems_of(load_config_text(text, "big.yaml", ""));
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_EQ(p[0].file, "big.yaml");
    EXPECT_NE(p[0].message.find("larger than 1 MiB"), std::string::npos) << p[0].message;
}

TEST_F(ConfigLoaderSafety, ConfigPathIsADirectory)
{
    auto p = problems_of(load_config(dir_.path().string()));
    ASSERT_EQ(p.size(), 1u) << to_text(p);
    EXPECT_NE(p[0].message.find("is a directory"), std::string::npos) << p[0].message;
}

TEST_F(ConfigLoaderSafety, OddYamlNeverThrows)
{
    char const* texts[] = {
        "? [a, b]\n: c\n",                 // a complex key
        "listeners: !!binary aGVsbG8=\n",  // a tag
        "listeners: [{? {a: b} : c}]\n",   // a complex key deeper down
        "\t\n",                            // a tab
        "listeners: \"\\x00\"\n",          // a NUL in a scalar
        "&a a: *a\n",                      // an anchored key
        "listeners:\n  - *undefined\n",    // an unknown alias
        "%YAML 9.9\n---\na: b\n",          // an unknown version
        "\xff\xfe\n",                      // not UTF-8
        "listeners: [&x {address: *x}]\n", // a map containing itself
    };
    for (auto const* text : texts) {
        config_result result;
        EXPECT_NO_THROW(result = load_config_text(text, "odd.yaml", "")) << text;
        EXPECT_TRUE(std::holds_alternative<std::vector<config_problem>>(result)) << text;
    }
}

} // namespace
} // namespace got::test
