// Glob patterns over relative paths, and the default exclusions (see files.hpp).
//
// A path is matched segment by segment: `**` segments stand for any number of path segments,
// every other pattern segment matches exactly one path segment. Both levels use the classic
// "go back to the last star" matcher, which is linear for one star and never exponential.
#include <cctype>

#include "tidemark/files.hpp"

namespace tidemark::files {
namespace {

constexpr std::size_t kNoMatch = std::string_view::npos;

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t slash = s.find('/');
    out.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    s.remove_prefix(slash + 1);
  }
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The class `[...]` at pat[p] against c: the index after its `]`, kNoMatch if c is not in
// it, or p itself when there is no closing `]` (then `[` is an ordinary character).
std::size_t match_class(std::string_view pat, std::size_t p, char c) {
  std::size_t j = p + 1;
  const bool negate = j < pat.size() && (pat[j] == '!' || pat[j] == '^');
  if (negate) ++j;
  const auto uc = static_cast<unsigned char>(c);
  bool found = false;
  for (bool first = true; j < pat.size() && (first || pat[j] != ']'); first = false) {
    auto take = [&]() {
      if (pat[j] == '\\' && j + 1 < pat.size()) ++j;
      return static_cast<unsigned char>(pat[j++]);
    };
    const unsigned char lo = take();
    unsigned char hi = lo;
    if (j + 1 < pat.size() && pat[j] == '-' && pat[j + 1] != ']') {
      ++j;
      hi = take();
    }
    if (lo <= uc && uc <= hi) found = true;
  }
  if (j >= pat.size()) return p;
  return found != negate ? j + 1 : kNoMatch;
}

// Matches one non-star token of pat at *p against name at *n and advances both.
bool step(std::string_view pat, std::size_t* p, std::string_view name, std::size_t* n) {
  const char c = name[*n];
  switch (pat[*p]) {
    case '?':  // one character, not one byte
      ++*p;
      ++*n;
      while (*n < name.size() && is_continuation(name[*n])) ++*n;
      return true;
    case '[': {
      const std::size_t next = match_class(pat, *p, c);
      if (next == kNoMatch) return false;
      if (next != *p) {
        *p = next;
        ++*n;
        return true;
      }
      break;  // no closing `]`: a literal `[`
    }
    case '\\':
      if (*p + 1 < pat.size()) {
        if (pat[*p + 1] != c) return false;
        *p += 2;
        ++*n;
        return true;
      }
      break;
    default:
      break;
  }
  if (pat[*p] != c) return false;
  ++*p;
  ++*n;
  return true;
}

bool match_segment(std::string_view pat, std::string_view name) {
  std::size_t p = 0, n = 0, star_p = kNoMatch, star_n = 0;
  while (n < name.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star_p = p++;
      star_n = n;
    } else if (p < pat.size() && step(pat, &p, name, &n)) {
      // matched one character
    } else if (star_p != kNoMatch) {  // let the last star take one more character
      p = star_p + 1;
      n = ++star_n;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

bool has_wildcard(std::string_view seg) {
  return seg.find_first_of("*?[\\") != std::string_view::npos;
}

bool iends_with(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (std::size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i])
      return false;
  return true;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view relpath) {
  std::vector<std::string_view> pat = split(pattern);
  // A trailing `**` means every file below: `logs/**` is `logs/**/*`, so it never matches `logs`.
  if (pat.back() == "**") pat.push_back("*");
  const std::vector<std::string_view> path = split(relpath);
  std::size_t p = 0, s = 0, star_p = kNoMatch, star_s = 0;
  while (s < path.size()) {
    if (p < pat.size() && pat[p] == "**") {
      star_p = p++;
      star_s = s;
    } else if (p < pat.size() && match_segment(pat[p], path[s])) {
      ++p;
      ++s;
    } else if (star_p != kNoMatch) {  // let the last `**` take one more directory
      p = star_p + 1;
      s = ++star_s;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == "**") ++p;
  return p == pat.size();
}

bool glob_has_recursion(std::string_view pattern) {
  for (std::string_view seg : split(pattern))
    if (seg == "**") return true;
  return false;
}

std::string glob_literal_prefix_dir(std::string_view pattern) {
  const std::vector<std::string_view> segs = split(pattern);
  std::string dir;
  for (std::size_t i = 0; i + 1 < segs.size() && !has_wildcard(segs[i]); ++i) {
    if (!dir.empty()) dir += '/';
    dir += segs[i];
  }
  return dir;
}

bool is_hidden_or_temp(std::string_view relpath) {
  static constexpr std::string_view kTempSuffixes[] = {".tmp", ".part", ".partial", ".crdownload",
                                                       "~"};
  for (std::string_view seg : split(relpath)) {
    if (seg.empty() || seg == ".") continue;
    if (seg.front() == '.') return true;
    for (std::string_view suffix : kTempSuffixes)
      if (iends_with(seg, suffix)) return true;
  }
  return false;
}

}  // namespace tidemark::files
