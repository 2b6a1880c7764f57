// Selectors as the match stage sees them: the selector of a request line, selector
// prefixes (`selector_prefix` on a route), stripping one, and the gophernicus `;vhost`
// suffix. Plain functions over strings, no I/O.
//
// A prefix matches the selector equal to it and the selectors below it: `/phorum`
// matches `/phorum`, `/phorum/`, `/phorum/x` and `/phorum?q`, not `/phorumx`. Prefixes
// never end in `/` (the loader refuses that), so stripping `/phorum` from `/phorum/x`
// leaves `/x`, and putting it back before `/x` gives the selector again.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace got::selector {

// The selector of a request line (the bytes up to its LF, or all there is): what comes
// before the first TAB, CR or LF.
std::string_view of_request(std::string_view request);

// Whether `prefix` matches `selector` (see above).
bool has_prefix(std::string_view selector, std::string_view prefix);

// Why `prefix` cannot be a selector prefix, or empty when it can.
std::string prefix_problem(std::string_view prefix);

// A selector ending in `;name` (gophernicus' virtual host convention), split: the
// selector before the `;` and the name, normalised (sni::normalise). nullopt when there
// is no `;` or what follows the last one is not a valid server name.
struct vhost_split
{
    std::string_view selector;
    std::string name;
};
std::optional<vhost_split> split_vhost(std::string_view selector);

} // namespace got::selector
