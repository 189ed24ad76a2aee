#!/bin/sh
# dom0 side of the testbed scenarios (busybox sh). Usage: scenarios.sh NAME...
#
# Prints, for the harness (crates/xtask/src/testbed.rs), lines starting with "TESTBED: ":
#   RUN <r> of <n>                    round r of n (`testbed-repeat=N` on dom0's command line)
#   BEGIN <name> attempt <n>          a scenario (re)starts
#   RETRY <name> attempt <n>: <why>   the emulator faulted (triple fault / insn mismatch); retried
#   PASS <name> | FAIL <name>: <why> | NOTRUN <name>: <why>
#   DUMP-BEGIN <name> ... DUMP-END    on failure: guest serial, xl dmesg, xl and qemu-dm logs
# Every wait is bounded, and every wait waits for the event it is about (a domain is gone when
# Xen no longer has it, a log is complete when its writer closed it), never for one that usually
# comes with it. Every guest has a name no earlier guest of the bed used: tb-<scenario>-r<round>a
# <attempt>-<sequence>, so one slow teardown cannot collide with the next guest.
# The test guest follows tests/testbed/guest-protocol (see the xtask docs).

LOG=/var/log/xen
GUEST=/testbed/guest.bin
LINUX=/testbed/linux/vmlinuz
LINUX_INITRD=/testbed/linux/initrd.gz
HELPER=/testbed/bin/testbed-dom0
# Per-guest records (domain id, device-model pid, console kind), one file per guest name.
GUESTS=/tmp/guests
mkdir -p "$GUESTS"
# Guests made so far in this bed (the sequence number of the next guest's name).
SEQ=0
# Round of a repeated run (`testbed-repeat=N`), set by the runner.
ROUND=1
# Attempts per scenario when the emulator faults (see the reference's Stability section).
ATTEMPTS=${TESTBED_ATTEMPTS:-3}
# How much slower than a quiet 2-core machine this run is, from the uptime at which dom0 got
# here (about 8 s when quiet); at least 1, at most 5. It stretches the bounds below.
SLOW=$(awk "BEGIN { f = int(($(cut -d' ' -f1 /proc/uptime) + 7) / 8); if (f < 1) f = 1; if (f > 5) f = 5; print f }")
# Upper bound for one guest's run from `xl create` to its result line.
GUEST_TIMEOUT=$((120 * SLOW))
# Upper bound for one step of a handshake through xenstore (the protocol's dom0 side: 60 s).
STEP_TIMEOUT=$((60 * SLOW))

say() { echo "TESTBED: $*"; }
now() { cut -d' ' -f1 /proc/uptime; }
note() { echo "testbed[$(now)]: $*"; }
# Emulator faults recorded by Xen so far.
faults() { xl dmesg 2>/dev/null | grep -cE 'Triple fault|Insn mismatch'; }

# Process creation is slow in a PV dom0 under emulation, and a busy dom0 starves the HVM guest's
# device model: the waits below fork as little as possible.
mkfifo /tmp/tick.fifo 2>/dev/null
# pause SECS: sleeps without forking (read with a timeout on a FIFO nobody writes).
pause() { read -r -t "$1" _ <>/tmp/tick.fifo; }

# UP = whole seconds since dom0 booted, read without a fork: bounds are in real seconds,
# however slowly each loop turn runs on a busy host.
secs_up() {
  read -r su_up _ </proc/uptime
  UP=${su_up%.*}
}

# wait_for SECS CMD...: runs CMD every 2 seconds until it succeeds; 1 after SECS seconds.
wait_for() {
  secs=$1
  shift
  secs_up
  wf_start=$UP
  wf_next=20
  while ! "$@"; do
    secs_up
    w=$((UP - wf_start))
    [ "$w" -ge "$secs" ] && return 1
    pause 2
    if [ "$w" -ge "$wf_next" ]; then
      note "still waiting after ${w}s for: $*"
      wf_next=$((wf_next + 20))
    fi
  done
  return 0
}

