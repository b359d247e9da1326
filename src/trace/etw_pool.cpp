// ETW pool, stack-walk and image records, decoded from their documented layouts (docs/trace.md),
// and the pairing of pool allocations with frees.
#include "trace/etw_pool.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/forward_error.h"
#include "parse/encoding.h"

namespace poolscope::trace::etw {

namespace {

std::uint64_t load(std::span<const std::uint8_t> data, std::size_t offset, unsigned size) {
  // Callers check the length first; little-endian like every Windows target.
  std::uint64_t value = 0;
  for (unsigned i = 0; i < size; ++i) {
    value |= static_cast<std::uint64_t>(data[offset + i]) << (8 * i);
  }
  return value;
}

unexpected<Error> too_short(std::string_view what, std::size_t have, std::size_t need,
                            unsigned pointer_size) {
  return make_error(ErrorCode::kInput,
                    std::string(what) + " payload is " + std::to_string(have) +
                        " bytes, its layout needs at least " + std::to_string(need) + " (" +
                        std::to_string(pointer_size * 8) +
                        "-bit pointers): the record is truncated or not this event");
}

bool kernel_address(std::uint64_t address, unsigned pointer_size) {
  return pointer_size == 4 ? address >= 0x80000000ull : address >= 0xFFFF800000000000ull;
}

bool is_kernel_image(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lower == "ntoskrnl.exe" || lower == "ntkrnlmp.exe" || lower == "ntkrnlpa.exe" ||
         lower == "ntkrpamp.exe";
}

Result<Decoded> decode_pool(const EtwRecord& record, unsigned p) {
  // ETW_POOL_EVENT: ULONG PoolType; ULONG Tag; SIZE_T NumberOfBytes; PVOID Entry. The session
  // variants append a ULONG SessionId, which poolscope does not need.
  const std::size_t need = 8 + 2 * std::size_t{p};
  if (record.user_data.size() < need) {
    return too_short("pool event", record.user_data.size(), need, p);
  }
  PoolEvent out;
  out.op = static_cast<PoolOp>(record.opcode - kOpPoolAlloc);
  out.pool_type = static_cast<std::uint32_t>(load(record.user_data, 0, 4));
  out.big_pool = (out.pool_type & kBigPoolFlag) != 0;
  out.pool_type &= ~kBigPoolFlag;
  out.tag = static_cast<std::uint32_t>(load(record.user_data, 4, 4));
  out.bytes = load(record.user_data, 8, p);
  out.address = load(record.user_data, 8 + p, p);
  out.pid = record.pid;
  out.tid = record.tid;
  out.timestamp = record.timestamp;
  return out;
}

Result<Decoded> decode_stack(const EtwRecord& record, unsigned p) {
  // StackWalk_Event: UINT64 EventTimeStamp; UINT32 StackProcess; UINT32 StackThread;
  // pointer Stack1 .. Stack192.
  constexpr std::size_t kHeader = 16;
  const auto& data = record.user_data;
  if (data.size() < kHeader + p) return too_short("stack walk", data.size(), kHeader + p, p);
  StackEvent out;
  out.event_timestamp = load(data, 0, 8);
  out.pid = static_cast<std::uint32_t>(load(data, 8, 4));
  out.tid = static_cast<std::uint32_t>(load(data, 12, 4));
  const std::size_t frames = std::min((data.size() - kHeader) / p, kMaxStackFrames);
  out.frames.reserve(frames);
  for (std::size_t i = 0; i < frames; ++i) out.frames.push_back(load(data, kHeader + i * p, p));
  return out;
}

Result<Decoded> decode_stack_key(const EtwRecord& record, unsigned p) {
  // StackWalk_Key: UINT64 EventTimeStamp; UINT32 StackProcess; UINT32 StackThread; pointer
  // StackKey.
  const auto& data = record.user_data;
  if (data.size() < 16 + std::size_t{p}) return too_short("stack key", data.size(), 16 + p, p);
  StackKeyEvent out;
  out.event_timestamp = load(data, 0, 8);
  out.pid = static_cast<std::uint32_t>(load(data, 8, 4));
  out.tid = static_cast<std::uint32_t>(load(data, 12, 4));
  out.key = load(data, 16, p);
  out.kernel = record.opcode == kOpStackKeyKernel;
  return out;
}

Result<Decoded> decode_stack_key_frames(const EtwRecord& record, unsigned p) {
  // StackWalk_KeyDelete / KeyRundown: pointer StackKey; pointer Stack1 .. (innermost first).
  const auto& data = record.user_data;
  if (data.size() < p) return too_short("stack key rundown", data.size(), p, p);
  StackKeyFrames out;
  out.key = load(data, 0, p);
  const std::size_t frames = std::min((data.size() - p) / p, kMaxStackFrames);
  out.frames.reserve(frames);
  for (std::size_t i = 0; i < frames; ++i) out.frames.push_back(load(data, p + i * p, p));
  return out;
}

Result<Decoded> decode_image(const EtwRecord& record, unsigned p) {
  // Image (version 2 and 3): pointer ImageBase; pointer ImageSize; UINT32 ProcessId;
  // UINT32 ImageCheckSum; UINT32 TimeDateStamp; UINT32 Reserved0 (v3: two UINT8 and a UINT16);
  // pointer DefaultBase; UINT32 Reserved1..4; string FileName (UTF-16, NUL-terminated).
  // Version 1: ImageBase; ImageSize; UINT32 ProcessId; FileName.
  const auto& data = record.user_data;
  std::size_t name_at = 0;
  if (record.version >= 2) {
    name_at = 3 * std::size_t{p} + 32;
  } else if (record.version == 1) {
    name_at = 2 * std::size_t{p} + 4;
  } else {
    return make_error(ErrorCode::kInput,
                      "image event version 0 (Windows 2000) is not supported: poolscope reads "
                      "versions 1 to 3");
  }
  if (data.size() < name_at) return too_short("image event", data.size(), name_at, p);
  ImageEvent out;
  out.opcode = record.opcode;
  out.base = load(data, 0, p);
  out.size = load(data, p, p);
  out.pid = static_cast<std::uint32_t>(load(data, 2 * std::size_t{p}, 4));
  std::size_t end = name_at;
  while (end + 1 < data.size() && (data[end] != 0 || data[end + 1] != 0)) end += 2;
  out.file_name = parse::utf16le_to_utf8(
      std::as_bytes(data.subspan(name_at, std::min(end, data.size()) - name_at)));
  return out;
}

}  // namespace

unsigned pointer_size(std::uint16_t header_flags, unsigned fallback) {
  if (header_flags & kHeaderFlag64Bit) return 8;
  if (header_flags & kHeaderFlag32Bit) return 4;
  return fallback == 4 ? 4 : 8;
}

Result<Decoded> decode(const EtwRecord& record) {
  const unsigned p = pointer_size(record.header_flags);
  if (record.provider == kPoolGuid) {
    if (record.opcode >= kOpPoolAlloc && record.opcode <= kOpPoolFreeSession) {
      return decode_pool(record, p);
    }
    return Ignored{};
  }
  if (record.provider == kStackWalkGuid) {
    switch (record.opcode) {
      case kOpStackWalk:
        return decode_stack(record, p);
      case kOpStackKeyKernel:
      case kOpStackKeyUser:
        return decode_stack_key(record, p);
      case kOpStackKeyDelete:
      case kOpStackKeyRundown:
        return decode_stack_key_frames(record, p);
      default:
        return Ignored{};
    }
  }
  if (record.provider == kLostEventGuid) {
    if (record.opcode >= 32 && record.opcode <= 34) return LostRecord{record.opcode};
    return Ignored{};
  }
  if (record.provider == kImageLoadGuid) {
    switch (record.opcode) {
      case kOpImageLoad:
      case kOpImageUnload:
      case kOpImageDcStart:
      case kOpImageDcEnd:
        return decode_image(record, p);
      default:
        return Ignored{};
    }
  }
  return Ignored{};
}

std::string tag_text(std::uint32_t tag) {
  std::string out(4, '?');
  for (int i = 0; i < 4; ++i) {
    const auto c = static_cast<unsigned char>(tag >> (8 * i));
    if (c >= 0x20 && c < 0x7f) out[static_cast<std::size_t>(i)] = static_cast<char>(c);
  }
  return out;
}

Result<std::uint32_t> parse_tag(std::string_view name) {
  if (name.empty() || name.size() > 4) {
    return make_error(
        ErrorCode::kUsage,
        "a pool tag has 1 to 4 characters (e.g. --tag Strg), not \"" + std::string(name) + "\"");
  }
  std::uint32_t tag = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto c = i < name.size() ? static_cast<unsigned char>(name[i]) : ' ';
    tag |= static_cast<std::uint32_t>(c) << (8 * i);
  }
  return tag;
}

