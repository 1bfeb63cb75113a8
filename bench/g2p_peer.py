#!/usr/bin/env python3
"""The PyTorch peer of LSTMKit's Seq2Seq for G2P: the same architecture and training
recipe as Seq2SeqConfig's and Seq2SeqTrainingOptions' defaults (docs/SEQ2SEQ.md), trained
for a given wall time on a given number of threads.

Model (sizes are LSTMKit's defaults): character embedding (64) → dropout → BiLSTM encoder
(128 per direction, D = 256) → bridge h0 = tanh(W [h_fwd; h_bwd] + b), c0 = 0 → LSTM
decoder (D units) reading [embedding(y_{t-1}) (dropout); h̃_{t-1}] (input feeding) →
Luong general attention (score h_tᵀ W_a h̄_s, no bias; padded positions masked) →
h̃_t = tanh(W_c [c_t; h_t]) (no bias) → dropout → Linear to the phonemes. Vocabularies:
PAD 0, BOS 1, EOS 2, UNK 3, then the training tokens; sources are characters, targets
space-separated phonemes. PyTorch's default initialisations (LSTMKit uses the same).
Training: teacher forcing; cross-entropy with label smoothing 0.1 over the real target
positions (EOS included); Adam, learning rate 0.002, gradients clipped to global norm 5;
batches of 32 pairs of similar source length (shuffle, windows of 50 batches sorted by
length, batches shuffled); after each epoch the dev words are decoded greedily and
scored (WER against every reference): a better score keeps the weights, a worse one
halves the learning rate, 5 such epochs stop training (--schedule cosine: LSTMKit's cosine
rate instead, no early stop); at most --epochs epochs (30, LSTMKit's default). The time limit (wall time since
training began, dev scoring included) ends the epoch under way after its current batch;
the dev set is then scored once more. The best dev weights are the model.

Decoding, batched (64 sources of similar length): greedy, and beam search (beam size K,
hypotheses ranked by log-probability / (output tokens)^length_penalty; the 2K best
extensions per source each step, those ending in EOS finished if among the K best, the
K best others kept; a source stops once it has K finished hypotheses and its best live
one's score as it stands cannot beat the K-th best finished, or after ceil(2 × source
characters) tokens, when the live ones are finished as they are: LSTMKit's search,
docs/SEQ2SEQ.md "Decoding"). Encoder states and the attention's W_a h̄_s are computed
once per batch. `load_lstmkit` loads an LSTMKit model file into the peer.

Usage:
    python3 bench/g2p_peer.py --data DIR --minutes M --threads N --out RESULT.json
DIR holds train.tsv, dev.tsv, dev.refs.tsv, test.refs.tsv (bench/g2p_data.py). Writes a
JSON object: training (epochs, seconds, best dev WER), test WER/PER for greedy and beam
(the test split decoded once per mode), and decoding words/s on the dev words at each
of --speed-threads (with the dev scores of that decoding).
"""
import argparse
import copy
import json
import math
import os
import random
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from g2p_score import read_tsv, score  # noqa: E402

PAD, BOS, EOS, UNK = 0, 1, 2, 3


class Vocabulary:
    """min_count: tokens seen fewer times are UNK (LSTMKit's min_count; translation)."""
    def __init__(self, texts, split, min_count=1):
        counts = {}
        for t in texts:
            for tok in split(t):
                counts[tok] = counts.get(tok, 0) + 1
        self.split = split
        kept = [k for k in counts if counts[k] >= min_count]
        self.tokens = ["<pad>", "<s>", "</s>", "<unk>"] + sorted(kept, key=lambda k: (-counts[k], k))
        self.ids = {t: i for i, t in enumerate(self.tokens)}

    def encode(self, text):
        return [self.ids.get(t, UNK) for t in self.split(text)]

    @classmethod
    def of(cls, tokens, split):
        """The vocabulary of a model file: the specials, then `tokens` in their order."""
        v = cls([], split)
        v.tokens = v.tokens + list(tokens)
        v.ids = {t: i for i, t in enumerate(v.tokens)}
        return v


