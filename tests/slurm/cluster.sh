#!/usr/bin/env bash
# Start or stop a throw-away single-node SLURM cluster (controller + compute node on this host)
# for tests/test_slurm.py and CI.  Facts and settings: ../shared/spec/slurm.md.
#
#   tests/slurm/cluster.sh up   STATE_DIR   install (if missing), configure, start, wait until idle
#   tests/slurm/cluster.sh down STATE_DIR   cancel jobs, stop the daemons recorded in STATE_DIR
#
# Needs root and apt-get (Debian/Ubuntu).  Without systemd: every daemon runs in the foreground,
# backgrounded here, and its PID is written to STATE_DIR/<daemon>.pid.  `down` signals only
# those recorded PIDs (never processes found by name).  Daemon logs stay in STATE_DIR/log/.
#
# Exit status: 0 ok, 1 the cluster did not come up (logs printed), 2 usage, 3 cannot install
# the packages (no apt-get or apt-get failed), 4 not root.  tests/test_slurm.py skips on 3 and 4
# outside CI.
#
# Environment knobs:
#   SLURM_CI_PARTITION   partition name (default: debug)
#   SLURM_CI_TIMEOUT     seconds to wait for each readiness step (default: 60)
#
# Side effects outside STATE_DIR: apt packages, /etc/slurm/slurm.conf and gres.conf (a config
# not written by this script is first saved as slurm.conf.bak.<epoch>), /etc/munge/munge.key
# (created once, reused afterwards), /run/munge.
set -euo pipefail
# The daemons live in sbin, which a minimal PATH (cron, CI runners) may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

readonly MARKER="# Written by valuegraph tests/slurm/cluster.sh"
readonly PARTITION="${SLURM_CI_PARTITION:-debug}"
readonly TIMEOUT="${SLURM_CI_TIMEOUT:-60}"
readonly PACKAGES=(slurmctld slurmd slurm-client munge)
readonly MUNGE_KEY=/etc/munge/munge.key
readonly SLURM_ETC=/etc/slurm
# Stop order for `down`; `up` starts them in reverse.
readonly DAEMONS=(slurmd slurmctld munged)

