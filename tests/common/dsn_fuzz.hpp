// Generated connection strings with passwords in them, for the redaction tests of both tiers:
// key=value and URI forms, quoted, escaped, raw and broken, with passwords made of spaces,
// quotes, backslashes, '=', '@', '%' and other specials between random words.
#pragma once
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace tmtest {

struct FuzzDsn {
  std::string dsn;
  std::string password;
  bool well_formed = false;  // written the way libpq reads it: must parse, with this password
};

// The pieces of `password` no message may contain: itself (3 characters or more) and every run
// of 3 or more letters and digits in it.
inline std::vector<std::string> secret_words(const std::string& password) {
  std::vector<std::string> out;
  if (password.size() >= 3) out.push_back(password);
  std::string word;
  for (size_t i = 0; i <= password.size(); ++i) {
    const char c = i < password.size() ? password[i] : ' ';
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      word += c;
    } else {
      if (word.size() >= 3) out.push_back(word);
      word.clear();
    }
  }
  return out;
}

// The first piece of a password that `text` contains, or "".
inline std::string leaked(const std::string& text, const std::string& password) {
  for (const auto& w : secret_words(password))
    if (text.find(w) != std::string::npos) return w;
  return "";
}

// `base_kv` is the rest of a key=value DSN ("host=… port=… dbname=… user=…"); the URI forms
// use `user`, `host_query` ("host=%2Fsock&port=5432" or "") and `db`.
class DsnFuzzer {
 public:
  DsnFuzzer(unsigned seed, std::string base_kv, std::string user, std::string authority, std::string db,
            std::string query)
      : rng_(seed), kv_(std::move(base_kv)), user_(std::move(user)), authority_(std::move(authority)),
        db_(std::move(db)), query_(std::move(query)) {}

  // A word that cannot be mistaken for message text: letters and digits, with at least one
  // digit and one of the rare letters q, w, x, j, k, v (either case).
  std::string word() {
    static const char* alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static const char* rare = "qwxjkvQWXJKV";
    const int n = pick(3, 8);
    std::string w;
    for (int i = 0; i < n; ++i) w += alnum[pick(0, 61)];
    const int digit = pick(0, n - 1), letter = (digit + pick(1, n - 1)) % n;
    w[static_cast<size_t>(digit)] = static_cast<char>('0' + pick(0, 9));
    w[static_cast<size_t>(letter)] = rare[pick(0, 11)];
    return w;
  }

  std::string password() {
    static const std::vector<std::string> specials = {" ", "  ", "'", "\\", "=", "@", "%", "/", ":", "?", "#",
                                                      "\"", "&", "%41", "%zz", "''", "\\'", " = ", "@@", "\t"};
    std::string pw;
    if (pick(0, 4) == 0) pw += specials[pick(0, static_cast<int>(specials.size()) - 1)];
    const int words = pick(1, 4);
    for (int i = 0; i < words; ++i) {
      if (i > 0) pw += specials[pick(0, static_cast<int>(specials.size()) - 1)];
      pw += word();
    }
    if (pick(0, 4) == 0) pw += specials[pick(0, static_cast<int>(specials.size()) - 1)];
    return pw;
  }

  FuzzDsn next() {
    FuzzDsn f;
    f.password = password();
    const std::string& pw = f.password;
    const int form = pick(0, 13);
    switch (form) {
      case 0:  // quoted and escaped: what libpq expects
        f.dsn = kv("password='" + quote_escaped(pw) + "'");
        f.well_formed = true;
        break;
      case 1:  // unquoted, backslash-escaped: also correct
        f.dsn = kv("password=" + backslash_escaped(pw));
        f.well_formed = true;
        break;
      case 2:  // spaces around '='
        f.dsn = kv("password = '" + quote_escaped(pw) + "'");
        f.well_formed = true;
        break;
      case 3:  // raw and unquoted: broken whenever it has a space, quote or backslash
        f.dsn = kv("password=" + pw);
        break;
      case 4:  // quoted but never closed
        f.dsn = kv("password='" + quote_escaped(pw));
        break;
      case 5:  // quoted, inner quotes not escaped
        f.dsn = kv("password='" + pw + "'");
        break;
      case 6:  // correct password, and another option libpq refuses
        f.dsn = kv("password='" + quote_escaped(pw) + "' " + broken_option());
        break;
      case 7:  // raw password, then a broken option
        f.dsn = kv("password=" + pw + " " + broken_option());
        break;
      case 8:  // the keyword in the wrong case (libpq's keywords are case-sensitive)
        f.dsn = kv("PASSWORD=" + pw);
        break;
      case 9:  // URI, percent-encoded user information: correct
        f.dsn = uri(user_ + ":" + percent_encoded(pw) + "@", "");
        f.well_formed = true;
        break;
      case 10:  // URI, raw user information
        f.dsn = uri(user_ + ":" + pw + "@", "");
        break;
      case 11:  // URI, percent-encoded ?password=: correct
        f.dsn = uri(user_ + "@", "password=" + percent_encoded(pw));
        f.well_formed = true;
        break;
      case 12:  // URI, raw ?password=
        f.dsn = uri(user_ + "@", "password=" + pw);
        break;
      default:  // URI, a broken percent escape or query parameter besides the password
        f.dsn = uri(user_ + ":" + percent_encoded(pw) + "@", pick(0, 1) ? "bogus=1" : "sslmode=%zz");
        break;
    }
    return f;
  }

 private:
  std::mt19937 rng_;
  std::string kv_, user_, authority_, db_, query_;

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  std::string kv(const std::string& pw_part) {
    switch (pick(0, 2)) {
      case 0: return pw_part + " " + kv_;
      case 1: return kv_ + " " + pw_part;
      default: {  // in the middle
        const size_t space = kv_.find(' ');
        if (space == std::string::npos) return kv_ + " " + pw_part;
        return kv_.substr(0, space) + " " + pw_part + kv_.substr(space);
      }
    }
  }

  std::string uri(const std::string& userinfo, const std::string& extra) {
    std::string q = query_;
    if (!extra.empty()) q += (q.empty() ? "" : "&") + extra;
    return std::string(pick(0, 1) ? "postgresql://" : "postgres://") + userinfo + authority_ + "/" + db_ +
           (q.empty() ? "" : "?" + q);
  }

  std::string broken_option() {
    static const std::vector<std::string> broken = {"bogus=1", "port=notaport", "sslmode=bogus", "port=70000",
                                                    "connect_timeout=soon", "hostaddr=not-an-ip", "gssencmode=maybe"};
    return broken[pick(0, static_cast<int>(broken.size()) - 1)];
  }

  static std::string quote_escaped(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  }
  static std::string backslash_escaped(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == ' ' || c == '\t' || c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  }
  static std::string percent_encoded(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        out += static_cast<char>(c);
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      }
    }
    return out;
  }
};

}  // namespace tmtest
