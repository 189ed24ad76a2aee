#!/bin/bash
# Builds the dom0 initramfs of the testbed from unpacked Debian packages.
#
# Called by `cargo xtask testbed` (crates/xtask/src/testbed.rs); usable by hand:
#   ROOT=<dpkg -x of the packages> KVER=<kernel release> OUT=<work dir> \
#   [GUEST_IMAGE=<test guest kernel>] [HELPER=<testbed-dom0 binary>] bash build-dom0.sh
# Writes $OUT/dom0.cpio.gz. Host tools used: bash, ldd, gzip, find (cpio comes from busybox).
set -euo pipefail
: "${ROOT:?}" "${KVER:?}" "${OUT:?}"
HERE=$(cd "$(dirname "$0")" && pwd)
R=$ROOT
MODDIR=$R/lib/modules/$KVER
BUSYBOX=$R/bin/busybox
export LD_LIBRARY_PATH=$R/usr/lib/x86_64-linux-gnu

die() { echo "build-dom0: $*" >&2; exit 1; }
[ -d "$MODDIR" ] || die "no modules for $KVER under $R"
[ -x "$BUSYBOX" ] || die "no busybox in $R"

# Copies the shared libraries of each binary into the image root $1, resolving against the
# unpacked packages first and the host second (the C library comes from the host).
copy_libs() {
  local dest=$1 bin lib rel
  shift
  for bin in "$@"; do
    if ldd "$bin" | grep -q 'not found'; then
      die "$(basename "$bin") needs libraries this host does not have: $(ldd "$bin" | grep 'not found' | tr -s ' \t' ' ')"
    fi
    ldd "$bin" | awk '/=>/ {print $3} /^[[:space:]]*\/lib64/ {print $1}' | while read -r lib; do
      [ -f "$lib" ] || continue
      case "$lib" in "$R"/*) rel=${lib#"$R"} ;; *) rel=$lib ;; esac
      mkdir -p "$dest$(dirname "$rel")"
      cp -Lu "$lib" "$dest$rel"
    done
  done
}

# Module file of $1 (name with - or _), and the names it depends on (from its .modinfo).
module_file() { find "$MODDIR" \( -name "$1.ko" -o -name "$(echo "$1" | tr _ -).ko" -o -name "$(echo "$1" | tr - _).ko" \) | head -1; }
module_deps() { tr '\0' '\n' <"$1" | grep -a '^depends=' | cut -d= -f2 | tr , ' '; }

# Copies modules $2... and everything they depend on into image root $1.
copy_modules() {
  local dest=$1 m f rel
  shift
  local todo="$*" done_list=" "
  while [ -n "${todo// /}" ]; do
    set -- $todo
    m=$1
    shift
    todo="$*"
    case "$done_list" in *" $m "*) continue ;; esac
    done_list="$done_list$m "
    f=$(module_file "$m")
    [ -n "$f" ] || die "kernel module $m not found under $MODDIR"
    rel=${f#"$R"}
    mkdir -p "$dest$(dirname "$rel")"
    cp "$f" "$dest$rel"
    todo="$todo $(module_deps "$f")"
  done
  for f in modules.builtin modules.order modules.builtin.modinfo; do
    [ -f "$MODDIR/$f" ] && cp "$MODDIR/$f" "$dest/lib/modules/$KVER/"
  done
}

mk_cpio() { (cd "$1" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1) >"$2"; }

mkdir -p "$OUT"

### The Linux reference guest's initramfs: busybox, blkfront, netfront, its init.
G=$OUT/linux-guest
rm -rf "$G"
mkdir -p "$G"/{bin,sbin,proc,sys,dev,tmp,lib/modules/"$KVER"}
cp "$BUSYBOX" "$G/bin/"
ln -s busybox "$G/bin/sh"
copy_modules "$G" xen-blkfront xen-netfront
cp "$HERE/linux-guest/init" "$G/init"
chmod +x "$G/init"
mk_cpio "$G" "$OUT/linux-guest.cpio.gz"

### dom0
D=$OUT/dom0
rm -rf "$D"
mkdir -p "$D"/{bin,sbin,proc,sys,dev,run,tmp,root,etc/xen/scripts,var/lib,var/log,usr/bin,usr/sbin,usr/libexec}
mkdir -p "$D"/usr/lib/xen-4.17/boot "$D"/usr/share/qemu "$D"/usr/share/seabios "$D"/testbed/bin "$D"/testbed/linux
ln -s ../run "$D/var/run"
cp "$BUSYBOX" "$D/bin/"
ln -s busybox "$D/bin/sh"

# Toolstack: xl, xenstored, xenconsoled, xen-init-dom0 and the xenstore-* tools.
cp -a "$R/usr/lib/xen-4.17/bin" "$D/usr/lib/xen-4.17/"
cp -a "$R/usr/lib/xen-4.17/boot/hvmloader" "$D/usr/lib/xen-4.17/boot/"
for t in "$R"/usr/bin/xenstore*; do cp -a "$t" "$D/usr/bin/"; done
rm -f "$D/usr/bin/xenstore-control"
for t in xl xenstored xenconsoled xen-init-dom0 xenstore-control; do
  ln -sf /usr/lib/xen-4.17/bin/$t "$D/usr/sbin/$t"
done
mkdir -p "$D/usr/lib"
cp -a "$R/usr/lib/x86_64-linux-gnu" "$D/usr/lib/"
copy_libs "$D" "$R"/usr/lib/xen-4.17/bin/{xl,xenstored,xenconsoled,xen-init-dom0,xenconsole,libxl-save-helper,xenstore-control} "$R/usr/bin/xenstore"

# Device model for HVM guests: qemu-xen, SeaBIOS, the option ROMs for direct kernel boot.
cp "$R/usr/libexec/xen-qemu-system-i386" "$D/usr/libexec/"
copy_libs "$D" "$R/usr/libexec/xen-qemu-system-i386"
cp "$R/usr/share/seabios/bios-256k.bin" "$D/usr/share/seabios/"
for f in linuxboot_dma.bin linuxboot.bin kvmvapic.bin; do
  cp -L "$R/usr/share/qemu/$f" "$D/usr/share/qemu/"
done
cp -a "$R/usr/share/qemu/keymaps" "$D/usr/share/qemu/"
# Blank network boot ROMs (no 55AA signature, so SeaBIOS skips them): the emulated NIC then
# boots without iPXE (saves 40-50 s per boot). QEMU refuses an empty ROM file.
for f in efi-e1000.rom pxe-e1000.rom efi-rtl8139.rom pxe-rtl8139.rom; do
  head -c 512 /dev/zero >"$D/usr/share/qemu/$f"
done

copy_modules "$D" xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-blkback xen-netback loop bridge tun

# The bed itself: init, hot-plug scripts, scenarios, guests.
cp "$HERE/dom0/init" "$D/init"
cp "$HERE/dom0/scenarios.sh" "$D/testbed/scenarios.sh"
cp "$HERE/dom0/block" "$HERE/dom0/vif-bridge" "$D/etc/xen/scripts/"
cp "$R/boot/vmlinuz-$KVER" "$D/testbed/linux/vmlinuz"
cp "$OUT/linux-guest.cpio.gz" "$D/testbed/linux/initrd.gz"
if [ -n "${GUEST_IMAGE:-}" ]; then
  cp "$GUEST_IMAGE" "$D/testbed/guest.bin"
fi
if [ -n "${HELPER:-}" ]; then
  cp "$HELPER" "$D/testbed/bin/testbed-dom0"
  copy_libs "$D" "$HELPER"
fi
# ld.so from the host, at both of its usual paths.
mkdir -p "$D/lib64" "$D/lib/x86_64-linux-gnu"
cp -L /lib64/ld-linux-x86-64.so.2 "$D/lib/x86_64-linux-gnu/"
ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$D/lib64/ld-linux-x86-64.so.2"
echo 'root:x:0:0:root:/root:/bin/sh' >"$D/etc/passwd"
echo 'root:x:0:' >"$D/etc/group"
chmod +x "$D/init" "$D/testbed/scenarios.sh" "$D"/etc/xen/scripts/*
mk_cpio "$D" "$OUT/dom0.cpio.gz"
echo "build-dom0: $(du -h "$OUT/dom0.cpio.gz" | cut -f1) dom0 initramfs at $OUT/dom0.cpio.gz"