# Lines of the guest's serial log without carriage returns.
serial() { tr -d '\r' <"$LOG/$1-serial.log" 2>/dev/null; }
# fact NAME KEY: the last "TESTBED-GUEST: fact KEY=VALUE" the guest NAME printed.
fact() { serial "$1" | grep -a "TESTBED-GUEST: fact $2=" | tail -1 | sed "s/.*TESTBED-GUEST: fact $2=//"; }
has_line() { grep -aq "$2" "$LOG/$1-serial.log" 2>/dev/null; }

# rec NAME FIELD: a field of guest NAME's record (domid, qpid, pvconsole).
rec() { sed -n "s/^$2=//p" "$GUESTS/$1" 2>/dev/null; }

# domain_gone DOMID: Xen no longer has the domain (not running, not shut down, not dying) and no
# backend, device model or domain directory of it is left in xenstore. Only then may its disks,
# loop devices and memory be used again.
domain_gone() {
  [ -n "$1" ] || return 0
  # `xl list ID` asks Xen for exactly this domain; it fails once Xen has forgotten it.
  xl list "$1" >/dev/null 2>&1 && return 1
  for t in $(xenstore-list /local/domain/0/backend 2>/dev/null); do
    xenstore-exists "/local/domain/0/backend/$t/$1" 2>/dev/null && return 1
  done
  xenstore-exists "/local/domain/0/device-model/$1" 2>/dev/null && return 1
  ! xenstore-exists "/local/domain/$1" 2>/dev/null
}
# guest_gone NAME: guest NAME's domain is gone (above) and its device model process has exited.
guest_gone() {
  qp=$(rec "$1" qpid)
  [ -n "$qp" ] && [ -d "/proc/$qp" ] && return 1
  domain_gone "$(rec "$1" domid)"
}
# output_done NAME: nothing more can be written to guest NAME's console log: its writer has
# ended (the device model, for the emulated UART) or closed the log (xenconsoled, for the PV
# console, which it closes when it drops the domain). No fork while the writer still runs.
output_done() {
  if [ "$(rec "$1" pvconsole)" = 1 ]; then
    domain_gone "$(rec "$1" domid)" || return 1
    pid=$(cat /run/xenconsoled.pid 2>/dev/null)
    [ -n "$pid" ] || return 0
    log=$(readlink -f "$LOG/$1-serial.log")
    for fd in /proc/"$pid"/fd/*; do
      [ "$(readlink "$fd" 2>/dev/null)" = "$log" ] && return 1
    done
    return 0
  fi
  qp=$(rec "$1" qpid)
  if [ -n "$qp" ]; then
    [ ! -d "/proc/$qp" ]
  else
    domain_gone "$(rec "$1" domid)"
  fi
}

# wait_line NAME SECS TEXT...: reads the guest's serial log as it grows until a line contains one
# of the TEXTs (0), the guest's console log is complete without one (2) or SECS passed (1). No
# fork per line or per second while the guest runs.
wait_line() {
  wl_name=$1
  wl_secs=$2
  shift 2
  secs_up
  wl_start=$UP
  wl_next=20
  part=
  exec 3<"$LOG/$wl_name-serial.log"
  while :; do
    while :; do
      line=
      if IFS= read -r line <&3; then
        line="$part$line"
        part=
      else
        part="$part$line"
        break
      fi
      for text in "$@"; do
        case "$line" in *"$text"*) exec 3<&-; return 0 ;; esac
      done
    done
    if output_done "$wl_name"; then
      # The writer is done: what is in the log now is all of it.
      exec 3<&-
      for text in "$@"; do has_line "$wl_name" "$text" && return 0; done
      return 2
    fi
    secs_up
    w=$((UP - wl_start))
    if [ "$w" -ge "$wl_secs" ]; then
      exec 3<&-
      return 1
    fi
    pause 1
    if [ "$w" -ge "$wl_next" ]; then
      note "still waiting after ${w}s for '$*' from $wl_name; last: $(tail -c 160 "$LOG/$wl_name-serial.log" | tr -d '\r' | tail -1)"
      wl_next=$((wl_next + 20))
    fi
  done
}

# xs_wait PATH SECS: waits until PATH exists in xenstore; prints its value.
xs_present() { xenstore-read "$1" >/dev/null 2>&1; }
xs_wait() {
  if wait_for "$2" xs_present "$1"; then xenstore-read "$1"; else return 1; fi
}

# new_guest SCENARIO: sets n to a guest name no earlier guest of this bed had.
new_guest() {
  SEQ=$((SEQ + 1))
  n="tb-$1-r${ROUND}a${attempt}-$SEQ"
}

# start_guest NAME KERNEL CMDLINE [RAMDISK]: creates an HVM guest; extra config lines in $EXTRA,
# memory in MiB in $MEMORY, console on hvc0 instead of COM1 if $PVCONSOLE (all cleared after use).
start_guest() {
  name=$1
  cmdline=$3
  # The test guest waits 30 s for each dom0 step; stretched like dom0's own bounds.
  [ "$2" = "$GUEST" ] && cmdline="$cmdline peer-wait-ms=$((30000 * SLOW))"
  if [ -e "$GUESTS/$name" ]; then
    RES="FAIL harness error: guest name $name was used before"
    return 1
  fi
  : >"$LOG/$name-serial.log"
  pvc=0
  [ -n "${PVCONSOLE:-}" ] && pvc=1
  {
    echo "name = \"$name\""
    echo 'type = "hvm"'
    echo 'device_model_version = "qemu-xen"'
    echo "kernel = \"$2\""
    [ -n "${4:-}" ] && echo "ramdisk = \"$4\""
    echo "cmdline = \"$cmdline\""
    echo "memory = ${MEMORY:-128}"
    echo 'vcpus = 1'
    if [ -n "${PVCONSOLE:-}" ]; then
      # Output on the Xen PV console (hvc0), logged by xenconsoled; no emulated UART, whose
      # every byte is a round trip to the device model in dom0.
      ln -sf "guest-$name.log" "$LOG/$name-serial.log"
      : >"$LOG/guest-$name.log"
    else
      echo "serial = \"file:$LOG/$name-serial.log\""
    fi
    echo 'xen_platform_pci = 1'
    echo 'vga = "none"'
    echo 'vnc = 0'
    echo 'sdl = 0'
    echo 'on_poweroff = "destroy"'
    echo 'on_reboot = "destroy"'
    echo 'on_crash = "destroy"'
    [ -n "${EXTRA:-}" ] && echo "$EXTRA"
  } >"/tmp/$name.cfg"
  EXTRA=
  MEMORY=
  PVCONSOLE=
  echo "$name" >>/tmp/attempt-guests
  note "xl create $name ($cmdline)"
  if ! xl create "/tmp/$name.cfg" >"$LOG/xl-create-$name.log" 2>&1; then
    RES="FAIL xl create failed: $(grep -m 2 -i error "$LOG/xl-create-$name.log" | tr "\n" " ")"
    # A half-made domain is still torn down and waited for (stop_guest).
    DOMID=$(xl domid "$name" 2>/dev/null)
    printf 'domid=%s\nqpid=\npvconsole=%s\n' "$DOMID" "$pvc" >"$GUESTS/$name"
    return 1
  fi
  DOMID=$(xl domid "$name" 2>/dev/null)
  BASE=/local/domain/$DOMID/data/testbed
  # xl create returns once the device model runs: its process is there to be found.
  QPID=$(grep -la -e "-xen-domid.$DOMID." /proc/[0-9]*/cmdline 2>/dev/null | head -1 | cut -d/ -f3)
  printf 'domid=%s\nqpid=%s\npvconsole=%s\n' "$DOMID" "$QPID" "$pvc" >"$GUESTS/$name"
  note "$name is domain $DOMID (device model pid ${QPID:-unknown})"
  return 0
}

