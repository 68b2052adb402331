#!/usr/bin/env bash
# CLI end-to-end for `tokenize` / `detokenize` and `info` on a tokenizer file (issue 5): a tiny
# random tokenizer (dv-tokenizer-tiny-v512: 17 frames of 64x96 -> latent [3,4,6], 8x8x8 codebook);
# an image -> 72 tokens in [0,512); tokens -> mp4 (17 frames of 96x64) and -> lossless h5 (f32
# /decoded [3,17,64,96], uint8 /frames [17,64,96,3] = the official mapping of /decoded); the same
# tokens twice give identical frames. Round trips are not identity with random weights: not
# asserted. Bad inputs exit non-zero with a message naming the problem and leave no output file.
# Usage: test_tokenize_cli.sh COSMOS_AR_BINARY SOURCE_DIR WORK_DIR
set -u
BIN=$1
SRC=$2
WORK=$3
rm -rf "$WORK"
mkdir -p "$WORK"
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

expect_fail() { # NAME NEEDLE OUTFILE -- cmd...
  local name=$1 needle=$2 out=$3
  shift 4
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq 0 ]; then bad "$name: exit 0"; return; fi
  if [ $rc -gt 2 ]; then bad "$name: exit $rc (crash?): $err"; return; fi
  if ! grep -qF -- "$needle" <<<"$err"; then bad "$name: message lacks '$needle': $err"; return; fi
  if [ -n "$out" ] && ls "$out"* >/dev/null 2>&1; then bad "$name: left an output file"; return; fi
  ok
}

# Numbers of the DATA block of `h5dump H5DUMP_ARGS... -w 0 -y FILE`, one per line.
h5_values() { # FILE H5DUMP_ARGS...
  local f=$1
  shift
  h5dump "$@" -w 0 -y "$f" | awk '/DATA \{/{on=1; next} on && /^ *\}/{exit} on' | tr ', ' '\n\n' | grep -v '^$'
}

TOK=$WORK/dv.h5
IMG=$SRC/tests/data/media-tiny.png
if "$BIN" init --config "$SRC/configs/models/dv-tokenizer-tiny-v512.json" --seed 7 --out "$TOK" 2>/dev/null; then ok
else bad "init dv-tokenizer-tiny-v512"; fi

# info on the tokenizer file
info=$("$BIN" info "$TOK" 2>/dev/null)
if grep -q "^model_type *dv_tokenizer" <<<"$info" && grep -q "^parts *encoder + decoder" <<<"$info" &&
   grep -q "^codebook *512 codes" <<<"$info" && grep -q "latent \[T,H,W\] \[3, 4, 6\] = 72 tokens" <<<"$info" &&
   grep -q "^parameters *encoder [1-9][0-9]*, decoder [1-9][0-9]*$" <<<"$info"; then ok
else bad "info tokenizer: $info"; fi

# tokenize: an image is one frame repeated to the clip's 17 frames
err=$("$BIN" tokenize --tokenizer "$TOK" --input "$IMG" --out "$WORK/t.txt" --out-h5 "$WORK/t.h5" 2>&1 >/dev/null)
if [ $? -eq 0 ] && grep -q "image, 1 frame repeated" <<<"$err" && grep -qF "[3, 4, 6]" <<<"$err"; then ok
else bad "tokenize image: $err"; fi
if [ "$(wc -l <"$WORK/t.txt" 2>/dev/null)" = 72 ] &&
   awk '!/^[0-9]+$/ || $1 >= 512 {b=1} END {exit b}' "$WORK/t.txt"; then ok
else bad "tokens: 72 ids in [0,512) expected"; fi
if h5dump -H "$WORK/t.h5" 2>/dev/null | tr -s ' \n' ' ' | grep -q 'DATASET "indices" { DATATYPE H5T_STD_I32LE DATASPACE SIMPLE { ( 3, 4, 6 )' &&
   h5dump -H "$WORK/t.h5" | tr -s ' \n' ' ' | grep -q 'DATASET "codes" { DATATYPE H5T_IEEE_F32LE DATASPACE SIMPLE { ( 3, 3, 4, 6 )'; then ok