Result<std::vector<std::uint32_t>> parse_tags(const std::vector<std::string>& names) {
  std::vector<std::uint32_t> tags;
  for (const std::string& name : names) {
    auto tag = parse_tag(name);
    if (!tag) return forward_error(tag);
    tags.push_back(*tag);
  }
  return tags;
}

void ImageMap::add(const ImageEvent& event, unsigned pointer_size) {
  if (event.opcode == kOpImageUnload || event.opcode == kOpImageDcEnd) return;  // keep the name
  if (event.size == 0 || !kernel_address(event.base, pointer_size)) return;
  if (images_.size() >= kMaxImages) return;
  Image image;
  image.base = event.base;
  image.size = event.size;
  const std::size_t slash = event.file_name.find_last_of("\\/");
  image.name = slash == std::string::npos ? event.file_name : event.file_name.substr(slash + 1);
  image.kernel = is_kernel_image(image.name);
  auto it = std::lower_bound(images_.begin(), images_.end(), image.base,
                             [](const Image& a, std::uint64_t base) { return a.base < base; });
  if (it != images_.end() && it->base == image.base) {
    *it = std::move(image);  // loaded again at the same address: the newest one
  } else {
    images_.insert(it, std::move(image));
  }
}

const ImageMap::Image* ImageMap::at(std::uint64_t address) const {
  auto it = std::upper_bound(images_.begin(), images_.end(), address,
                             [](std::uint64_t a, const Image& image) { return a < image.base; });
  if (it == images_.begin()) return nullptr;
  --it;
  return address - it->base < it->size ? &*it : nullptr;
}

