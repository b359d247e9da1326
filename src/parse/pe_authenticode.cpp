// The Authenticode signature of a PE image: the WIN_CERTIFICATE entries of the security directory
// and the PKCS#7 SignedData in the first one (signer, issuer, serial, certificates).
#include "parse/encoding.h"
#include "parse/pe_detail.h"

namespace poolscope::parse::pe_detail {

namespace {

constexpr std::size_t kMaxWinCertificates = 16;
constexpr std::size_t kMaxCertificates = 64;
constexpr std::uint16_t kWinCertTypePkcsSignedData = 0x0002;

// A minimal DER reader: definite lengths up to 4 bytes, single-byte tags. Enough for PKCS#7
// SignedData and X.509 names; BER indefinite lengths are refused.
struct Tlv {
  std::uint8_t tag = 0;
  ByteSpan whole;  // header and content
  ByteSpan content;
};

class Der {
 public:
  explicit Der(ByteSpan data) : data_(data) {}
  bool at_end() const { return pos_ >= data_.size(); }

  std::optional<Tlv> next() {
    if (pos_ + 2 > data_.size()) return std::nullopt;
    const std::size_t start = pos_;
    const auto tag = static_cast<std::uint8_t>(data_[pos_]);
    if ((tag & 0x1F) == 0x1F) return std::nullopt;  // multi-byte tags: not in PKCS#7/X.509 names
    std::size_t p = pos_ + 1;
    auto first = static_cast<std::uint8_t>(data_[p++]);
    std::uint64_t length = first;
    if (first & 0x80) {
      const std::size_t n = first & 0x7F;
      if (n == 0 || n > 4 || p + n > data_.size()) return std::nullopt;
      length = 0;
      for (std::size_t i = 0; i < n; ++i)
        length = (length << 8) | static_cast<std::uint8_t>(data_[p++]);
    }
    if (!fits(p, length, data_.size())) return std::nullopt;
    pos_ = p + static_cast<std::size_t>(length);
    return Tlv{tag, data_.subspan(start, pos_ - start),
               data_.subspan(p, static_cast<std::size_t>(length))};
  }

  std::optional<Tlv> expect(std::uint8_t tag) {
    auto t = next();
    if (!t || t->tag != tag) return std::nullopt;
    return t;
  }

  // The next element only if it has this tag (optional fields).
  std::optional<Tlv> optional(std::uint8_t tag) {
    if (pos_ < data_.size() && static_cast<std::uint8_t>(data_[pos_]) == tag) return next();
    return std::nullopt;
  }