log() { printf '[cluster.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}
# die_with CODE MESSAGE
die_with() {
    log "ERROR: $2"
    exit "$1"
}

usage() {
    echo "usage: $0 {up|down} STATE_DIR" >&2
    exit 2
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# PID bookkeeping

pid_file() { echo "$STATE_DIR/$1.pid"; }

is_zombie() { [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]; }

# Print the recorded PID of daemon $1 if that process is still alive *and* still is that daemon
# (guards against PID reuse after a reboot or a crash); print nothing otherwise.  A zombie (a
# daemon that exited, not yet reaped by init) counts as dead.
live_pid() {
    local name=$1 file pid comm
    file=$(pid_file "$name")
    [[ -s $file ]] || return 0
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 0
    [[ $comm == "$name" ]] && ! is_zombie "$pid" && echo "$pid"
    return 0
}

print_logs() {
    local d f
    # <daemon>.log: its own log; <daemon>.out: its stdout/stderr, which has the errors from
    # before the log file opened (and, in the foreground, a copy of the log).
    for d in munged slurmctld slurmd; do
        f=$STATE_DIR/log/$d.log
        [[ -s $f ]] || f=$STATE_DIR/log/$d.out
        [[ -s $f ]] || continue
        echo "===== $f (last 40 lines) =====" >&2
        tail -n 40 "$f" >&2 || true
    done
}

fail_with_logs() {
    log "ERROR: $*"
    print_logs
    log "stopping what was started (logs kept in $STATE_DIR/log)"
    cmd_down || true
    exit 1
}

# Wait until the probe "$@" succeeds, at most $TIMEOUT s.  While waiting, make sure the daemons
# started so far are still alive, so that a crash is reported at once with its log.
wait_for() {
    local what=$1
    shift
    local start deadline d pid
    start=$(now)
    deadline=$((SECONDS + TIMEOUT))
    until "$@"; do
        for d in "${STARTED[@]}"; do
            # Not live_pid: just after the start, munged's PID may still be setpriv's.
            pid=$(<"$(pid_file "$d")")
            if [[ ! -d /proc/$pid ]] || is_zombie "$pid"; then
                fail_with_logs "$d exited while waiting for: $what"
            fi
        done
        ((SECONDS < deadline)) || fail_with_logs "timed out after ${TIMEOUT}s waiting for: $what"
        sleep 0.5
    done
    log "ready: $what ($(elapsed "$start") s)"
}

# ---------------------------------------------------------------------------------------------
# up

require_root() {
    [[ $(id -u) -eq 0 ]] || die_with 4 "must run as root (apt-get and the SLURM daemons need it)"
}

install_packages() {
    local missing=() p
    for p in slurmctld slurmd sbatch munged; do
        command -v "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "packages present ($(slurmctld -V))"
        return
    fi
    command -v apt-get >/dev/null 2>&1 || die_with 3 "missing ${missing[*]} and no apt-get to install them"
    log "installing ${PACKAGES[*]} (missing: ${missing[*]})"
    local start policy_added=0
    start=$(now)
    # Keep the packages' init scripts from starting daemons we would not know the PIDs of.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${PACKAGES[@]}" >/dev/null
    } || rc=$?
    ((policy_added)) && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || die_with 3 "apt-get failed (exit $rc) installing ${PACKAGES[*]}"
    log "installed in $(elapsed "$start") s ($(slurmctld -V))"
}

refuse_foreign_daemons() {
    # A daemon we did not start (an earlier run whose STATE_DIR is gone, or a real cluster)
    # would hold the ports or the munge socket.  Report it instead of touching it.
    local d p pids
    for d in "${DAEMONS[@]}"; do
        pids=()
        for p in $(pgrep -x "$d" || true); do
            is_zombie "$p" || pids+=("$p")
        done
        if [[ ${#pids[@]} -gt 0 ]]; then
            die "a $d not started from $STATE_DIR is already running (PID(s): ${pids[*]}); stop it first (e.g. with '$0 down' on the STATE_DIR that started it)"
        fi
    done
}

prepare_dirs() {
    mkdir -p "$STATE_DIR"/{ctld,spool,log,run}
    # pytest and mktemp create 0700 directories; the slurm user must reach its state and logs.
    chmod 755 "$STATE_DIR"
    chown slurm:slurm "$STATE_DIR"/ctld "$STATE_DIR"/log "$STATE_DIR"/run
    if ! setpriv --reuid=slurm --regid=slurm --clear-groups test -w "$STATE_DIR/ctld"; then
        die "user slurm cannot write $STATE_DIR/ctld: a parent directory of $STATE_DIR is not world-searchable (chmod o+x it, or use another STATE_DIR)"
    fi
}

write_munge_key() {
    if [[ ! -s $MUNGE_KEY ]]; then
        log "creating $MUNGE_KEY"
        install -d -o munge -g munge -m 0700 /etc/munge
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
}

real_memory_mb() {
    # 90 % of what slurmd detects (fall back to /proc/meminfo).
    local mb
    mb=$(slurmd -C 2>/dev/null | tr ' ' '\n' | sed -n 's/^RealMemory=//p' | head -n1)
    if [[ ! $mb =~ ^[0-9]+$ ]]; then
        mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    fi
    echo $((mb * 9 / 10))
}

write_slurm_conf() {
    local host cpus mem conf=$SLURM_ETC/slurm.conf
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(real_memory_mb)
    mkdir -p "$SLURM_ETC"
    local f
    for f in "$conf" "$SLURM_ETC/gres.conf"; do
        if [[ -e $f ]] && ! grep -qxF "$MARKER" "$f"; then
            log "saving the existing $f (not written by this script) as $f.bak.$(date +%s)"
            cp -p "$f" "$f.bak.$(date +%s)"
        fi
    done
    cat >"$conf" <<CONF
$MARKER
# Single-node test cluster; see ../shared/spec/slurm.md.  Rewritten by every 'up'.
ClusterName=ci
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
# Finished jobs must stay visible to 'squeue' polling (the plugin's status command here).
MinJobAge=300
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
ReturnToService=2
InactiveLimit=0
KillWait=5
Waittime=0
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    # A fake GPU: slurmd drops a GPU entry without File= ("Removing file-less GPU").
    cat >"$SLURM_ETC/gres.conf" <<CONF
$MARKER
NodeName=$host Name=gpu Count=1 File=/dev/null
CONF
    chmod 644 "$conf" "$SLURM_ETC/gres.conf"
    log "wrote $conf (node $host, CPUs=$cpus, RealMemory=$mem, partition $PARTITION, gres gpu:1)"
}

# start NAME CMD...: run CMD in the background, logging to STATE_DIR/log/NAME.out, record its PID.
start() {
    local name=$1
    shift
    "$@" >"$STATE_DIR/log/$name.out" 2>&1 </dev/null &
    echo $! >"$(pid_file "$name")"
    STARTED+=("$name")
    log "started $name (PID $!)"
}

# Readiness probes: quiet, except node_idle reporting a broken node.
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
ctld_up() { scontrol ping 2>/dev/null | grep -q UP; }
node_state() { sinfo -h -o %t 2>/dev/null | head -n1; }
node_idle() {
    local s
    s=$(node_state)
    case $s in
    idle) return 0 ;;
    inval* | drain* | drng* | fail*)
        scontrol show node >&2 || true
        fail_with_logs "node state is '$s' (see Reason= above)"
        ;;
    esac
    return 1
}

cmd_up() {
    require_root
    local t0
    t0=$(now)
    mkdir -p "$STATE_DIR"
    STATE_DIR=$(cd "$STATE_DIR" && pwd)

    local d all_alive=1
    for d in "${DAEMONS[@]}"; do
        [[ -n $(live_pid "$d") ]] || all_alive=0
    done
    if ((all_alive)) && command -v sinfo >/dev/null && [[ $(node_state) == idle || $(node_state) == mix || $(node_state) == alloc ]]; then
        log "already up (daemons recorded in $STATE_DIR are running)"
        return 0
    fi
    # Partly up from an earlier attempt: stop what this STATE_DIR recorded, then start afresh.
    cmd_down

    install_packages
    id slurm >/dev/null 2>&1 || die "user 'slurm' missing after installing the packages"
    id munge >/dev/null 2>&1 || die "user 'munge' missing after installing the packages"
    refuse_foreign_daemons
    prepare_dirs
    write_munge_key
    write_slurm_conf
    rm -f "$STATE_DIR"/log/*.log "$STATE_DIR"/log/*.out
    # The log directory belongs to slurm; munged (user munge) gets its own file in it.
    install -o munge -g munge -m 0640 /dev/null "$STATE_DIR/log/munged.log"

    # setpriv execs munged, so $! is munged's own PID (runuser would fork).
    start munged setpriv --reuid=munge --regid=munge --init-groups \
        munged --foreground --log-file="$STATE_DIR/log/munged.log"
    wait_for "munge credential round trip" munge_ok

    start slurmctld slurmctld -D -i
    wait_for "slurmctld answers 'scontrol ping'" ctld_up

    start slurmd slurmd -D
    wait_for "node idle in sinfo" node_idle

    log "cluster up in $(elapsed "$t0") s; partition '$PARTITION'; logs in $STATE_DIR/log"
}

# ---------------------------------------------------------------------------------------------
# down

stop_pid() {
    local name=$1 pid
    pid=$(live_pid "$name")
    if [[ -z $pid ]]; then
        rm -f "$(pid_file "$name")"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        if [[ ! -d /proc/$pid ]] || is_zombie "$pid"; then break; fi
        sleep 0.1
    done
    if [[ -d /proc/$pid ]] && ! is_zombie "$pid"; then
        log "$name (PID $pid) ignored TERM for 10 s; sending KILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(pid_file "$name")"
    log "stopped $name (PID $pid)"
}

cancel_jobs() {
    [[ -n $(live_pid slurmctld) ]] || return 0
    local jobs
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
    [[ -n ${jobs// /} ]] || return 0
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    timeout 10 scancel $jobs 2>/dev/null || true
    local i
    for ((i = 0; i < 20; i++)); do
        [[ -z $(timeout 5 squeue -h -o %A 2>/dev/null) ]] && return 0
        sleep 0.5
    done
    log "jobs still listed after scancel; stopping the daemons anyway"
}

cmd_down() {
    local t0 d
    t0=$(now)
    [[ -d $STATE_DIR ]] || return 0
    cancel_jobs
    for d in "${DAEMONS[@]}"; do
        stop_pid "$d"
    done
    log "down in $(elapsed "$t0") s"
}

# ---------------------------------------------------------------------------------------------

[[ $# -eq 2 ]] || usage
STATE_DIR=$2
STARTED=()
case $1 in
up) cmd_up ;;
down)
    STATE_DIR=$(cd "$STATE_DIR" 2>/dev/null && pwd) || {
        log "no state directory $2; nothing to stop"
        exit 0
    }
    cmd_down
    ;;
*) usage ;;
esac
