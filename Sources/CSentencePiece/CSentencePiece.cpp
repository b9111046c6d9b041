#include "CSentencePiece.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct spm_processor {
    sentencepiece::SentencePieceProcessor impl;
};

static void write_error(char *error, size_t capacity, const std::string &message) {
    if (error == nullptr || capacity == 0) return;
    std::strncpy(error, message.c_str(), capacity - 1);
    error[capacity - 1] = '\0';
}

static char *copy_string(const std::string &text) {
    char *out = static_cast<char *>(std::malloc(text.size() + 1));
    if (out != nullptr) std::memcpy(out, text.c_str(), text.size() + 1);
    return out;
}

extern "C" {

spm_processor *spm_load(const char *path, char *error, size_t error_capacity) {
    auto *processor = new spm_processor();
    // SentencePiece reads through iostreams, which throw on some failures (a folder given as the
    // file: std::ios_base::failure); no C++ exception may cross into Swift.
    try {
        auto status = processor->impl.Load(path);
        if (!status.ok()) {
            write_error(error, error_capacity, status.ToString());
            delete processor;
            return nullptr;
        }
    } catch (const std::exception &exception) {
        write_error(error, error_capacity, std::string("cannot be read: ") + exception.what());
        delete processor;
        return nullptr;
    } catch (...) {
        write_error(error, error_capacity, "cannot be read");
        delete processor;
        return nullptr;
    }
    return processor;
}

void spm_free(spm_processor *processor) { delete processor; }

long spm_encode(const spm_processor *processor, const char *text, size_t length, int32_t **ids,
                char *error, size_t error_capacity) {
    std::vector<int> pieces;
    auto status = processor->impl.Encode(std::string(text, length), &pieces);
    if (!status.ok()) {
        write_error(error, error_capacity, status.ToString());
        return -1;
    }
    *ids = static_cast<int32_t *>(std::malloc(sizeof(int32_t) * (pieces.size() + 1)));
    for (size_t i = 0; i < pieces.size(); ++i) (*ids)[i] = pieces[i];
    return static_cast<long>(pieces.size());
}

void spm_free_ids(int32_t *ids) { std::free(ids); }

char *spm_decode(const spm_processor *processor, const int32_t *ids, size_t count, char *error,
                 size_t error_capacity) {
    std::vector<int> pieces(ids, ids + count);
    std::string text;
    auto status = processor->impl.Decode(pieces, &text);
    if (!status.ok()) {
        write_error(error, error_capacity, status.ToString());
        return nullptr;
    }
    return copy_string(text);
}

void spm_free_string(char *text) { std::free(text); }

int32_t spm_vocab_size(const spm_processor *processor) { return processor->impl.GetPieceSize(); }
int32_t spm_bos_id(const spm_processor *processor) { return processor->impl.bos_id(); }
int32_t spm_eos_id(const spm_processor *processor) { return processor->impl.eos_id(); }
int32_t spm_unk_id(const spm_processor *processor) { return processor->impl.unk_id(); }
int32_t spm_pad_id(const spm_processor *processor) { return processor->impl.pad_id(); }

char *spm_id_to_piece(const spm_processor *processor, int32_t id) {
    if (id < 0 || id >= processor->impl.GetPieceSize()) return nullptr;
    return copy_string(processor->impl.IdToPiece(id));
}

int32_t spm_piece_to_id(const spm_processor *processor, const char *piece) {
    return processor->impl.PieceToId(piece);
}

float spm_score(const spm_processor *processor, int32_t id) {
    if (id < 0 || id >= processor->impl.GetPieceSize()) return 0;
    return processor->impl.GetScore(id);
}

int32_t spm_piece_type(const spm_processor *processor, int32_t id) {
    const auto &impl = processor->impl;
    if (id < 0 || id >= impl.GetPieceSize()) return 0;
    if (impl.IsUnknown(id)) return 2;
    if (impl.IsControl(id)) return 3;
    if (impl.IsUnused(id)) return 5;
    if (impl.IsByte(id)) return 6;
    return 1;
}

}  // extern "C"