class Attention(nn.Module):
    """Luong general: keys W_a h̄_s once per batch, h̃ = tanh(W_c [c; h]); no biases."""
    def __init__(self, d):
        super().__init__()
        self.linear_in = nn.Linear(d, d, bias=False)
        self.linear_out = nn.Linear(2 * d, d, bias=False)


class Seq2Seq(nn.Module):
    """Parameter names are LSTMKit's model file's (the decoder's without "_l0")."""
    def __init__(self, source_size, target_size, embedding=64, hidden=128, dropout=0.2, layers=1):
        super().__init__()
        d = 2 * hidden
        self.source_embedding = nn.Embedding(source_size, embedding, padding_idx=PAD)
        # Dropout between encoder layers too, as LSTMKit's Seq2Seq.
        self.encoder = nn.LSTM(embedding, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.bridge = nn.Linear(d, d)
        self.target_embedding = nn.Embedding(target_size, embedding, padding_idx=PAD)
        self.decoder = nn.LSTMCell(embedding + d, d)
        self.attention = Attention(d)
        self.generator = nn.Linear(d, target_size)
        self.drop = nn.Dropout(dropout)
        self.d = d

    def encode(self, source, lengths):
        """source (B, T) padded ids, lengths (B) → memory, keys (B, T, D), mask (B, T), h0."""
        x = self.drop(self.source_embedding(source))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=source.shape[1])
        h0 = torch.tanh(self.bridge(torch.cat([h[-2], h[-1]], dim=1)))   # the last layer's two directions
        mask = torch.arange(source.shape[1])[None, :] < lengths[:, None]
        return memory, self.attention.linear_in(memory), mask, h0

    def step(self, tokens, state, feed, memory, keys, mask):
        """One decoder step for N rows → (h̃ after dropout, the new (h, c))."""
        x = torch.cat([self.drop(self.target_embedding(tokens)), feed], dim=1)
        h, c = self.decoder(x, state)
        scores = torch.bmm(keys, h.unsqueeze(2)).squeeze(2).masked_fill(~mask, float("-inf"))
        context = torch.bmm(torch.softmax(scores, dim=1).unsqueeze(1), memory).squeeze(1)
        return self.drop(torch.tanh(self.attention.linear_out(torch.cat([context, h], dim=1)))), (h, c)

    def start(self, h0):
        return (h0, torch.zeros_like(h0)), torch.zeros_like(h0)

    def loss(self, source, lengths, target_in, target_out, label_smoothing):
        memory, keys, mask, h0 = self.encode(source, lengths)
        state, feed = self.start(h0)
        outputs = []
        for t in range(target_in.shape[1]):
            feed, state = self.step(target_in[:, t], state, feed, memory, keys, mask)
            outputs.append(feed)
        logits = self.generator(torch.stack(outputs, dim=1))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_out.reshape(-1),
                               ignore_index=PAD, label_smoothing=label_smoothing)


def pad(rows, value=PAD):
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def length_bucketed_batches(lengths, batch_size, rng):
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window, batches = batch_size * 50, []
    for w in range(0, len(order), window):
        chunk = sorted(order[w:w + window], key=lambda i: -lengths[i])
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


@torch.inference_mode()
def decode(model, sources, beam=1, length_penalty=1.0, ratio=2.0, batch_size=64):
    """sources: lists of ids (non-empty) → the best output ids of each."""
    model.eval()
    order = sorted(range(len(sources)), key=lambda i: -len(sources[i]))
    out = [None] * len(sources)
    for b in range(0, len(order), batch_size):
        rows = order[b:b + batch_size]
        batch = [sources[i] for i in rows]
        limits = [math.ceil(ratio * len(s)) for s in batch]
        best = (greedy if beam == 1 else beam_search)(model, batch, limits, beam, length_penalty)
        for i, ids in zip(rows, best):
            out[i] = ids
    return out


def greedy(model, batch, limits, _beam, _penalty):
    memory, keys, mask, h0 = model.encode(pad(batch), torch.tensor([len(s) for s in batch]))
    state, feed = model.start(h0)
    tokens = torch.full((len(batch),), BOS, dtype=torch.long)
    out, done = [[] for _ in batch], [False] * len(batch)
    for t in range(max(limits)):
        feed, state = model.step(tokens, state, feed, memory, keys, mask)
        tokens = model.generator(feed).argmax(dim=1)
        for r, tok in enumerate(tokens.tolist()):
            if not done[r]:
                if tok == EOS:
                    done[r] = True
                else:
                    out[r].append(tok)
                    done[r] = len(out[r]) >= limits[r]
        if all(done):
            break
    return out


