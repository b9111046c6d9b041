// A plain C interface over libsentencepiece's C++ SentencePieceProcessor (Debian
// libsentencepiece-dev). Imported by one Swift file: Sources/Tokenizer/SentencePieceTokenizer.swift.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// An opaque loaded SentencePiece model.
typedef struct spm_processor spm_processor;

/// Loads a `.model` file; on failure returns NULL and writes a message into `error`.
spm_processor *spm_load(const char *path, char *error, size_t error_capacity);
/// Frees a processor from `spm_load`.
void spm_free(spm_processor *processor);

/// Encodes `length` bytes of UTF-8 into ids (no BOS/EOS). Returns the number of ids, or -1 with
/// a message in `error`; `*ids` is malloc'd (free with `spm_free_ids`).
long spm_encode(const spm_processor *processor, const char *text, size_t length, int32_t **ids,
                char *error, size_t error_capacity);
/// Frees an id array from `spm_encode`.
void spm_free_ids(int32_t *ids);

/// Decodes ids into malloc'd UTF-8 (free with `spm_free_string`); NULL with `error` on failure.
char *spm_decode(const spm_processor *processor, const int32_t *ids, size_t count, char *error,
                 size_t error_capacity);
/// Frees a string from `spm_decode` or `spm_id_to_piece`.
void spm_free_string(char *text);

/// The vocabulary size.
int32_t spm_vocab_size(const spm_processor *processor);
/// Special ids (-1 when the model has none).
int32_t spm_bos_id(const spm_processor *processor);
int32_t spm_eos_id(const spm_processor *processor);
int32_t spm_unk_id(const spm_processor *processor);
int32_t spm_pad_id(const spm_processor *processor);
/// The piece of `id` as malloc'd UTF-8 (free with `spm_free_string`); NULL if out of range.
char *spm_id_to_piece(const spm_processor *processor, int32_t id);
/// The id of `piece`, or the unknown id when it is not in the vocabulary.
int32_t spm_piece_to_id(const spm_processor *processor, const char *piece);
/// The score of `id` (its log-probability in a unigram model, the merge rank in a BPE one); 0 if out of range.
float spm_score(const spm_processor *processor, int32_t id);
/// The kind of `id` as GGUF's token types number them: 1 normal, 2 unknown, 3 control,
/// 5 unused, 6 byte; 0 if out of range.
int32_t spm_piece_type(const spm_processor *processor, int32_t id);

#ifdef __cplusplus
}
#endif