 private:
  ByteSpan data_;
  std::size_t pos_ = 0;
};

bool same_bytes(ByteSpan a, ByteSpan b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

bool is_oid(ByteSpan content, std::initializer_list<std::uint8_t> expected) {
  if (content.size() != expected.size()) return false;
  std::size_t i = 0;
  for (std::uint8_t b : expected) {
    if (static_cast<std::uint8_t>(content[i++]) != b) return false;
  }
  return true;
}

std::string der_string(const Tlv& value) {
  switch (value.tag) {
    case 0x0C:  // UTF8String
      return clean_utf8(value.content);
    case 0x13:  // PrintableString
    case 0x16:  // IA5String
    case 0x14:  // T61String: treated as Latin-1, which is what signers put there in practice
      return latin1_to_utf8(value.content);
    case 0x1E:  // BMPString
      return utf16_to_utf8(value.content, true);
    case 0x1C: {  // UniversalString
      std::string out;
      for (std::size_t i = 0; i + 4 <= value.content.size(); i += 4) {
        const std::byte* p = value.content.data() + i;
        append_utf8(out, (static_cast<std::uint32_t>(p[0]) << 24) |
                             (static_cast<std::uint32_t>(p[1]) << 16) |
                             (static_cast<std::uint32_t>(p[2]) << 8) |
                             static_cast<std::uint32_t>(p[3]));
      }
      return out;
    }
    default:
      return {};
  }
}

// The first CN (2.5.4.3) and O (2.5.4.10) of an X.501 Name.
void read_name(ByteSpan name_content, std::string* common_name, std::string* organization) {
  Der rdns(name_content);
  while (auto rdn = rdns.expect(0x31)) {
    Der attributes(rdn->content);
    while (auto attribute = attributes.expect(0x30)) {
      Der parts(attribute->content);
      auto oid = parts.expect(0x06);
      auto value = parts.next();
      if (!oid || !value) continue;
      if (common_name && common_name->empty() && is_oid(oid->content, {0x55, 0x04, 0x03})) {
        *common_name = der_string(*value);
      } else if (organization && organization->empty() &&
                 is_oid(oid->content, {0x55, 0x04, 0x0A})) {
        *organization = der_string(*value);
      }
    }
  }
}

struct Certificate {
  ByteSpan serial;   // INTEGER content
  ByteSpan issuer;   // whole Name TLV
  ByteSpan subject;  // whole Name TLV
  ByteSpan subject_key_id;
};

std::optional<Certificate> read_certificate(ByteSpan whole) {
  Der outer(whole);
  auto cert = outer.expect(0x30);
  if (!cert) return std::nullopt;
  Der c(cert->content);
  auto tbs = c.expect(0x30);
  if (!tbs) return std::nullopt;
  Der t(tbs->content);
  t.optional(0xA0);  // version
  auto serial = t.expect(0x02);
  auto algorithm = t.expect(0x30);
  auto issuer = t.expect(0x30);
  auto validity = t.expect(0x30);
  auto subject = t.expect(0x30);
  auto key = t.expect(0x30);
  if (!serial || !algorithm || !issuer || !validity || !subject || !key) return std::nullopt;
  Certificate out{serial->content, issuer->whole, subject->whole, {}};
  t.optional(0xA1);
  t.optional(0xA2);
  if (auto extensions = t.optional(0xA3)) {
    Der list_outer(extensions->content);
    if (auto list = list_outer.expect(0x30)) {
      Der items(list->content);
      while (auto extension = items.expect(0x30)) {
        Der e(extension->content);
        auto oid = e.expect(0x06);
        e.optional(0x01);  // critical
        auto value = e.expect(0x04);
        if (oid && value && is_oid(oid->content, {0x55, 0x1D, 0x0E})) {  // subjectKeyIdentifier
          Der inner(value->content);
          if (auto id = inner.expect(0x04)) out.subject_key_id = id->content;
        }
      }
    }
  }
  return out;
}

std::string serial_hex(ByteSpan serial) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::size_t start = 0;
  while (start + 1 < serial.size() && serial[start] == std::byte{0}) ++start;
  std::string out;
  for (std::size_t i = start; i < serial.size(); ++i) {
    const auto b = static_cast<std::uint8_t>(serial[i]);
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

// Walks ContentInfo -> SignedData -> certificates and the first SignerInfo. Returns why it failed.
std::optional<std::string> read_pkcs7(ByteSpan der, PeSignature& signature) {
  Der top(der);
  auto content_info = top.expect(0x30);
  if (!content_info) return "no ContentInfo SEQUENCE";
  Der ci(content_info->content);
  auto type = ci.expect(0x06);
  // 1.2.840.113549.1.7.2 signedData
  if (!type || !is_oid(type->content, {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02})) {
    return "ContentInfo is not signedData";
  }
  auto explicit_content = ci.expect(0xA0);
  if (!explicit_content) return "no [0] content in ContentInfo";
  Der wrapper(explicit_content->content);
  auto signed_data = wrapper.expect(0x30);
  if (!signed_data) return "no SignedData SEQUENCE";
  Der sd(signed_data->content);
  if (!sd.expect(0x02) || !sd.expect(0x31) || !sd.expect(0x30)) {
    return "SignedData lacks version, digestAlgorithms or contentInfo";
  }
  std::vector<Certificate> certificates;
  std::optional<Tlv> signer_infos;
  while (!sd.at_end()) {
    auto element = sd.next();
    if (!element) return "malformed SignedData element";
    if (element->tag == 0xA0) {
      Der list(element->content);
      while (!list.at_end() && certificates.size() < kMaxCertificates) {
        auto cert = list.next();
        if (!cert) break;
        ++signature.certificate_count;
        if (cert->tag != 0x30) continue;  // attribute certificates and the like
        if (auto parsed = read_certificate(cert->whole)) certificates.push_back(*parsed);
      }
    } else if (element->tag == 0x31) {
      signer_infos = element;
      break;
    }
  }
  if (!signer_infos) return "no signerInfos";
  Der infos(signer_infos->content);
  auto signer_info = infos.expect(0x30);
  if (!signer_info) return "no SignerInfo";
  Der si(signer_info->content);
  if (!si.expect(0x02)) return "SignerInfo has no version";
  auto sid = si.next();
  if (!sid) return "SignerInfo has no signer identifier";
  const Certificate* signer = nullptr;
  if (sid->tag == 0x30) {
    Der ias(sid->content);
    auto issuer = ias.expect(0x30);
    auto serial = ias.expect(0x02);
    if (issuer && serial) {
      for (const auto& cert : certificates) {
        if (same_bytes(cert.issuer, issuer->whole) && same_bytes(cert.serial, serial->content)) {
          signer = &cert;
          signature.signer_match = PeSignerMatch::kIssuerAndSerial;
          break;
        }
      }
    }
  } else if (sid->tag == 0x80) {
    for (const auto& cert : certificates) {
      if (!cert.subject_key_id.empty() && same_bytes(cert.subject_key_id, sid->content)) {
        signer = &cert;
        signature.signer_match = PeSignerMatch::kSubjectKeyIdentifier;
        break;
      }
    }
  }
  if (signer == nullptr && !certificates.empty()) {
    signer = &certificates.front();
    signature.signer_match = PeSignerMatch::kFirstCertificate;
  }
  if (signer == nullptr) return "no certificate in SignedData";
  Der subject(signer->subject);
  if (auto name = subject.expect(0x30)) {
    read_name(name->content, &signature.signer_common_name, &signature.signer_organization);
  }
  Der issuer(signer->issuer);
  if (auto name = issuer.expect(0x30)) {
    read_name(name->content, &signature.signer_issuer_common_name, nullptr);
  }
  signature.signer_serial = serial_hex(signer->serial);
  return std::nullopt;
}

}  // namespace

void read_signature(ByteSpan data, PeImage& image, const Problem& problem) {
  const PeDataDirectory dir = image.directories[kDirSecurity];
  if (dir.rva == 0 || dir.size == 0) return;
  std::uint64_t end = static_cast<std::uint64_t>(dir.rva) + dir.size;
  if (dir.rva >= data.size()) {
    problem("security directory at file offset " + hex(dir.rva) + " is past the end of the file");
    return;
  }
  if (end > data.size()) {
    problem("security directory at file offset " + hex(dir.rva) + " (" + hex(dir.size) +
            " bytes) runs past the end of the file");
    end = data.size();
  }
  std::uint64_t pos = dir.rva;
  for (std::size_t i = 0; i < kMaxWinCertificates && pos + 8 <= end; ++i) {
    const std::byte* w = data.data() + pos;
    const std::uint32_t length = load_le32(w);
    if (length < 8 || length > end - pos) {
      problem("WIN_CERTIFICATE at " + hex(pos) + " has a bad length " + hex(length));
      return;
    }
    const std::uint16_t revision = load_le16(w + 4);
    const std::uint16_t type = load_le16(w + 6);
    if (type == kWinCertTypePkcsSignedData) {
      image.signature.present = true;
      image.signature.revision = revision;
      if (auto why = read_pkcs7(data.subspan(pos + 8, length - 8), image.signature)) {
        problem("Authenticode signature present but its PKCS#7 could not be read: " + *why);
      }
      return;
    }
    pos += (static_cast<std::uint64_t>(length) + 7) & ~std::uint64_t{7};
  }
}

}  // namespace poolscope::parse::pe_detail