# The scenario a guest name was made for (tb-<scenario>-r<round>a<attempt>-<seq>).
scenario_of() {
  sc=${1#tb-}
  echo "${sc%-r*}"
}

# guest_result NAME: waits for the guest's PASS/FAIL line; RES is FAIL if it did not pass.
guest_result() {
  wait_line "$1" "$GUEST_TIMEOUT" "TESTBED-GUEST: PASS" "TESTBED-GUEST: FAIL"
  state=$?
  if has_line "$1" "TESTBED-GUEST: PASS $(scenario_of "$1")"; then
    return 0
  fi
  why=$(serial "$1" | grep -a 'TESTBED-GUEST: FAIL' | tail -1 | sed 's/.*TESTBED-GUEST: //')
  if [ -n "$why" ]; then
    RES="FAIL guest reported: $why"
  elif [ $state = 1 ]; then
    RES="FAIL no guest result within ${GUEST_TIMEOUT}s"
  else
    RES="FAIL guest ended without a result line"
  fi
  return 1
}

# stop_guest NAME: destroys guest NAME if Xen still has it and waits until it is gone (Xen has
# forgotten the domain, its backends and device model are cleaned up); 1 if it is not gone
# within a handshake step's bound.
stop_guest() {
  d=$(rec "$1" domid)
  guest_gone "$1" && return 0
  if [ -n "$d" ] && xl list "$d" >/dev/null 2>&1; then
    xl destroy "$d" >/dev/null 2>&1
  fi
  if ! wait_for $STEP_TIMEOUT guest_gone "$1"; then
    note "$1 (domain $d) is not gone ${STEP_TIMEOUT}s after xl destroy"
    return 1
  fi
  return 0
}

# xl_reason NAME: xl's monitor for guest NAME has logged the shutdown reason (it does so before
# it destroys the domain).
xl_reason() { grep -aq 'has shut down, reason code' "$LOG/xl-$1.log" 2>/dev/null; }

# The shutdown reason code xl logged for guest NAME (0 poweroff, 1 reboot, 3 crash), if any.
shutdown_reason() { grep -a 'has shut down, reason code' "$LOG/xl-$1.log" 2>/dev/null | tail -1 | sed 's/.*reason code \([0-9]*\).*/\1/'; }

need_guest() {
  if [ ! -f "$GUEST" ]; then
    RES="NOTRUN test guest not available (no image in the bed)"
    return 1
  fi
  return 0
}
need_helper() {
  if [ ! -x "$HELPER" ]; then
    RES="NOTRUN the dom0 helper testbed-dom0 is not in the bed"
    return 1
  fi
  return 0
}

expect_fact() { # NAME KEY EXPECTED
  got=$(fact "$1" "$2")
  if [ "$got" != "$3" ]; then
    RES="FAIL fact $2 is '$got', expected '$3'"
    return 1
  fi
  return 0
}

### Scenarios. Each sets RES to PASS, "FAIL <why>" or "NOTRUN <why>"; the guest is left to stop_guest.

scn_linux_reference() {
  new_guest linux-reference
  dd if=/dev/zero of=/dev/loop0 bs=1M count=8 2>/dev/null
  MEMORY=256
  PVCONSOLE=1
  EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,target=/dev/loop0' ]
vif = [ 'bridge=xenbr0,type=vif,mac=00:16:3e:99:00:02' ]"
  start_guest $n $LINUX "console=hvc0 loglevel=4 tbip=10.99.0.2" $LINUX_INITRD || return
  # Three times the usual bound: the option ROM loads its 9 MB of kernel and initramfs through the
  # device model, which takes minutes when the host is busy.
  wait_line $n $((3 * GUEST_TIMEOUT)) 'LINUXREF done'
  lr() { serial $n | grep -a "LINUXREF $1=" | tail -1 | sed "s/.*LINUXREF $1=//"; }
  if ! has_line $n 'LINUXREF done'; then
    RES="FAIL the Linux guest did not finish within $((3 * GUEST_TIMEOUT))s (domain gone: $(guest_gone $n && echo yes || echo no))"
    return
  fi
  want=$(lr pattern-md5)
  got=$(lr readback-md5)
  [ -n "$want" ] || { RES="FAIL no disk result (xvda: $(lr xvda))"; return; }
  [ "$want" = "$got" ] || { RES="FAIL guest read back md5 $got, wrote $want"; return; }
  ping=$(lr ping)
  [ "$ping" = ok ] || { RES="FAIL ping from the guest to dom0: ${ping:-no result} (eth0: $(lr eth0))"; return; }
  # blkback has let go of the backing device only once the domain and its backends are gone.
  wait_for $STEP_TIMEOUT guest_gone $n || { RES="FAIL the Linux guest did not power off and go away within ${STEP_TIMEOUT}s"; return; }
  # What the guest wrote through blkfront must be in the backing device that blkback served.
  backend=$(dd if=/dev/loop0 bs=1M skip=1 count=4 2>/dev/null | md5sum | cut -d' ' -f1)
  [ "$backend" = "$want" ] || { RES="FAIL dom0 sees md5 $backend in the backing device, guest wrote $want"; return; }
  note "linux-reference: disk md5 $want matches in guest and dom0; xvda via $(lr xvda-driver), eth0 via $(lr eth0-driver); ping ok"
  RES=PASS
}

scn_xen_detect() {
  need_guest || return
  want="$(xl info | awk '/^xen_major/ {print $3}').$(xl info | awk '/^xen_minor/ {print $3}')"
  new_guest xen-detect
  start_guest $n $GUEST "scenario=xen-detect" || return
  guest_result $n || return
  expect_fact $n xen-version "$want" || return
  expect_fact $n cpuid-base 0x40000000 || return
  expect_fact $n hypercall-page ok || return
  stop_guest $n || { RES="FAIL $n did not go away"; return; }
  new_guest xen-detect
  EXTRA='viridian = 1'
  start_guest $n $GUEST "scenario=xen-detect" || return
  guest_result $n || return
  expect_fact $n xen-version "$want" || return
  expect_fact $n cpuid-base 0x40000100 || { RES="$RES (with viridian=1)"; return; }
  RES=PASS
}

scn_unplug() {
  need_guest || return
  new_guest unplug
  EXTRA="disk = [ 'format=raw,vdev=hda,access=rw,target=/dev/loop3' ]
vif = [ 'bridge=xenbr0,model=e1000,mac=00:16:3e:99:00:03' ]"
  start_guest $n $GUEST "scenario=unplug" || return
  guest_result $n || return
  expect_fact $n unplug-magic 0x49d2 || return
  [ -n "$(fact $n unplug-version)" ] || { RES="FAIL no unplug-version fact"; return; }
  expect_fact $n ide-before present || return
  expect_fact $n ide-after absent || return
  expect_fact $n nic-before present || return
  expect_fact $n nic-after absent || return
  RES=PASS
}

scn_evtchn() {
  need_guest || return
  need_helper || return
  new_guest evtchn
  start_guest $n $GUEST "scenario=evtchn" || return
  if ! out=$(TESTBED_STEP_SECS=$STEP_TIMEOUT $HELPER evtchn "$DOMID" 2>&1); then
    note "$out"
    RES="FAIL dom0 helper: $(echo "$out" | tail -1)"
    # The guest's own reason (no interrupt: GSI, vector, controller state) comes first.
    why=$(serial $n | grep -a 'TESTBED-GUEST: FAIL' | tail -1 | sed 's/.*TESTBED-GUEST: //')
    [ -z "$why" ] || RES="FAIL guest reported: $why ($RES)"
    return
  fi
  note "$out"
  guest_result $n || return
  expect_fact $n dom0-got 1 || return
  # Events arrive through the callback interrupt (GSI -> I/O APIC -> local APIC), not polling.
  expect_fact $n delivered-by interrupt || return
  expect_fact $n loopback-interrupts 5 || return
  isr=$(fact $n isr-count)
  case "$isr" in
  '' | *[!0-9]* | 0) RES="FAIL fact isr-count is '$isr', expected a positive count"; return ;;
  esac
  RES=PASS
}

