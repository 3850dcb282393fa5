// Connection strings checked the way libpq reads them, before anything connects. The parser is
// libpq's own (PQconninfoParse: pure, no I/O, no defaults, no service file); the value rules are
// those libpq 15 applies later in PQconnectdb (connectOptions2, parse_int_param), restated here
// because libpq offers no way to check them without connecting.
#include "tidemark/dsn.hpp"

#include <libpq-fe.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <regex>

#include "tidemark/util.hpp"

namespace tidemark {
namespace {

struct Parsed {
  bool ok = false;
  std::string error;                          // libpq's message when !ok
  std::map<std::string, std::string> values;  // the options the string sets
  std::vector<std::string> keywords;          // every option libpq knows
};

Parsed parse(const std::string& dsn) {
  Parsed p;
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (!opts) {
    p.error = err ? err : "libpq could not parse it (out of memory)";
    if (err) PQfreemem(err);
    while (!p.error.empty() && (p.error.back() == '\n' || p.error.back() == ' ')) p.error.pop_back();
    return p;
  }
  p.ok = true;
  for (const PQconninfoOption* o = opts; o->keyword; ++o) {
    p.keywords.emplace_back(o->keyword);
    if (o->val) p.values[o->keyword] = o->val;
  }
  PQconninfoFree(opts);
  return p;
}

bool is_uri(const std::string& dsn) { return dsn.rfind("postgresql://", 0) == 0 || dsn.rfind("postgres://", 0) == 0; }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// libpq's parse_int_param: strtol in base 10 (leading blanks skipped), an int, then only blanks.
bool libpq_int(const std::string& v, long* out = nullptr) {
  const char* s = v.c_str();
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(s, &end, 10);
  if (end == s || errno != 0 || n != static_cast<int>(n)) return false;
  while (*end != '\0' && std::isspace(static_cast<unsigned char>(*end))) ++end;
  if (*end != '\0') return false;
  if (out) *out = n;
  return true;
}

bool numeric_address(const std::string& a) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;  // never a name lookup
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(a.c_str(), nullptr, &hints, &res);
  if (res) freeaddrinfo(res);
  return rc == 0;
}

// libpq 15's parse errors (fe-connect.c, conninfo_parse and conninfo_uri_parse): %s is a piece
// of the string, %c one character of it, %d a position.
const char* const kParseErrors[] = {
    "missing \"=\" after \"%s\" in connection info string",
    "unterminated quoted string in connection info string",
    "invalid connection option \"%s\"",
    "invalid URI propagated to internal parser routine: \"%s\"",
    "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"%s\"",
    "IPv6 host address may not be empty in URI: \"%s\"",
    "unexpected character \"%c\" at position %d in URI (expected \":\" or \"/\"): \"%s\"",
    "extra key/value separator \"=\" in URI query parameter: \"%s\"",
    "missing key/value separator \"=\" in URI query parameter: \"%s\"",
    "invalid URI query parameter: \"%s\"",
    "invalid percent-encoded token: \"%s\"",
    "forbidden value %%00 in percent-encoded value: \"%s\"",
    "out of memory",
};

// libpq's message with every piece of the string in it replaced by "…". The pieces may hold
// quotes themselves, so the message is matched against libpq's templates, never split at
// quotes; a message no template matches is not shown at all.
std::string withhold_fragments(const std::string& msg) {
  for (const char* t : kParseErrors) {
    std::string re, shown;
    for (const char* c = t; *c; ++c) {
      if (c[0] == '%' && (c[1] == 's' || c[1] == 'c' || c[1] == 'd')) {
        re += c[1] == 'd' ? "([0-9]+)" : "[\\s\\S]*";
        shown += c[1] == 'd' ? "%d" : "…";
        ++c;
      } else if (c[0] == '%' && c[1] == '%') {
        re += '%';
        shown += '%';
        ++c;
      } else {
        if (std::strchr("\\^$.|?*+()[]{}", *c)) re += '\\';
        re += *c;
        shown += *c;
      }
    }
    std::smatch m;
    if (std::regex_match(msg, m, std::regex(re))) {
      if (const size_t d = shown.find("%d"); d != std::string::npos) shown.replace(d, 2, m[1].str());
      return shown;
    }
  }
  return "libpq could not parse it";
}

// A URI whose user name or password holds an unencoded '/' or '@' is split by libpq in the
// wrong place, and the rest of the secret becomes a host or database name that later messages
// quote. libpq reads user information up to the first '@' before any '/'; after it (or without
// it), the text up to the query must hold no '@'.
bool uri_misplaced_at(const std::string& dsn) {
  const size_t scheme = dsn.find("://");
  std::string rest = dsn.substr(scheme + 3);
  const size_t k = rest.find_first_of("@/");
  if (k != std::string::npos && rest[k] == '@') rest = rest.substr(k + 1);
  return rest.substr(0, rest.find('?')).find('@') != std::string::npos;
}

const std::vector<std::string> kSslModes = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
const std::vector<std::string> kOffPreferRequire = {"disable", "prefer", "require"};  // gssencmode, channel_binding
const std::vector<std::string> kSessionAttrs = {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"};
const std::vector<std::string> kTlsVersions = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
const char* const kIntOptions[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                                   "keepalives_count", "tcp_user_timeout"};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

bool dsn_may_hold_secret(const std::string& dsn) {
  return lower(dsn).find("password") != std::string::npos || (is_uri(dsn) && dsn.find('@') != std::string::npos);
}

std::vector<std::string> dsn_secrets(const std::string& dsn) {
  std::vector<std::string> out;
  const Parsed p = parse(dsn);
  for (const char* k : {"password", "sslpassword"})
    if (auto it = p.values.find(k); it != p.values.end() && !it->second.empty()) out.push_back(it->second);
  return out;
}

std::optional<std::string> dsn_problem(const std::string& dsn) {
  const bool secret = dsn_may_hold_secret(dsn);
  const Parsed p = parse(dsn);
  if (!p.ok) {
    if (!secret) {
      std::string msg = "not a valid connection string: " + p.error;
      const std::string unknown = "invalid connection option \"";
      if (p.error.rfind(unknown, 0) == 0) {
        const std::string name = p.error.substr(unknown.size(), p.error.find('"', unknown.size()) - unknown.size());
        msg += did_you_mean(name, parse("").keywords);
      }
      return msg;
    }
    return "not a valid connection string: " + withhold_fragments(p.error) +
           " (the parts libpq quotes are not shown: the string holds a password; " +
           (is_uri(dsn) ? "in a URI, percent-encode spaces, '@', '/', ':', '?', '#' and '%' in the user name and "
                          "password: %20, %40, %2F, %3A, %3F, %23, %25)"
                        : "a value with spaces, quotes or backslashes goes in single quotes, password='…', "
                          "with \\' for a quote and \\\\ for a backslash inside)");
  }
  // A value is quoted in a message only when the string holds no secret.
  auto shown = [&](const std::string& v) { return secret ? std::string() : " '" + v + "'"; };
  auto get = [&](const char* k) -> const std::string* {
    auto it = p.values.find(k);
    return it == p.values.end() ? nullptr : &it->second;
  };
  if (is_uri(dsn) && uri_misplaced_at(dsn))
    return std::string("the URI has an '@' that libpq does not read as the end of the user name and password; "
                       "percent-encode '@', '/', ':' and spaces inside them (%40, %2F, %3A, %20)");

  // Hosts, host addresses and ports: libpq pairs them by position.
  const std::string* host = get("host");
  const std::string* hostaddr = get("hostaddr");
  const std::string* port = get("port");
  size_t hosts = 1;
  if (hostaddr && !hostaddr->empty()) {
    const auto addrs = split_commas(*hostaddr);
    hosts = addrs.size();
    for (const auto& a : addrs)
      if (!a.empty() && !numeric_address(a))
        return "hostaddr" + shown(a) + " is not a numeric IP address (a host name goes in host)";
    if (host && !host->empty() && split_commas(*host).size() != hosts)
      return std::to_string(split_commas(*host).size()) + " host name(s) for " + std::to_string(hosts) +
             " hostaddr value(s): give one host name per address";
  } else if (host && !host->empty()) {
    hosts = split_commas(*host).size();
  }
  if (port && !port->empty()) {
    const auto ports = split_commas(*port);
    if (ports.size() != 1 && ports.size() != hosts)
      return std::to_string(ports.size()) + " ports for " + std::to_string(hosts) +
             " host(s): give one port for all hosts, or one per host";
    for (const auto& one : ports) {
      long n = 0;
      if (!one.empty() && (!libpq_int(one, &n) || n < 1 || n > 65535))
        return "port" + shown(one) + " is not a port number (1 to 65535)";
    }
  }

  // Options whose values libpq checks only when it connects.
  struct Choice {
    const char* option;
    const std::vector<std::string>* allowed;
  };
  for (const Choice& c : {Choice{"sslmode", &kSslModes}, Choice{"gssencmode", &kOffPreferRequire},
                          Choice{"channel_binding", &kOffPreferRequire}, Choice{"target_session_attrs", &kSessionAttrs}})
    if (const std::string* v = get(c.option))
      if (std::find(c.allowed->begin(), c.allowed->end(), *v) == c.allowed->end())
        return std::string(c.option) + shown(*v) + " is not one of " + join(*c.allowed) +
               (secret ? "" : did_you_mean(*v, *c.allowed));
  auto tls_rank = [](const std::string& v) -> int {
    for (size_t i = 0; i < kTlsVersions.size(); ++i)
      if (lower(v) == lower(kTlsVersions[i])) return static_cast<int>(i);
    return -1;
  };
  for (const char* k : {"ssl_min_protocol_version", "ssl_max_protocol_version"})
    if (const std::string* v = get(k))
      if (!v->empty() && tls_rank(*v) < 0) return std::string(k) + shown(*v) + " is not one of " + join(kTlsVersions);
  const std::string* tls_min = get("ssl_min_protocol_version");
  const std::string* tls_max = get("ssl_max_protocol_version");
  if (tls_min && tls_max && !tls_min->empty() && !tls_max->empty() && tls_rank(*tls_min) > tls_rank(*tls_max))
    return std::string("ssl_min_protocol_version is above ssl_max_protocol_version");
  for (const char* k : kIntOptions)
    if (const std::string* v = get(k))
      if (!libpq_int(*v)) return std::string(k) + shown(*v) + " is not an integer";
  return std::nullopt;
}

std::string scrub_secrets(const std::string& text, const std::vector<std::string>& secrets) {
  std::vector<std::string> parts;
  for (const auto& s : secrets) {
    if (s.size() >= 3) parts.push_back(s);
    size_t i = 0;
    while (i < s.size()) {
      size_t j = i;
      while (j < s.size() && std::isalnum(static_cast<unsigned char>(s[j]))) ++j;
      if (j - i >= 3) parts.push_back(s.substr(i, j - i));
      i = j == i ? i + 1 : j;
    }
  }
  std::sort(parts.begin(), parts.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  std::string out = text;
  for (const auto& part : parts)
    for (size_t at = out.find(part); at != std::string::npos; at = out.find(part, at + 3)) out.replace(at, part.size(), "***");
  return redact_text(out);
}

}  // namespace tidemark
