// The source of one fixed snapshot (see source.h).
#include "source/source.h"

namespace poolscope {

namespace {

class FixedSource final : public Source {
 public:
  FixedSource(std::string name, Snapshot snapshot)
      : name_(std::move(name)), snapshot_(std::move(snapshot)) {}
  Result<Snapshot> sample() override { return snapshot_; }
  std::string describe() const override { return name_; }

 private:
  std::string name_;
  Snapshot snapshot_;
};

}  // namespace

std::unique_ptr<Source> fixed_snapshot_source(std::string name, Snapshot snapshot) {
  return std::make_unique<FixedSource>(std::move(name), std::move(snapshot));
}

}  // namespace poolscope
