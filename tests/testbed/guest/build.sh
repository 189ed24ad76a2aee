#!/bin/sh
# Builds the testbed guest kernel into OUT, a Linux boot-protocol (bzImage-compatible) image.
#
#   tests/testbed/guest/build.sh OUT
#
# Uses Debian's Rust (/usr/bin/cargo, /usr/bin/rustc with RUSTC_BOOTSTRAP=1 for -Zbuild-std),
# rust-lld (lld-22) to link and llvm-objcopy (llvm-22) to flatten the ELF. Missing Debian
# packages are installed with apt-get (with a message). Environment:
#   CARGO_TARGET_DIR  build directory (default: tests/testbed/guest/target)
#   GUEST_PROFILE     release (default) or dev
set -eu

die() {
    echo "testbed guest build: error: $*" >&2
    exit 1
}

[ $# -eq 1 ] || die "usage: $0 OUT"
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
PACKAGES="rustc-web cargo-web rust-web-src libstd-rust-web-dev rust-web-llvm lld-22"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    echo "testbed guest build: installing missing Debian packages:$missing" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get install -y --no-install-recommends $missing >&2 ||
        die "could not install$missing (apt-get install failed)"
fi

for tool in /usr/bin/cargo /usr/bin/rustc /usr/bin/rust-lld; do
    [ -x "$tool" ] || die "$tool not found (packages: $PACKAGES)"
done
OBJCOPY=""
for candidate in llvm-objcopy-22 /usr/lib/llvm-22/bin/llvm-objcopy llvm-objcopy; do
    if command -v "$candidate" >/dev/null 2>&1; then
        OBJCOPY=$(command -v "$candidate")
        break
    fi
done
[ -n "$OBJCOPY" ] || die "llvm-objcopy not found (package llvm-22, a dependency of rust-web-llvm)"
SYSROOT=$(/usr/bin/rustc --print sysroot)
[ -d "$SYSROOT/lib/rustlib/src/rust/library/core" ] ||
    die "the Rust library sources are missing under $SYSROOT/lib/rustlib/src (package rust-web-src)"

PROFILE=${GUEST_PROFILE:-release}
TARGET_DIR=${CARGO_TARGET_DIR:-$HERE/target}
case "$PROFILE" in
release) PROFILE_DIR=release ;;
dev) PROFILE_DIR=debug ;;
*) die "GUEST_PROFILE must be release or dev" ;;
esac

# The rustup toolchain (if any) must not be picked up: Debian's compiler builds core and alloc.
export RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$TARGET_DIR"
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS RUSTUP_TOOLCHAIN
export CARGO_TARGET_X86_64_UNKNOWN_NONE_RUSTFLAGS="-C relocation-model=static -C link-arg=-T$HERE/link.ld -C link-arg=--no-pie -C link-arg=-znorelro -C force-frame-pointers=yes"

/usr/bin/cargo build \
    --manifest-path "$HERE/Cargo.toml" \
    --profile "$PROFILE" \
    --target x86_64-unknown-none \
    -Zbuild-std=core,alloc \
    -Zbuild-std-features=compiler-builtins-mem ||
    die "cargo build failed"

ELF="$TARGET_DIR/x86_64-unknown-none/$PROFILE_DIR/testbed-guest"
[ -f "$ELF" ] || die "linker output $ELF missing"
"$OBJCOPY" -O binary "$ELF" "$OUT.tmp" || die "llvm-objcopy failed"

# Sanity: the boot-protocol header is where loaders look for it.
magic=$(dd if="$OUT.tmp" bs=1 skip=514 count=4 2>/dev/null)
[ "$magic" = "HdrS" ] || die "no HdrS signature at offset 0x202 of the image"
mv "$OUT.tmp" "$OUT"
echo "testbed guest build: wrote $OUT ($(wc -c <"$OUT") bytes; ELF with symbols: $ELF)" >&2
