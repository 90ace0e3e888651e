#!/usr/bin/env bash
# Makes the seeds of the jpeg_coefficients target from the corpus JPEGs: a 64x64 crop of
# each (lossless, at MCU boundaries, so the original's tables and subsampling are kept)
# as it is, progressive, with restart markers (every MCU, and every MCU row progressive),
# optimised, and as a one-component grey JPEG. Needs jpegtran (Debian's
# libjpeg-turbo-progs); the seeds are committed, so fuzzing does not.
#   fuzz/seeds/jpeg_coefficients.sh [CORPUS_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
corpus=${1:-$here/../../../shared/corpus}
out=$here/jpeg_coefficients
mkdir -p "$out"
for jpeg in "$corpus"/*.jpg; do
  name=$(basename "$jpeg" .jpg)
  crop=$(mktemp)
  jpegtran -copy none -crop 64x64+512+512 -outfile "$crop" "$jpeg"
  install -m 644 "$crop" "$out/$name.jpg"
  jpegtran -copy none -progressive -outfile "$out/$name-progressive.jpg" "$crop"
  jpegtran -copy none -restart 1B -outfile "$out/$name-restart.jpg" "$crop"
  jpegtran -copy none -progressive -restart 1 -outfile "$out/$name-progressive-restart.jpg" "$crop"
  jpegtran -copy none -optimize -outfile "$out/$name-optimized.jpg" "$crop"
  jpegtran -copy none -grayscale -outfile "$out/$name-grey.jpg" "$crop"
  rm -f "$crop"
done
ls -l "$out"
