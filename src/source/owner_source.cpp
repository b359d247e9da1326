// OWNER-filling sources (owner_source.h).
#include "source/owner_source.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "source/host.h"

namespace poolscope {

namespace {

class OwnerSource final : public Source {
 public:
  OwnerSource(std::unique_ptr<Source> inner, std::shared_ptr<const attrib::OwnerResolver> resolver,
              std::vector<std::string> notes)
      : inner_(std::move(inner)), resolver_(std::move(resolver)), notes_(std::move(notes)) {}
  Result<Snapshot> sample() override {
    auto snapshot = inner_->sample();
    if (!snapshot) return snapshot;
    const std::size_t filled = resolver_->fill(*snapshot);
    resolver_->save_memo();  // a memo that cannot be written only costs the next run time
    if (filled > 0) {
      for (const auto& entry : snapshot->entries) {
        if (entry.owner.ends_with("?")) {
          snapshot->notes.push_back(
              "an OWNER ending in ? is a guess from the cache's name only; `poolscope who CACHE` "
              "shows the evidence");
          break;
        }
      }
    }
    snapshot->notes.insert(snapshot->notes.end(), notes_.begin(), notes_.end());
    return snapshot;
  }
  std::string describe() const override { return inner_->describe(); }

 private:
  std::unique_ptr<Source> inner_;
  std::shared_ptr<const attrib::OwnerResolver> resolver_;
  std::vector<std::string> notes_;
};

// For a long-running recorder: each key's owner is resolved once, when the key first appears, and
// remembered; the resolver (the kernel's symbols: about 8 MB) is held only while a sample with new
// keys is filled, then released, so the recorder stays as small as without owners.
class OwnersOnceSource final : public Source {
 public:
  OwnersOnceSource(std::unique_ptr<Source> inner, std::optional<attrib::OwnerResolver> first,
                   ResolverFactory load, std::vector<std::string> notes)
      : inner_(std::move(inner)),
        load_(std::move(load)),
        first_(std::move(first)),
        notes_(std::move(notes)) {}
  Result<Snapshot> sample() override {
    auto snapshot = inner_->sample();
    if (!snapshot) return snapshot;
    const bool new_keys = std::any_of(snapshot->entries.begin(), snapshot->entries.end(),
                                      [this](const Entry& e) { return !known_.contains(id(e)); });
    if (new_keys) {
      std::optional<attrib::OwnerResolver> resolver = std::move(first_);
      first_.reset();
      if (!resolver) {
        // A key that appeared later (a module loaded a cache): the files again. One that can no
        // longer be read leaves the new keys without an owner; the recording goes on.
        resolver = load_();
      }
      if (resolver) {
        resolver->fill(*snapshot);
        resolver->save_memo();
      }
      for (const Entry& e : snapshot->entries) known_.try_emplace(id(e), e.owner);
      resolver.reset();
      host::release_free_memory();  // the symbol table's pages, not only to malloc's free lists
    }
    for (Entry& e : snapshot->entries) {
      if (e.owner.empty()) e.owner = known_[id(e)];
    }
    snapshot->notes.insert(snapshot->notes.end(), notes_.begin(), notes_.end());
    return snapshot;
  }
  std::string describe() const override { return inner_->describe(); }

 private:
  using Id = std::tuple<PoolKey, PoolKind, std::optional<std::uint32_t>>;
  static Id id(const Entry& e) { return {e.key, e.pool, e.session_id}; }
  std::unique_ptr<Source> inner_;
  ResolverFactory load_;
  std::optional<attrib::OwnerResolver> first_;
  std::vector<std::string> notes_;
  std::map<Id, std::string> known_;
};

}  // namespace

std::unique_ptr<Source> with_owners(std::unique_ptr<Source> source,
                                    std::shared_ptr<const attrib::OwnerResolver> resolver,
                                    std::vector<std::string> notes) {
  return std::make_unique<OwnerSource>(std::move(source), std::move(resolver), std::move(notes));
}

std::unique_ptr<Source> with_owners_once(std::unique_ptr<Source> source,
                                         std::optional<attrib::OwnerResolver> first,
                                         ResolverFactory load, std::vector<std::string> notes) {
  return std::make_unique<OwnersOnceSource>(std::move(source), std::move(first), std::move(load),
                                            std::move(notes));
}

}  // namespace poolscope
