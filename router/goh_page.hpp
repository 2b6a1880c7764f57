// The browse page of the GoH gateway: one built-in HTML document, no external assets,
// served at `goh.path` to a browser (Accept: text/html, no `url`). Its script fetches
// `<path>?url=<gopher URL>` with `Accept: application/gopher` and renders the reply:
// menus as links (types 0, 1, 9 and other binaries as downloads, 7 with a search box,
// `h` with `URL:` selectors as external links for http, https and gopher only, `i` as
// text, `3` as an error), text items in <pre>. The item shown is the URL hash
// (`<path>#gopher://host/1/selector`), so back, forward and shared links work. Every
// piece of server text is inserted with textContent, never as HTML; the page's
// Content-Security-Policy allows only its own inline script and style (by hash) and
// fetches to its own origin.
#pragma once

#include <string_view>

namespace got {

// The document.
std::string_view goh_page_html();

// The Content-Security-Policy header value for it (hashes computed once).
std::string_view goh_page_csp();

} // namespace got
