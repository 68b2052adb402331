"""Trains the small SentencePiece model used by the T5 tests (tests/data/t5-test-spiece.model).

A unigram model with T5's special ids (<pad> 0, </s> 1, <unk> 2, no BOS) and SentencePiece's default
nmt_nfkc normalisation, like t5-11b's spiece.model, trained on tools/t5/spm_corpus.txt. Needs the
PyPI `sentencepiece` package (tools only; the engine links Debian's libsentencepiece).
Usage: python3 tools/t5/train_test_spm.py [--out tests/data/t5-test-spiece.model]
"""
import argparse
import io
import os

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/data/t5-test-spiece.model"))
    ap.add_argument("--vocab-size", type=int, default=320)
    args = ap.parse_args()
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        input=os.path.join(HERE, "spm_corpus.txt"), model_writer=buf, vocab_size=args.vocab_size,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>",
        eos_piece="</s>", unk_piece="<unk>", character_coverage=1.0, num_threads=1, seed_sentencepiece_size=100000,
        normalization_rule_name="nmt_nfkc", minloglevel=2)
    with open(args.out, "wb") as fh:
        fh.write(buf.getvalue())
    print(f"wrote {args.out}: {len(buf.getvalue())} bytes")


if __name__ == "__main__":
    main()
