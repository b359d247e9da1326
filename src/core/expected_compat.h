// poolscope::expected and poolscope::unexpected: std::expected where the standard library has it,
// else a fallback of our own in poolscope::compat (never in namespace std, where adding names is
// undefined behaviour). g++ 12 (-std=c++23) has it; clang 14 — the Debian 12 clang that provides
// libFuzzer — cannot compile libstdc++'s <expected> (it needs conditionally trivial destructors,
// P0848). Only the clang fuzzing build uses the fallback: a small variant-based subset with the
// members poolscope uses.
#pragma once

#include <version>

#if defined(__cpp_lib_expected)
#include <expected>

namespace poolscope {
using std::expected;
using std::unexpected;
}  // namespace poolscope
#else
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace poolscope {
namespace compat {

template <class E>
class unexpected {
 public:
  template <class Err = E>
  requires(!std::is_same_v<std::remove_cvref_t<Err>, unexpected>) constexpr explicit unexpected(
      Err&& e)
      : error_(std::forward<Err>(e)) {}
  constexpr const E& error() const& noexcept { return error_; }
  constexpr E& error() & noexcept { return error_; }
  constexpr E&& error() && noexcept { return std::move(error_); }

 private:
  E error_;
};
template <class E>
unexpected(E) -> unexpected<E>;

class bad_expected_access_base : public std::exception {
 public:
  const char* what() const noexcept override { return "bad expected access"; }
};

template <class T, class E>
class expected {
 public:
  using value_type = T;
  using error_type = E;

  constexpr expected() : v_(std::in_place_index<0>) {}
  template <class U = T>
  requires(!std::is_same_v<std::remove_cvref_t<U>, expected> &&
           !std::is_same_v<std::remove_cvref_t<U>, unexpected<E> > &&
           std::is_constructible_v<T, U>) constexpr expected(U&& value)
      : v_(std::in_place_index<0>, std::forward<U>(value)) {}
  template <class G>
  constexpr expected(const unexpected<G>& u) : v_(std::in_place_index<1>, u.error()) {}
  template <class G>
  constexpr expected(unexpected<G>&& u) : v_(std::in_place_index<1>, std::move(u).error()) {}

  constexpr bool has_value() const noexcept { return v_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  constexpr T& operator*() & { return std::get<0>(v_); }
  constexpr const T& operator*() const& { return std::get<0>(v_); }
  constexpr T&& operator*() && { return std::get<0>(std::move(v_)); }
  constexpr T* operator->() { return &std::get<0>(v_); }
  constexpr const T* operator->() const { return &std::get<0>(v_); }
  constexpr T& value() & { return check(), std::get<0>(v_); }
  constexpr const T& value() const& { return check(), std::get<0>(v_); }
  constexpr const E& error() const& { return std::get<1>(v_); }
  constexpr E& error() & { return std::get<1>(v_); }
  template <class U>
  constexpr T value_or(U&& other) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(other));
  }

 private:
  constexpr void check() const {
    if (!has_value()) throw bad_expected_access_base();
  }
  std::variant<T, E> v_;
};

template <class E>
class expected<void, E> {
 public:
  using value_type = void;
  using error_type = E;

  constexpr expected() = default;
  template <class G>
  constexpr expected(const unexpected<G>& u) : error_(u.error()), ok_(false) {}
  template <class G>
  constexpr expected(unexpected<G>&& u) : error_(std::move(u).error()), ok_(false) {}

  constexpr bool has_value() const noexcept { return ok_; }
  constexpr explicit operator bool() const noexcept { return ok_; }
  constexpr void operator*() const noexcept {}
  constexpr void value() const {
    if (!ok_) throw bad_expected_access_base();
  }
  constexpr const E& error() const& { return error_; }
  constexpr E& error() & { return error_; }

 private:
  E error_{};
  bool ok_ = true;
};

}  // namespace compat
using compat::expected;
using compat::unexpected;
}  // namespace poolscope
#endif