else bad "--out-h5 datasets"; fi
if [ "$(h5_values "$WORK/t.h5" -d /indices | tr '\n' ' ')" = "$(tr '\n' ' ' <"$WORK/t.txt")" ]; then ok
else bad "/indices differ from the token file"; fi

# detokenize -> mp4
if "$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/t.txt" --out "$WORK/o.mp4" 2>/dev/null &&
   "$BIN" info "$WORK/o.mp4" 2>/dev/null | grep -q "video, 17 frame(s) of 96x64"; then ok
else bad "detokenize -> mp4 (17 frames of 96x64)"; fi

# detokenize -> h5 (lossless), twice
"$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/t.txt" --out "$WORK/o.h5" 2>/dev/null || bad "detokenize -> h5"
"$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/t.txt" --out "$WORK/o2.h5" 2>/dev/null || bad "detokenize -> h5 again"
hdr=$(h5dump -H "$WORK/o.h5" 2>/dev/null | tr -s ' \n' ' ')
if grep -q 'DATASET "decoded" { DATATYPE H5T_IEEE_F32LE DATASPACE SIMPLE { ( 3, 17, 64, 96 )' <<<"$hdr" &&
   grep -q 'DATASET "frames" { DATATYPE H5T_STD_U8LE DATASPACE SIMPLE { ( 17, 64, 96, 3 )' <<<"$hdr"; then ok
else bad "h5 datasets: $hdr"; fi
if h5diff "$WORK/o.h5" "$WORK/o2.h5" /frames /frames >/dev/null && h5diff "$WORK/o.h5" "$WORK/o2.h5" /decoded /decoded >/dev/null
then ok; else bad "two detokenize runs differ"; fi
# /frames = official mapping of /decoded (clamp(x*0.5+0.5, 0, 1)*255, truncated), checked on frame 5:
# decoded [c,5,y,x] against frames [5,y,x,c]. awk computes in double: allow one level at exact
# f32 boundaries, and require nearly all values equal.
dec=$(h5_values "$WORK/o.h5" -d /decoded -s 0,5,0,0 -c 3,1,64,96 -m '%.9g')
frm=$(h5_values "$WORK/o.h5" -d /frames -s 5,0,0,0 -c 1,64,96,3)
res=$(paste <(echo "$dec") <(echo "$frm" | awk '{v[NR-1]=$1} END {for (c=0;c<3;c++) for (k=0;k<64*96;k++) print v[k*3+c]}') |
  awk '{v=$1*0.5+0.5; if (v<0) v=0; if (v>1) v=1; m=int(v*255); d=m-$2; if (d<0) d=-d; n++; if (d==0) e++; if (d>1) f++;
        if ($2>0 && $2<255) mid++}
       END {printf "%d %d %d %d", n, e, f+0, mid}')
read -r n_all n_eq n_far n_mid <<<"$res"
if [ "${n_all:-0}" = 18432 ] && [ "${n_far:-1}" = 0 ] && [ $((n_eq * 100)) -ge $((n_all * 99)) ] && [ "${n_mid:-0}" -gt 0 ]; then ok
else bad "uint8 mapping of /decoded: values $n_all, equal $n_eq, off by >1 $n_far, unclamped $n_mid"; fi

# a video input: the mp4 just written, last 9 or last 1 frame(s)
for nif in 1 9; do
  if "$BIN" tokenize --tokenizer "$TOK" --input "$WORK/o.mp4" --num-input-frames $nif --out "$WORK/v$nif.txt" 2>/dev/null &&
     [ "$(wc -l <"$WORK/v$nif.txt")" = 72 ]; then ok; else bad "tokenize mp4 --num-input-frames $nif"; fi
done
# an explicit latent shape: [2,6,6] = 72 tokens -> 9 frames of 96x96
if "$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/t.txt" --latent 2,6,6 --out "$WORK/l.mp4" 2>/dev/null &&
   "$BIN" info "$WORK/l.mp4" 2>/dev/null | grep -q "video, 9 frame(s) of 96x96"; then ok
else bad "detokenize --latent 2,6,6"; fi

# errors
head -71 "$WORK/t.txt" >"$WORK/short.txt"
{ head -71 "$WORK/t.txt"; echo 512; } >"$WORK/big.txt"
E=$WORK/e
expect_fail count "holds 71 tokens; latent [3, 4, 6] needs 72" "$E.h5" -- \
  "$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/short.txt" --out "$E.h5"