std::uint64_t call_site_of(std::span<const std::uint64_t> frames, const ImageMap& images,
                           unsigned pointer_size) {
  if (frames.empty()) return 0;
  for (std::uint64_t frame : frames) {
    if (!kernel_address(frame, pointer_size)) break;  // user mode: the kernel part is over
    const auto* image = images.at(frame);
    if (image == nullptr || !image->kernel) return frame;
  }
  return frames.front();
}

EtwPoolProcessor::EtwPoolProcessor(EtwOptions options)
    : options_(std::move(options)), tracker_(options_.tracker) {
  if (options_.ticks_per_second == 0) options_.ticks_per_second = 10'000'000;
  std::sort(options_.tags.begin(), options_.tags.end());
  pointer_size_ = options_.default_pointer_size == 4 ? 4 : 8;
}

std::uint64_t EtwPoolProcessor::to_ns(std::uint64_t ticks) const {
  // Split so that nothing overflows for any clock up to 18 GHz.
  const std::uint64_t f = options_.ticks_per_second;
  const std::uint64_t seconds = ticks / f;
  if (seconds > UINT64_MAX / 1'000'000'000u - 1) return UINT64_MAX;
  return seconds * 1'000'000'000u + (ticks % f) * 1'000'000'000u / f;
}

std::uint16_t EtwPoolProcessor::intern(std::uint32_t tag, std::uint32_t pool_type) {
  auto it = tag_ids_.find(tag);
  if (it != tag_ids_.end()) return it->second;
  if (tag_names_.size() >= kNoCache) return kNoCache;
  const auto id = static_cast<std::uint16_t>(tag_names_.size());
  tag_names_.push_back(tag_text(tag));
  tag_values_.push_back(tag);
  tag_pool_types_.push_back(pool_type);
  tag_ids_.emplace(tag, id);
  return id;
}

std::string_view EtwPoolProcessor::tag_name(std::uint16_t id) const {
  return id < tag_names_.size() ? std::string_view(tag_names_[id]) : std::string_view("?");
}

std::uint32_t EtwPoolProcessor::tag_value(std::uint16_t id) const {
  return id < tag_values_.size() ? tag_values_[id] : 0;
}

std::uint32_t EtwPoolProcessor::tag_pool_type(std::uint16_t id) const {
  return id < tag_pool_types_.size() ? tag_pool_types_[id] : 0;
}

std::uint64_t EtwPoolProcessor::resolve(std::uint64_t call_site) const {
  if ((call_site & 0xFFFF800000000000ull) != kKeySiteBase) return call_site;
  const std::uint64_t id = call_site - kKeySiteBase;
  return id < key_sites_.size() ? key_sites_[id] : 0;
}

SiteName EtwPoolProcessor::name(std::uint64_t call_site) const {
  SiteName out;
  call_site = resolve(call_site);
  if (call_site == 0) {
    out.symbol = "(no stack)";
    return out;
  }
  char text[48];
  if (const auto* image = images_.at(call_site)) {
    std::snprintf(text, sizeof text, "+0x%llx",
                  static_cast<unsigned long long>(call_site - image->base));
    out.module = image->name;
    out.symbol = image->name + text;
    return out;
  }
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(call_site));
  out.symbol = text;
  return out;
}