scn_grant() {
  need_guest || return
  need_helper || return
  new_guest grant
  start_guest $n $GUEST "scenario=grant" || return
  if ! out=$(TESTBED_STEP_SECS=$STEP_TIMEOUT $HELPER grant "$DOMID" 2>&1); then
    note "$out"
    RES="FAIL dom0 helper: $(echo "$out" | tail -1)"
    return
  fi
  note "$out"
  guest_result $n || return
  expect_fact $n end-while-mapped refused || return
  expect_fact $n end-after-unmap ok || return
  RES=PASS
}

scn_xenstore() {
  need_guest || return
  new_guest xenstore
  start_guest $n $GUEST "scenario=xenstore" || return
  xs_wait "$BASE/watching" $STEP_TIMEOUT >/dev/null || { RES="FAIL guest never wrote watching"; return; }
  xenstore-write "$BASE/poke" 1
  xs_wait "$BASE/tx-open" $STEP_TIMEOUT >/dev/null || { RES="FAIL guest never wrote tx-open"; return; }
  old=$(xenstore-read "$BASE/counter" 2>/dev/null)
  case "$old" in '' | *[!0-9]*) old=0 ;; esac
  xenstore-write "$BASE/counter" $((old + 10)) "$BASE/tx-poked" 1
  guest_result $n || return
  expect_fact $n domid "$DOMID" || return
  expect_fact $n name "$n" || return
  expect_fact $n missing-read ENOENT || return
  expect_fact $n foreign-read EACCES || return
  # The retried transaction incremented dom0's value, not the one it first read.
  expect_fact $n counter $((old + 11)) || return
  retries=$(fact $n tx-retries)
  case "$retries" in '' | *[!0-9]*) RES="FAIL tx-retries fact is '$retries'"; return ;; esac
  [ "$retries" -ge 1 ] || { RES="FAIL the transaction was not retried after dom0's write (tx-retries=$retries)"; return; }
  RES=PASS
}

