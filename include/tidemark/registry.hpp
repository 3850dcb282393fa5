// The name -> implementation table behind strategies and write modes: each implementation is
// a singleton with a name(); the config names one, and everything else asks its capabilities.
#pragma once
#include <initializer_list>
#include <string>
#include <vector>

namespace tidemark {

template <class T>
class Registry {
 public:
  Registry(std::initializer_list<const T*> items) : items_(items) {}
  // nullptr for an unknown name (the validator turns that into "one of: …" with a suggestion).
  const T* find(const std::string& name) const {
    for (const T* t : items_)
      if (t->name() == name) return t;
    return nullptr;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const T* t : items_) out.push_back(t->name());
    return out;
  }
  const std::vector<const T*>& all() const { return items_; }
  // The names of those whose caps() have `cap` set, in registry order.
  template <class Caps>
  std::vector<std::string> names_with(bool Caps::*cap) const {
    std::vector<std::string> out;
    for (const T* t : items_)
      if (t->caps().*cap) out.push_back(t->name());
    return out;
  }

 private:
  std::vector<const T*> items_;
};

}  // namespace tidemark
