// SentencePiece shim (see text_tokenizer.h): C linkage, no exceptions escape, errors logged with
// the library's own message.
#include "core/text_tokenizer.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "core/log.h"
}

struct cosmos_spm {
    sentencepiece::SentencePieceProcessor proc;
    std::string source;
};

extern "C" cosmos_status cosmos_spm_load(const void *bytes, size_t n, const char *source, cosmos_spm_t **out) {
    *out = nullptr;
    cosmos_spm *s = new (std::nothrow) cosmos_spm;
    if (!s) return COSMOS_ERR_NOMEM;
    try {
        s->source = source ? source : "(memory)";
        auto status = s->proc.LoadFromSerializedProto(
            absl::string_view(static_cast<const char *>(bytes), n));
        if (!status.ok()) {
            LOG_ERROR("%s: not a SentencePiece model: %s", s->source.c_str(), status.ToString().c_str());
            delete s;
            return COSMOS_ERR_FORMAT;
        }
    } catch (const std::exception &e) {
        LOG_ERROR("%s: loading the SentencePiece model failed: %s", source ? source : "(memory)", e.what());
        delete s;
        return COSMOS_ERR_FORMAT;
    }
    *out = s;
    return COSMOS_OK;
}

extern "C" void cosmos_spm_free(cosmos_spm_t *spm) { delete spm; }
extern "C" int cosmos_spm_piece_size(const cosmos_spm_t *spm) { return spm->proc.GetPieceSize(); }
extern "C" int cosmos_spm_eos_id(const cosmos_spm_t *spm) { return spm->proc.eos_id(); }
extern "C" int cosmos_spm_pad_id(const cosmos_spm_t *spm) { return spm->proc.pad_id(); }
extern "C" int cosmos_spm_piece_id(const cosmos_spm_t *spm, const char *piece) {
    try {
        const int id = spm->proc.PieceToId(absl::string_view(piece, std::strlen(piece)));
        return id >= 0 && id < spm->proc.GetPieceSize() && spm->proc.IdToPiece(id) == piece ? id : -1;
    } catch (const std::exception &) {
        return -1;
    }
}
extern "C" int cosmos_spm_is_special(const cosmos_spm_t *spm, int id) {
    return id < 0 || id >= spm->proc.GetPieceSize() || spm->proc.IsControl(id) || spm->proc.IsUnknown(id);
}

extern "C" cosmos_status cosmos_spm_encode(const cosmos_spm_t *spm, const char *text, int32_t **ids, int *n) {
    return cosmos_spm_encode_split(spm, text, nullptr, ids, n);
}

extern "C" size_t cosmos_spm_piece_at(const cosmos_spm_t *spm, const char *s, const char *const *names, int n_names,
                                      int32_t *id) {
    for (int i = 0; i < n_names; i++) {
        const size_t n = std::strlen(names[i]);
        if (std::strncmp(s, names[i], n) != 0) continue;
        const int pid = cosmos_spm_piece_id(spm, names[i]);
        if (pid < 0) return 0;
        *id = pid;
        return n;
    }
    return 0;
}

extern "C" cosmos_status cosmos_spm_encode_split(const cosmos_spm_t *spm, const char *text, cosmos_spm_added_fn added,
                                                 int32_t **ids, int *n) {
    *ids = nullptr;
    *n = 0;
    try {
        std::vector<int> all, part;
        const size_t len = std::strlen(text);
        size_t seg = 0;
        for (size_t i = 0; i <= len;) {
            int32_t id = -1;
            const size_t tl = i < len && added ? added(spm, text + i, &id) : 0;
            if (i < len && !tl) {
                i++;
                continue;
            }
            if (i > seg) { /* the text before the added token (or the end), on its own */
                auto status = spm->proc.Encode(absl::string_view(text + seg, i - seg), &part);
                if (!status.ok()) {
                    LOG_ERROR("%s: SentencePiece encode failed: %s", spm->source.c_str(), status.ToString().c_str());
                    return COSMOS_ERR_INVALID_ARG;
                }
                all.insert(all.end(), part.begin(), part.end());
            }
            if (i == len) break;
            all.push_back(id);
            i += tl;
            seg = i;
        }
        int32_t *buf = static_cast<int32_t *>(std::malloc(sizeof(int32_t) * (all.size() ? all.size() : 1)));
        if (!buf) return COSMOS_ERR_NOMEM;
        for (size_t i = 0; i < all.size(); i++) buf[i] = all[i];
        *ids = buf;
        *n = static_cast<int>(all.size());
    } catch (const std::exception &e) {
        LOG_ERROR("%s: SentencePiece encode failed: %s", spm->source.c_str(), e.what());
        return COSMOS_ERR_INTERNAL;
    }
    return COSMOS_OK;
}

extern "C" cosmos_status cosmos_spm_decode(const cosmos_spm_t *spm, const int32_t *ids, int n, char **text) {
    *text = nullptr;
    try {
        std::vector<int> v(ids, ids + n);
        std::string s;
        auto status = spm->proc.Decode(v, &s);
        if (!status.ok()) {
            LOG_ERROR("%s: SentencePiece decode failed: %s", spm->source.c_str(), status.ToString().c_str());
            return COSMOS_ERR_INVALID_ARG;
        }
        char *buf = static_cast<char *>(std::malloc(s.size() + 1));
        if (!buf) return COSMOS_ERR_NOMEM;
        std::memcpy(buf, s.c_str(), s.size() + 1);
        *text = buf;
    } catch (const std::exception &e) {
        LOG_ERROR("%s: SentencePiece decode failed: %s", spm->source.c_str(), e.what());
        return COSMOS_ERR_INTERNAL;
    }
    return COSMOS_OK;
}