scn_xenbus_hotplug() {
  need_guest || return
  new_guest xenbus-hotplug
  EXTRA="disk = [ 'format=raw,vdev=xvda,access=rw,target=/dev/loop1' ]
vif = [ 'bridge=xenbr0,type=vif,mac=00:16:3e:99:00:04' ]"
  start_guest $n $GUEST "scenario=xenbus-hotplug" || return
  xs_wait "$BASE/listed" $STEP_TIMEOUT >/dev/null || { RES="FAIL guest never wrote listed"; return; }
  if ! timeout 60 xl block-attach $n 'format=raw,vdev=xvdb,access=rw,target=/dev/loop2' >/tmp/attach.log 2>&1; then
    RES="FAIL xl block-attach: $(tail -2 /tmp/attach.log | tr '\n' ' ')"
    return
  fi
  # xvdb is virtual device 51728 (202 << 8 | 16).
  id=51728
  saw=$(xs_wait "$BASE/saw-attach" $STEP_TIMEOUT) || { RES="FAIL guest did not see the attach within ${STEP_TIMEOUT}s"; return; }
  [ "$saw" = "$id" ] || { RES="FAIL guest saw-attach=$saw, expected $id"; return; }
  xl block-list $n
  t0=$(now)
  # -vvv: libxl logs at debug level when its wait for the backend's Closed times out and it
  # removes the device by force (the command still succeeds then).
  if ! timeout 60 xl -vvv block-detach $n xvdb >/tmp/detach.log 2>&1; then
    RES="FAIL xl block-detach: $(tail -2 /tmp/detach.log | tr '\n' ' ')"
    return
  fi
  took=$(awk "BEGIN {print $(now) - $t0}")
  note "xl block-detach took ${took}s"
  # libxl gives up on a backend that does not close and removes the device by force: that is
  # a frontend that did not answer the close handshake.
  if grep -qiE 'timeout reached|forced remove|timed out' /tmp/detach.log; then
    RES="FAIL xl block-detach hit the toolstack's timeout (${took}s): $(grep -iE 'timeout|forced' /tmp/detach.log | head -3 | tr '\n' ' ')"
    return
  fi
  saw=$(xs_wait "$BASE/saw-detach" $STEP_TIMEOUT) || { RES="FAIL guest did not see the detach within ${STEP_TIMEOUT}s"; return; }
  [ "$saw" = "$id" ] || { RES="FAIL guest saw-detach=$saw, expected $id"; return; }
  guest_result $n || return
  RES=PASS
}