def rank_score(log_probability, length, penalty):
    """log P / length^penalty (length: output tokens, EOS not counted, at least 1), in
    float32 as LSTMKit computes it (so equal scores stay equal)."""
    return float(np.float32(log_probability) / np.float32(max(length, 1)) ** np.float32(penalty))


def beam_search(model, batch, limits, k, penalty):
    n = len(batch)
    memory, keys, mask, h0 = model.encode(pad(batch), torch.tensor([len(s) for s in batch]))
    expand = torch.arange(n).repeat_interleave(k)          # row n·k + j → source n
    memory, keys, mask, h0 = memory[expand], keys[expand], mask[expand], h0[expand]
    state, feed = model.start(h0)
    tokens = torch.full((n * k,), BOS, dtype=torch.long)
    scores = torch.full((n, k), float("-inf"))
    scores[:, 0] = 0                                       # one live hypothesis at first
    history = torch.zeros((n, k, 0), dtype=torch.long)
    finished = [[] for _ in range(n)]                       # (rank score, ids)
    done = [False] * n
    rank = torch.arange(2 * k)
    for t in range(max(limits)):
        feed, state = model.step(tokens, state, feed, memory, keys, mask)
        logp = torch.log_softmax(model.generator(feed), dim=1)
        v = logp.shape[1]
        candidates = (scores.reshape(n * k, 1) + logp).reshape(n, k * v)
        top, index = candidates.topk(2 * k, dim=1)
        beam, token = index // v, index % v
        eos = token == EOS
        for r, c in (eos & (rank < k)[None, :] & torch.isfinite(top)).nonzero().tolist():
            if not done[r]:
                ids = history[r, beam[r, c]].tolist()
                finished[r].append((rank_score(top[r, c].item(), len(ids), penalty), ids))
        # The K best extensions that do not end in EOS go on.
        keep = (eos.long() * 2 * k + rank[None, :]).argsort(dim=1)[:, :k]
        beam, token, scores = beam.gather(1, keep), token.gather(1, keep), top.gather(1, keep)
        history = torch.cat([history.gather(1, beam[:, :, None].expand(-1, -1, history.shape[2])), token[:, :, None]], dim=2)
        rows = (torch.arange(n)[:, None] * k + beam).reshape(-1)
        state, feed, tokens = (state[0][rows], state[1][rows]), feed[rows], token.reshape(-1)
        for r in range(n):
            if done[r]:
                continue
            if t + 1 >= limits[r]:                           # out of length: the live ones finish as they are
                for j in range(k):
                    if math.isfinite(scores[r, j].item()):
                        ids = history[r, j].tolist()
                        finished[r].append((rank_score(scores[r, j].item(), len(ids), penalty), ids))
                done[r] = True
            elif len(finished[r]) >= k:                      # the best live one (column 0) cannot beat the k-th finished
                kth = sorted((f[0] for f in finished[r]), reverse=True)[k - 1]
                best = scores[r, 0].item()
                done[r] = (best if penalty == 0 else rank_score(best, t + 1, penalty)) <= kth
        if all(done):
            break
    return [max(f, key=lambda h: h[0])[1] for f in finished]


# safetensors dtypes → numpy; BF16 is the top half of an F32.
DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "BF16": "<u2"}


