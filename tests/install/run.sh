#!/usr/bin/env bash
# The installed package works for a consumer: install the build into a scratch prefix,
# then build tests/install/consumer against it with find_package(asyncwith), and with the
# README's pkg-config command as it is written there (and with --static), and run each.
# The consumer uses every module that was installed, through <aw/aw.hpp> alone.
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

# The modules that were installed; the consumer uses each (CONSUMER_<MODULE>).
modules=()
defines=()
for module in files pg http mongo net; do
  if compgen -G "$prefix/lib*/libaw_$module.*" >/dev/null; then
    modules+=("$module")
    defines+=("-DCONSUMER_${module^^}")
  fi
done
echo "== installed modules: ${modules[*]:-none}"

echo "== find_package(asyncwith): configure, build, run"
modules_list=$(IFS=';'; echo "${modules[*]:-}")
cmake -S "$here/consumer" -B "$scratch/consumer-build" \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="${flags[*]}" \
  -DCMAKE_EXE_LINKER_FLAGS="${flags[*]}" \
  -DCONSUMER_MODULES="$modules_list" >"$scratch/consumer-configure.log" ||
  { cat "$scratch/consumer-configure.log"; exit 1; }
cmake --build "$scratch/consumer-build"
"$scratch/consumer-build/consumer"

echo "== -Wreturn-type is an error for a user of aw::core, unless it turns that off"
if cmake --build "$scratch/consumer-build" --target falls_off_end >"$scratch/falls-off-end.log" 2>&1; then
  echo "falls_off_end.cpp compiled: the package did not make -Wreturn-type an error" >&2
  exit 1
fi
grep -q "Werror.*return-type" "$scratch/falls-off-end.log" || { cat "$scratch/falls-off-end.log"; exit 1; }
cmake --build "$scratch/consumer-build" --target falls_off_end_allowed >"$scratch/falls-off-end-allowed.log" 2>&1 ||
  { cat "$scratch/falls-off-end-allowed.log"; exit 1; }

pc=$(find "$prefix" -name asyncwith.pc -print -quit)
if [ -z "$pc" ]; then
  echo "asyncwith.pc was not installed under $prefix" >&2
  exit 1
fi
# Only the installed package: no system-wide asyncwith.pc may answer instead.
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
pkg_flags=$(pkg-config --cflags --libs asyncwith)
echo "pkg-config --cflags --libs asyncwith: $pkg_flags"
case "$pkg_flags" in
  *"-I$prefix/"*) ;;
  *) echo "the installed asyncwith.pc does not point into $prefix (not relocatable?)" >&2; exit 1 ;;
esac

# The README's command, word for word but for the compiler: `c++` is the compiler under test
# with the sanitizer flags and the modules to use. With --static too, which users add for
# static libraries: it must not ask for static libraries the system does not have.
readme_command=$(grep -m1 '^c++ .*\$(pkg-config .*asyncwith)' "$here/../../README.md") ||
  { echo "README.md has no pkg-config command line (c++ ... \$(pkg-config ... asyncwith) ...)" >&2; exit 1; }
c++() { "$cxx" "${flags[@]}" "${defines[@]}" "$@"; }
mkdir -p "$scratch/pkg-config"
cp "$here/consumer/main.cpp" "$scratch/pkg-config/app.cpp"
for variant in "$readme_command" "${readme_command/pkg-config /pkg-config --static }"; do
  echo "== $variant"
  (cd "$scratch/pkg-config" && rm -f app && eval "$variant" && ./app)
done

echo "== installed package OK"
