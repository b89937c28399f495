#!/usr/bin/env bash
# The installed package works for a consumer: install the build into a scratch prefix,
# then build tests/install/consumer against it twice, with find_package(asyncwith) and
# with pkg-config, and run both programs.
#
#   run.sh <build-dir> <cxx-compiler> <scratch-dir> [<sanitizers>]
#
# <sanitizers> is the build's AW_SANITIZE (e.g. address,undefined), empty for none: a
# sanitized libaw_core.a needs the consumer built and linked with the same -fsanitize.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 <build-dir> <cxx-compiler> <scratch-dir> [<sanitizers>]" >&2
  exit 2
fi
build=$1
cxx=$2
scratch=$3
sanitize=${4:-}
here=$(cd "$(dirname "$0")" && pwd)

flags=()
if [ -n "$sanitize" ]; then
  flags=(-fsanitize="$sanitize" -fno-omit-frame-pointer -fno-sanitize-recover=all)
fi

rm -rf "$scratch"
mkdir -p "$scratch"
prefix=$scratch/prefix

echo "== cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$scratch/install.log"

echo "== find_package(asyncwith): configure, build, run"
cmake -S "$here/consumer" -B "$scratch/consumer-build" \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="${flags[*]}" \
  -DCMAKE_EXE_LINKER_FLAGS="${flags[*]}" >"$scratch/consumer-configure.log" ||
  { cat "$scratch/consumer-configure.log"; exit 1; }
cmake --build "$scratch/consumer-build"
"$scratch/consumer-build/consumer"

echo "== pkg-config asyncwith: compile, run"
pc=$(find "$prefix" -name asyncwith.pc -print -quit)
if [ -z "$pc" ]; then
  echo "asyncwith.pc was not installed under $prefix" >&2
  exit 1
fi
pcdir=$(dirname "$pc")
# Only the installed package: no system-wide asyncwith.pc may answer instead.
pkg_flags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs asyncwith)
echo "pkg-config --cflags --libs asyncwith: $pkg_flags"
case "$pkg_flags" in
  *"-I$prefix/"*) ;;
  *) echo "the installed asyncwith.pc does not point into $prefix (not relocatable?)" >&2; exit 1 ;;
esac
# shellcheck disable=SC2086 # pkg-config output is a list of words
"$cxx" "${flags[@]}" -o "$scratch/consumer-pkg-config" "$here/consumer/main.cpp" $pkg_flags
"$scratch/consumer-pkg-config"

echo "== installed package OK"