expect_fail range "token 71 is 512, outside the codebook [0, 512)" "$E.mp4" -- \
  "$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/big.txt" --out "$E.mp4"
expect_fail latent_count "needs 90" "$E.h5" -- \
  "$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/t.txt" --latent 3,5,6 --out "$E.h5"
expect_fail latent_bad "--latent '3,4'" "$E.h5" -- \
  "$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/t.txt" --latent 3,4 --out "$E.h5"
expect_fail ext "must end in .mp4" "$E.avi" -- "$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/t.txt" --out "$E.avi"
expect_fail no_tokens "missing.txt" "$E.h5" -- \
  "$BIN" detokenize --tokenizer "$TOK" --tokens "$WORK/missing.txt" --out "$E.h5"
expect_fail no_tok_detok "missing.h5" "$E.h5" -- \
  "$BIN" detokenize --tokenizer "$WORK/missing.h5" --tokens "$WORK/t.txt" --out "$E.h5"
expect_fail no_tok "missing.h5" "$E.txt" -- "$BIN" tokenize --tokenizer "$WORK/missing.h5" --input "$IMG" --out "$E.txt"
expect_fail no_input "missing.png" "$E.txt" -- "$BIN" tokenize --tokenizer "$TOK" --input "$WORK/missing.png" --out "$E.txt"
expect_fail t5_as_tok "model_type is 't5', expected 'dv_tokenizer'" "$E.h5" -- \
  "$BIN" detokenize --tokenizer "$SRC/tests/data/t5-tiny.h5" --tokens "$WORK/t.txt" --out "$E.h5"
expect_fail ar_as_tok "model_type is 'ar', expected 'dv_tokenizer'" "$E.txt" -- \
  "$BIN" tokenize --tokenizer "$SRC/tests/data/tiny-ar-4b.h5" --input "$IMG" --out "$E.txt"
expect_fail bad_height "--height 40" "$E.txt" -- \
  "$BIN" tokenize --tokenizer "$TOK" --input "$IMG" --height 40 --out "$E.txt"
expect_fail bad_frames "--frames 10: the clip length must be 1 + 8*k" "$E.txt" -- \
  "$BIN" tokenize --tokenizer "$TOK" --input "$IMG" --frames 10 --out "$E.txt"
expect_fail bad_nif "--num-input-frames must be 1 or 9" "$E.txt" -- \
  "$BIN" tokenize --tokenizer "$TOK" --input "$IMG" --num-input-frames 3 --out "$E.txt"
expect_fail no_out "are required" "" -- "$BIN" tokenize --tokenizer "$TOK" --input "$IMG"

# one-part files (made with h5py when it is there): tokenize needs the encoder, detokenize the decoder
if python3 -c 'import h5py' 2>/dev/null; then
  python3 - "$TOK" "$WORK/dec-only.h5" "$WORK/enc-only.h5" <<'EOF'
import shutil, sys, h5py
src, dec, enc = sys.argv[1:]
for path, drop, flag in ((dec, ("encoder.", "quant_conv."), "has_encoder"),
                         (enc, ("decoder.", "post_quant_conv."), "has_decoder")):
    shutil.copy(src, path)
    with h5py.File(path, "r+") as f:
        for k in [k for k in f.keys() if k.startswith(drop)]:
            del f[k]
        f.attrs[flag] = f.attrs[flag] * 0
EOF
  expect_fail dec_only "holds only the tokenizer's decoder part; tokenize needs the encoder part" "$E.txt" -- \
    "$BIN" tokenize --tokenizer "$WORK/dec-only.h5" --input "$IMG" --out "$E.txt"
  expect_fail enc_only "holds only the tokenizer's encoder part; detokenize needs the decoder part" "$E.h5" -- \
    "$BIN" detokenize --tokenizer "$WORK/enc-only.h5" --tokens "$WORK/t.txt" --out "$E.h5"
  if "$BIN" info "$WORK/dec-only.h5" 2>/dev/null | grep -q "^parts *decoder only"; then ok; else bad "info dec-only"; fi
else
  echo "SKIP: one-part tokenizer files (no python3 h5py)"
fi

echo "test_tokenize_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