# shutdown_once MODE CODE: xl MODE the guest; it must go away with shutdown reason CODE.
shutdown_once() {
  new_guest shutdown
  cmdline="scenario=shutdown"
  [ "$1" = reboot ] && cmdline="scenario=shutdown mode=reboot"
  start_guest $n $GUEST "$cmdline" || return 1
  xs_wait "$BASE/watching" $STEP_TIMEOUT >/dev/null || { RES="FAIL ($1) guest never wrote watching"; return 1; }
  if ! timeout 30 xl "$1" $n >/tmp/xl-$1.log 2>&1; then
    RES="FAIL xl $1: $(tail -2 /tmp/xl-$1.log | tr '\n' ' ')"
    return 1
  fi
  # xl's monitor logs the reason, then destroys the domain (on_poweroff/on_reboot = destroy).
  wait_for $STEP_TIMEOUT xl_reason $n || { RES="FAIL ($1) no shutdown of the guest ${STEP_TIMEOUT}s after xl $1"; return 1; }
  wait_for $STEP_TIMEOUT guest_gone $n || { RES="FAIL ($1) guest not gone ${STEP_TIMEOUT}s after it shut down"; return 1; }
  # The device model has exited: its serial log is complete.
  if has_line $n 'TESTBED-GUEST: FAIL'; then
    RES="FAIL ($1) guest reported: $(serial $n | grep -a 'TESTBED-GUEST: FAIL' | tail -1 | sed 's/.*TESTBED-GUEST: //')"
    return 1
  fi
  want=poweroff
  [ "$1" = reboot ] && want=reboot
  expect_fact $n shutdown-request $want || return 1
  code=$(shutdown_reason $n)
  [ "$code" = "$2" ] || { RES="FAIL ($1) domain shut down with reason code '${code}', expected $2"; return 1; }
  return 0
}

