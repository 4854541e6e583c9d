#!/usr/bin/python3
"""Writes a tiny random-weight llama-architecture GGUF model (stdlib + numpy only).

usage: make_gguf.py OUT.gguf [SEED]

The model exists to exercise a real llama.cpp runtime end to end (tokenizer, grammar-constrained
sampling, the HTTP protocol around it), not to say anything sensible. It has 2 layers, 64-wide
embeddings, 4 heads, a 128-wide SwiGLU feed-forward and a SentencePiece ("llama") vocabulary
of 354 tokens: <unk>, <s>, </s>, the 256 byte-fallback tokens <0x00>..<0xFF>, the word-start
marker U+2581 (which SentencePiece uses for a space) and every printable ASCII character as a
token of its own. So any text tokenizes (bytes fall back to <0xXX>) and every character JSON
needs is one token, which lets a JSON-schema grammar steer generation.

File layout follows the GGUF specification (ggml/docs/gguf.md, version 3): the magic "GGUF",
the version, the tensor and key/value counts, the key/value pairs, the tensor infos (name,
dimensions in ggml order -- the fastest-varying first --, type, offset), padding to the
alignment (32 bytes), then the tensor data, each tensor aligned to 32 bytes. All tensors are F32.
"""
import struct
import sys

import numpy as np

ALIGN = 32
# GGUF metadata value types
T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY = 4, 5, 6, 7, 8, 9
# llama.cpp token types
TOK_NORMAL, TOK_UNKNOWN, TOK_CONTROL, TOK_BYTE = 1, 2, 3, 6
GGML_TYPE_F32 = 0

N_EMBD, N_HEAD, N_HEAD_KV, N_FF, N_LAYER, N_CTX = 64, 4, 4, 128, 2, 8192


def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = gguf_string(key) + struct.pack("<I", vtype)
    if vtype == T_UINT32:
        out += struct.pack("<I", value)
    elif vtype == T_INT32:
        out += struct.pack("<i", value)
    elif vtype == T_FLOAT32:
        out += struct.pack("<f", value)
    elif vtype == T_BOOL:
        out += struct.pack("<B", 1 if value else 0)
    elif vtype == T_STRING:
        out += gguf_string(value)
    else:
        raise ValueError(vtype)
    return out


def kv_array(key, etype, values):
    out = gguf_string(key) + struct.pack("<IIQ", T_ARRAY, etype, len(values))
    for v in values:
        if etype == T_STRING:
            out += gguf_string(v)
        elif etype == T_FLOAT32:
            out += struct.pack("<f", v)
        elif etype == T_INT32:
            out += struct.pack("<i", v)
        else:
            raise ValueError(etype)
    return out


def vocabulary():
    tokens, scores, types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [TOK_UNKNOWN, TOK_CONTROL,
                                                                         TOK_CONTROL]
    for b in range(256):
        tokens.append("<0x%02X>" % b)
        scores.append(0.0)
        types.append(TOK_BYTE)
    tokens.append("\u2581")
    scores.append(-1.0)
    types.append(TOK_NORMAL)
    for c in range(33, 127):
        tokens.append(chr(c))
        scores.append(-2.0 - (c - 33) * 0.01)
        types.append(TOK_NORMAL)
    return tokens, scores, types


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    tokens, scores, types = vocabulary()
    n_vocab = len(tokens)
    head_dim = N_EMBD // N_HEAD
    n_embd_kv = head_dim * N_HEAD_KV

    def w(*shape, scale=0.05):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    # numpy shapes are (rows, cols) = (output, input); GGUF stores ggml's ne, i.e. reversed.
    tensors = [("token_embd.weight", w(n_vocab, N_EMBD, scale=0.5))]
    for i in range(N_LAYER):
        p = "blk.%d." % i
        tensors += [
            (p + "attn_norm.weight", np.ones(N_EMBD, np.float32)),
            (p + "attn_q.weight", w(N_EMBD, N_EMBD)),
            (p + "attn_k.weight", w(n_embd_kv, N_EMBD)),
            (p + "attn_v.weight", w(n_embd_kv, N_EMBD)),
            (p + "attn_output.weight", w(N_EMBD, N_EMBD)),
            (p + "ffn_norm.weight", np.ones(N_EMBD, np.float32)),
            (p + "ffn_gate.weight", w(N_FF, N_EMBD)),
            (p + "ffn_up.weight", w(N_FF, N_EMBD)),
            (p + "ffn_down.weight", w(N_EMBD, N_FF)),
        ]
    tensors += [("output_norm.weight", np.ones(N_EMBD, np.float32)),
                ("output.weight", w(n_vocab, N_EMBD, scale=1.0))]

    meta = [
        kv("general.architecture", T_STRING, "llama"),
        kv("general.name", T_STRING, "agentrec-tiny-random"),
        kv("general.file_type", T_UINT32, 0),  # all F32
        kv("general.alignment", T_UINT32, ALIGN),
        kv("llama.context_length", T_UINT32, N_CTX),
        kv("llama.embedding_length", T_UINT32, N_EMBD),
        kv("llama.block_count", T_UINT32, N_LAYER),
        kv("llama.feed_forward_length", T_UINT32, N_FF),
        kv("llama.attention.head_count", T_UINT32, N_HEAD),
        kv("llama.attention.head_count_kv", T_UINT32, N_HEAD_KV),
        kv("llama.rope.dimension_count", T_UINT32, head_dim),
        kv("llama.rope.freq_base", T_FLOAT32, 10000.0),
        kv("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, 1e-5),
        kv("llama.vocab_size", T_UINT32, n_vocab),
        kv("tokenizer.ggml.model", T_STRING, "llama"),
        kv_array("tokenizer.ggml.tokens", T_STRING, tokens),
        kv_array("tokenizer.ggml.scores", T_FLOAT32, scores),
        kv_array("tokenizer.ggml.token_type", T_INT32, types),
        kv("tokenizer.ggml.unknown_token_id", T_UINT32, 0),
        kv("tokenizer.ggml.bos_token_id", T_UINT32, 1),
        kv("tokenizer.ggml.eos_token_id", T_UINT32, 2),
        kv("tokenizer.ggml.add_bos_token", T_BOOL, True),
        kv("tokenizer.ggml.add_eos_token", T_BOOL, False),
    ]

    infos, offset = [], 0
    for name, arr in tensors:
        dims = list(reversed(arr.shape))
        infos.append(gguf_string(name) + struct.pack("<I", len(dims)) +
                     b"".join(struct.pack("<Q", d) for d in dims) +
                     struct.pack("<IQ", GGML_TYPE_F32, offset))
        offset += (arr.nbytes + ALIGN - 1) // ALIGN * ALIGN

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta) + \
        b"".join(infos)
    head += b"\0" * (-len(head) % ALIGN)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        for _, arr in tensors:
            data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
            f.write(data + b"\0" * (-len(data) % ALIGN))
    import os
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