def read_safetensors(path):
    """(metadata, {name: float32 array}) of a safetensors file, whatever float type it stores."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor {name} has dtype {t['dtype']}, not a float type")
        start, end = t["data_offsets"]
        a = np.frombuffer(data[8 + n + start:8 + n + end], dtype=DTYPES[t["dtype"]])
        a = (a.astype(np.uint32) << 16).view(np.float32) if t["dtype"] == "BF16" else a.astype(np.float32)
        tensors[name] = a.reshape(t["shape"])
    return meta, tensors


def load_lstmkit(path):
    """An LSTMKit Seq2Seq model file (the architecture above: LSTM encoder of any number
    of layers, bidirectional, general, bridge, no self-attention blocks) as (peer model in eval mode,
    source vocabulary, target vocabulary, metadata). The tensors load under the file's
    names (strictly), the decoder's without "_l0" (it is an nn.LSTMCell)."""
    meta, tensors = read_safetensors(path)
    want = {"kind": "seq2seq", "bidirectional": "true", "score": "general", "bridge": "true"}
    wrong = {k: meta.get(k) for k, v in want.items() if meta.get(k) != v}
    if wrong or meta.get("cell", "lstm") != "lstm" or int(meta.get("self_attention_blocks", "0")) != 0:
        raise ValueError(f"{path}: the peer has only {want}, an LSTM cell and no self-attention blocks; the file has {meta}")
    split = {"characters": list, "words": str.split}
    source = Vocabulary.of(json.loads(meta["source_vocabulary"]), split[meta["source_tokens"]])
    target = Vocabulary.of(json.loads(meta["target_vocabulary"]), split[meta["target_tokens"]])
    model = Seq2Seq(len(source.tokens), len(target.tokens), embedding=int(meta["embedding_size"]),
                    hidden=int(meta["hidden_size"]), dropout=float(meta["dropout"]), layers=int(meta["num_layers"]))
    model.load_state_dict({(name.replace("_l0", "") if name.startswith("decoder.") else name): torch.from_numpy(t.copy())
                           for name, t in tensors.items()})
    return model.eval(), source, target, meta


def texts(model_vocab, ids):
    return " ".join(model_vocab.tokens[i] for i in ids)


def evaluate(model, target_vocab, words, sources, refs, beam=1):
    preds = decode(model, sources, beam=beam)
    predictions = {w: texts(target_vocab, p) for w, p in zip(words, preds)}
    return score({w: refs[w] for w in words}, predictions), predictions


def read_pairs(path):
    rows = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8") if line.strip()]
    return [r[0] for r in rows], [r[1] for r in rows]


def batch_loss(model, src, tgt, label_smoothing=0.1):
    """The training loss of sources `src` and targets `tgt` (id lists), teacher-forced."""
    return model.loss(pad(src), torch.tensor([len(s) for s in src]), pad([[BOS] + t for t in tgt]),
                      pad([t + [EOS] for t in tgt]), label_smoothing)


def train(model, train_data, dev, seconds, log, batch_size=32, lr=0.002, patience=5, seed=1, dev_name="dev WER",
          schedule="plateau", epochs=30):
    """dev() scores the model on dev, lower is better; `dev_name` names it in the log.
    schedule "plateau": a worse dev score halves the rate, `patience` of them stop;
    "cosine": LSTMKit's (Schedules.swift), batch by batch from `lr` to 0 over the budget,
    the further along of `epochs` epochs and `seconds`, no early stop. Denormals flush to
    zero while it trains, as in LSTMKit's training steps (bench/g2p_denormals.py: without,
    a trained model's step is about 1.9x slower in both engines)."""
    flushing = torch.set_flush_denormal(True)
    try:
        return train_flushed(model, train_data, dev, seconds, log, batch_size, lr, patience, seed, dev_name, schedule,
                             epochs)
    finally:
        if flushing:
            torch.set_flush_denormal(False)


