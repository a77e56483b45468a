#!/usr/bin/env bash
# Builds bpf/sockwatch.bpf.o from bpf/sockwatch.bpf.c: clang's BPF target, CO-RE relocations
# (-g makes the BTF they need), then the DWARF stripped (the BTF stays) so that the object is
# the same bytes on any machine that has clang 14 and libbpf-dev's headers.
#   bpf/build.sh            writes bpf/sockwatch.bpf.o (the committed object the Agent embeds)
#   bpf/build.sh OUT        writes OUT instead (the test that compares it with the committed one)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/sockwatch.bpf.o}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
clang_bin="${CLANG:-clang}"
strip_bin="${LLVM_STRIP:-}"
if [ -z "$strip_bin" ]; then
  for c in llvm-strip llvm-strip-14 llvm-strip-15 llvm-strip-16; do
    if command -v "$c" >/dev/null 2>&1; then strip_bin="$c"; break; fi
  done
fi
command -v "$clang_bin" >/dev/null 2>&1 || { echo "bpf/build.sh: clang missing (apt-get install clang)" >&2; exit 2; }
[ -n "$strip_bin" ] || { echo "bpf/build.sh: llvm-strip missing (apt-get install llvm)" >&2; exit 2; }
[ -f /usr/include/bpf/bpf_helpers.h ] || { echo "bpf/build.sh: libbpf headers missing (apt-get install libbpf-dev)" >&2; exit 2; }
arch_include=/usr/include/$(uname -m)-linux-gnu
tmp="$(mktemp "${out}.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
# Relative source path from a fixed directory: the BTF line info names the file as given.
cd "$here"
# The checkout's path would land in BTF's line info (the source file's name): mapped to `.`, so
# the object is the same bytes in every clone.
"$clang_bin" -target bpf -O2 -g -Wall -Werror -fdebug-prefix-map="$here"=. -D__TARGET_ARCH_x86 -I"$arch_include" -c sockwatch.bpf.c -o "$tmp"
"$strip_bin" -g "$tmp"
mv "$tmp" "$out"
trap - EXIT