void EtwPoolProcessor::add(const EtwRecord& record) {
  ++stats_.records;
  auto decoded = decode(record);
  if (!decoded) {
    if (stats_.malformed++ == 0) stats_.first_malformed = decoded.error().message;
    return;
  }
  const unsigned p = pointer_size(record.header_flags, pointer_size_);
  if (auto* pool = std::get_if<PoolEvent>(&*decoded)) {
    ++stats_.pool_events;
    if (pool->big_pool) ++stats_.big_pool;
    if (!options_.tags.empty() &&
        !std::binary_search(options_.tags.begin(), options_.tags.end(), pool->tag)) {
      ++stats_.other_tags;
      return;
    }
    latest_ = std::max(latest_, pool->timestamp);
    Pending pending;
    pending.timestamp = pool->timestamp;
    pending.tid = pool->tid;
    KmemEvent& event = pending.event;
    event.ptr = pool->address;
    event.pid = static_cast<std::int32_t>(pool->pid);
    const bool alloc = pool->op == PoolOp::kAlloc || pool->op == PoolOp::kAllocSession;
    event.kind = alloc ? KmemKind::kKmalloc : KmemKind::kKfree;
    if (alloc) {
      event.bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(pool->bytes, UINT32_MAX));
      event.cache = intern(pool->tag, pool->pool_type);
    }
    pending_.push_back(pending);
    if (pending_.size() >= kMaxPending) {
      // A burst: pair the older half now (their stacks have long arrived). Everything up to and
      // including the median time, so that even a run of equal timestamps makes room.
      sort_pending();
      const std::uint64_t middle = pending_[pending_.size() / 2].timestamp;
      flush(middle == UINT64_MAX ? UINT64_MAX : middle + 1);
    }
  } else if (auto* stack = std::get_if<StackEvent>(&*decoded)) {
    ++stats_.stacks;
    add_stack(stack->event_timestamp, stack->pid, stack->tid,
              call_site_of(stack->frames, images_, p));
  } else if (auto* stack_key = std::get_if<StackKeyEvent>(&*decoded)) {
    if (!stack_key->kernel) return;  // the user part: the call site is in the kernel part
    ++stats_.stack_keys;
    auto open = open_keys_.find(stack_key->key);
    std::uint64_t site = 0;
    if (open != open_keys_.end()) {
      site = kKeySiteBase + open->second;
    } else if (key_sites_.size() < kMaxKeySites) {
      site = kKeySiteBase + key_sites_.size();
      open_keys_.emplace(stack_key->key, static_cast<std::uint32_t>(key_sites_.size()));
      key_sites_.push_back(0);
    }
    add_stack(stack_key->event_timestamp, stack_key->pid, stack_key->tid, site);
  } else if (auto* frames = std::get_if<StackKeyFrames>(&*decoded)) {
    ++stats_.stack_key_frames;
    // The key's frames stand for every reference since the key entered the cache; a later
    // reference to the same key value is a new stack.
    auto open = open_keys_.find(frames->key);
    if (open == open_keys_.end()) return;
    key_sites_[open->second] = call_site_of(frames->frames, images_, p);
    open_keys_.erase(open);
  } else if (std::holds_alternative<LostRecord>(*decoded)) {
    ++stats_.lost_records;
  } else if (auto* image = std::get_if<ImageEvent>(&*decoded)) {
    ++stats_.images;
    images_.add(*image, p);
  }
}