def train_flushed(model, train_data, dev, seconds, log, batch_size, lr, patience, seed, dev_name, schedule, epochs):
    sources, targets = train_data
    rng = random.Random(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    best, best_state, stale, epoch, started = None, None, 0, 0, time.monotonic()
    history = []
    while stale < patience and epoch < epochs:
        epoch += 1
        model.train()
        batches = length_bucketed_batches([len(s) for s in sources], batch_size, rng)
        t0, loss_sum, out_of_time = time.monotonic(), 0.0, False
        for i, batch in enumerate(batches):
            if schedule == "cosine":
                progress = min(1.0, max((epoch - 1 + i / len(batches)) / epochs, (time.monotonic() - started) / seconds))
                for g in optimizer.param_groups:
                    g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * progress))
            loss = batch_loss(model, [sources[j] for j in batch], [targets[j] for j in batch])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            loss_sum += loss.item()
            if (i + 1) % 500 == 0:
                log(f"epoch {epoch} batch {i + 1}/{len(batches)} loss {loss_sum / (i + 1):.4f}")
            if time.monotonic() - started >= seconds:
                out_of_time = True
                break
        wer = dev()
        improved = best is None or wer < best
        if improved:
            best, best_state, stale = wer, copy.deepcopy(model.state_dict()), 0
        elif schedule == "plateau":
            stale += 1
            for g in optimizer.param_groups:
                g["lr"] *= 0.5
        history.append({"epoch": epoch, "batches": i + 1, "of": len(batches), "loss": loss_sum / (i + 1),
                        "dev_wer": wer, "seconds": time.monotonic() - t0})
        log(f"epoch {epoch}: {i + 1}/{len(batches)} batches, loss {loss_sum / (i + 1):.4f}, {dev_name} {100 * wer:.2f}"
            f"{' (best)' if improved else ''}, {time.monotonic() - t0:.0f} s")
        if out_of_time:
            log(f"time limit of {seconds:.0f} s reached")
            break
    model.load_state_dict(best_state)
    return {"epochs": epoch, "seconds": time.monotonic() - started, "best_dev_wer": best, "history": history}


def timed_decode(model, sources, beam, threads, ratio=2.0):
    """(words/s, outputs) of decoding `sources` on `threads` threads."""
    torch.set_num_threads(threads)
    t0 = time.monotonic()
    out = decode(model, sources, beam=beam, ratio=ratio)
    return len(sources) / (time.monotonic() - t0), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--speed-threads", default="1,2")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--schedule", choices=("plateau", "cosine"), default="plateau")
    ap.add_argument("--epochs", type=int, default=30, help="at most this many epochs (LSTMKit's default: 30)")
    ap.add_argument("--layers", type=int, default=1, help="the encoder's layers (LSTMKit's num_layers; default 1)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    def log(msg):
        print(f"[g2p_peer] {msg}", file=sys.stderr, flush=True)

    train_words, train_prons = read_pairs(os.path.join(args.data, "train.tsv"))
    source_vocab, target_vocab = Vocabulary(train_words, list), Vocabulary(train_prons, str.split)
    dev_refs = read_tsv(os.path.join(args.data, "dev.refs.tsv"))
    test_refs = read_tsv(os.path.join(args.data, "test.refs.tsv"))
    dev_words, test_words = list(dev_refs), list(test_refs)
    dev_sources = [source_vocab.encode(w) for w in dev_words]
    test_sources = [source_vocab.encode(w) for w in test_words]
    model = Seq2Seq(len(source_vocab.tokens), len(target_vocab.tokens), layers=args.layers)
    log(f"training on {len(train_words)} pairs, {len(dev_words)} dev words; vocabularies {len(source_vocab.tokens)} "
        f"source, {len(target_vocab.tokens)} target tokens; {sum(p.numel() for p in model.parameters())} parameters; "
        f"{args.minutes} min on {args.threads} threads")
    training = train(model, ([source_vocab.encode(w) for w in train_words], [target_vocab.encode(p) for p in train_prons]),
                     lambda: evaluate(model, target_vocab, dev_words, dev_sources, dev_refs)[0]["wer"],
                     args.minutes * 60, log, seed=args.seed, schedule=args.schedule, epochs=args.epochs)
    result = {"engine": "pytorch", "torch": torch.__version__, "threads": args.threads, "minutes": args.minutes,
              "parameters": sum(p.numel() for p in model.parameters()), "training": training,
              "test": {}, "dev": {}, "speed": {}}
    for name, beam in (("greedy", 1), (f"beam{args.beam}", args.beam)):
        torch.set_num_threads(args.threads)
        s, predictions = evaluate(model, target_vocab, test_words, test_sources, test_refs, beam=beam)
        result["test"][name] = s
        log(f"test {name}: WER {100 * s['wer']:.2f}  PER {100 * s['per']:.2f}")
        result["speed"][name] = {}
        for t in args.speed_threads.split(","):
            result["speed"][name][t], out = timed_decode(model, dev_sources, beam, int(t))
        result["dev"][name] = score(dev_refs, {w: texts(target_vocab, p) for w, p in zip(dev_words, out)})
        log(f"{name} words/s on the dev words: {result['speed'][name]}")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