scn_shutdown() {
  need_guest || return
  shutdown_once shutdown 0 || return
  shutdown_once reboot 1 || return
  RES=PASS
}

# Not in the default set: checks the harness's retry on an emulator fault. The first attempt's
# guest is crashed on purpose with xen-hvmcrash (a triple fault); the retry must pass.
scn_retry_check() {
  need_guest || return
  new_guest retry-check
  # The shutdown scenario's guest waits for dom0: it is alive when crashed.
  start_guest $n $GUEST "scenario=shutdown" || return
  xs_wait "$BASE/watching" $STEP_TIMEOUT >/dev/null || { RES="FAIL guest never wrote watching"; return; }
  if [ "$attempt" = 1 ]; then
    xen-hvmcrash "$DOMID" >/dev/null 2>&1
    wait_for $STEP_TIMEOUT guest_gone $n
    RES="FAIL guest crashed on purpose by xen-hvmcrash"
    return
  fi
  xl shutdown $n >/dev/null 2>&1
  wait_for $STEP_TIMEOUT xl_reason $n || { RES="FAIL no shutdown after xl shutdown"; return; }
  wait_for $STEP_TIMEOUT guest_gone $n || { RES="FAIL guest not gone after it shut down"; return; }
  [ "$(shutdown_reason $n)" = 0 ] || { RES="FAIL shutdown reason '$(shutdown_reason $n)'"; return; }
  RES=PASS
}

### Runner