void EtwPoolProcessor::add_stack(std::uint64_t timestamp, std::uint32_t pid, std::uint32_t tid,
                                 std::uint64_t call_site) {
  if (stacks_.size() - stacks_begin_ >= kMaxPending) return;  // stacks of events we do not hold
  const Stack stack{timestamp, pid, tid, call_site};
  if (stacks_.size() == stacks_begin_ || stacks_.back().timestamp <= timestamp) {
    stacks_.push_back(stack);  // the usual case: in time order
  } else {
    auto at = std::upper_bound(
        stacks_.begin() + static_cast<std::ptrdiff_t>(stacks_begin_), stacks_.end(), timestamp,
        [](std::uint64_t t, const Stack& held) { return t < held.timestamp; });
    stacks_.insert(at, stack);
  }
}

void EtwPoolProcessor::sort_pending() {
  // Mostly in order already (one CPU's buffer at a time): checking is cheaper than sorting.
  auto by_time = [](const Pending& a, const Pending& b) { return a.timestamp < b.timestamp; };
  if (!std::is_sorted(pending_.begin(), pending_.end(), by_time)) {
    std::stable_sort(pending_.begin(), pending_.end(), by_time);
  }
}

void EtwPoolProcessor::flush(std::uint64_t watermark) {
  sort_pending();
  std::size_t done = 0;
  for (; done < pending_.size() && pending_[done].timestamp < watermark; ++done) {
    Pending& pending = pending_[done];
    KmemEvent& event = pending.event;
    event.time = to_ns(pending.timestamp);
    if (event.is_alloc()) {
      auto first = std::lower_bound(
          stacks_.begin() + static_cast<std::ptrdiff_t>(stacks_begin_), stacks_.end(),
          pending.timestamp, [](const Stack& held, std::uint64_t t) { return held.timestamp < t; });
      auto match = first;
      while (match != stacks_.end() && match->timestamp == pending.timestamp &&
             (match->used || (match->tid != pending.tid && pending.tid != kUnknownThread))) {
        ++match;
      }
      if (match != stacks_.end() && match->timestamp == pending.timestamp) {
        event.call_site = match->call_site;
        if (pending.tid == kUnknownThread) event.pid = static_cast<std::int32_t>(match->pid);
        ++stats_.stacks_matched;
        match->used = true;
      } else {
        ++stats_.allocations_without_stack;
      }
    }
    tracker_.maybe_sample(event.time);
    tracker_.add(event);
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(done));
  // Stacks of events older than the watermark have no event left to match (other tags, or the
  // event was lost).
  while (stacks_begin_ < stacks_.size() && stacks_[stacks_begin_].timestamp < watermark) {
    ++stacks_begin_;
  }
  if (stacks_begin_ == stacks_.size()) {
    stacks_.clear();
    stacks_begin_ = 0;
  } else if (stacks_begin_ >= 4096 && stacks_begin_ * 2 >= stacks_.size()) {
    stacks_.erase(stacks_.begin(), stacks_.begin() + static_cast<std::ptrdiff_t>(stacks_begin_));
    stacks_begin_ = 0;
  }
}

}  // namespace poolscope::trace::etw