dump() { # SCENARIO: the logs of every guest of the failed attempt
  say "DUMP-BEGIN $1"
  for g in $(cat /tmp/attempt-guests 2>/dev/null); do
    echo "--- guest $g: serial ($LOG/$g-serial.log), last 40 lines"
    tail -40 "$LOG/$g-serial.log" 2>/dev/null
    for f in "$LOG/xl-$g.log" "$LOG/qemu-dm-$g.log" "$LOG/xl-create-$g.log"; do
      [ -f "$f" ] || continue
      echo "--- $f, last 25 lines"
      tail -25 "$f"
    done
  done
  echo "--- xl dmesg, last 40 lines"
  xl dmesg 2>/dev/null | tail -40
  if [ -f "$LOG/hotplug.log" ]; then
    echo "--- $LOG/hotplug.log, last 25 lines"
    tail -25 "$LOG/hotplug.log"
  fi
  echo "--- xl list and dom0 processes at the failure"
  cat /tmp/snapshot 2>/dev/null
  say "DUMP-END $1"
}

# Loop devices for the guests' disks: 0 Linux reference, 1-2 hot-plug, 3 unplug (emulated IDE).
for i in 0 1 2 3; do
  dd if=/dev/zero of=/tmp/disk$i.img bs=1M count=16 2>/dev/null
  losetup /dev/loop$i /tmp/disk$i.img || say "NOTE losetup /dev/loop$i failed"
done

REPEAT=${TESTBED_REPEAT:-1}
case "$REPEAT" in '' | *[!0-9]* | 0) REPEAT=1 ;; esac
note "slowness factor $SLOW: a guest run is bounded by ${GUEST_TIMEOUT}s, a handshake step by ${STEP_TIMEOUT}s; $REPEAT round(s)"
while [ "$ROUND" -le "$REPEAT" ]; do
  [ "$REPEAT" -gt 1 ] && say "RUN $ROUND of $REPEAT"
  for s in "$@"; do
    fn=scn_$(echo "$s" | tr '-' '_')
    if ! type "$fn" >/dev/null 2>&1; then
      say "FAIL $s: unknown scenario"
      continue
    fi
    attempt=1
    while :; do
      say "BEGIN $s attempt $attempt"
      : >/tmp/attempt-guests
      before=$(faults)
      started=$(now)
      RES="FAIL scenario set no result"
      $fn
      if [ "${RES%% *}" = FAIL ]; then
        # State for the failure dump, taken before the guests are destroyed.
        {
          xl list
          top -b -n 1 | head -14
          for g in $(cat /tmp/attempt-guests); do
            d=$(rec "$g" domid)
            [ -n "$d" ] && xl list "$d" >/dev/null 2>&1 || continue
            echo "--- xenctx $d ($g, registers of its vCPU 0)"
            timeout 10 xenctx "$d" 0 2>&1 | head -24
          done
        } >/tmp/snapshot 2>&1
      fi
      # Every guest of the attempt is gone before the next one starts (or the attempt fails).
      for g in $(cat /tmp/attempt-guests); do
        if ! stop_guest "$g" && [ "${RES%% *}" != FAIL ]; then
          RES="FAIL guest $g (domain $(rec "$g" domid)) still exists ${STEP_TIMEOUT}s after xl destroy"
        fi
      done
      after=$(faults)
      if [ "${RES%% *}" = FAIL ] && [ "$after" -gt "$before" ]; then
        why=$(xl dmesg | grep -E 'Triple fault|Insn mismatch' | tail -1)
        if [ "$attempt" -lt "$ATTEMPTS" ]; then
          say "RETRY $s attempt $attempt: emulator fault ($why); scenario said: ${RES#FAIL }"
          attempt=$((attempt + 1))
          continue
        fi
        RES="$RES (emulator fault in each of $attempt attempts: $why)"
      fi
      break
    done
    took=$(awk "BEGIN {print $(now) - $started}")
    case "$RES" in
    PASS) say "PASS $s (${took}s, attempt $attempt)" ;;
    NOTRUN*) say "NOTRUN $s: ${RES#NOTRUN }" ;;
    *)
      dump "$s"
      say "FAIL $s: ${RES#FAIL } (${took}s, attempt $attempt)"
      ;;
    esac
  done
  ROUND=$((ROUND + 1))
done
