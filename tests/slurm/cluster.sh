#!/usr/bin/env bash
# A throw-away single-node SLURM cluster for the tests (and for trying the SLURM profile by hand).
#
#   tests/slurm/cluster.sh start    install SLURM + munge from Debian packages if missing (root, apt),
#                                   write a minimal /etc/slurm/slurm.conf, start munged, slurmctld and
#                                   slurmd, wait until the node is idle
#   tests/slurm/cluster.sh status   sinfo + squeue
#   tests/slurm/cluster.sh stop     cancel its jobs, stop the daemons this script started, remove the
#                                   files it wrote
#
# State, logs and pid files live under $AVGZSL_SLURM_DIR (default /tmp/avgzsl-slurm). The config has to
# be at the default path, /etc/slurm/slurm.conf: the Snakemake job-step plugin drops SLURM_CONF from
# the environment of the `srun` it runs inside each job. A slurm.conf this script did not write is never
# touched (start refuses: that machine has a SLURM of its own). Nothing here is meant for a real cluster.
#
# Exit codes of `start`: 0 ready; 77 SLURM cannot be installed here (not root, no apt-get, apt failed);
# 78 installed but the daemons did not come up (logs printed); anything else is a bug in this script.
set -euo pipefail

DIR="${AVGZSL_SLURM_DIR:-/tmp/avgzsl-slurm}"
CONF=/etc/slurm/slurm.conf
MARKER="# written by tests/slurm/cluster.sh"
PARTITION="${AVGZSL_SLURM_PARTITION:-debug}"
CTLD_PORT="${AVGZSL_SLURMCTLD_PORT:-6817}"
SLURMD_PORT="${AVGZSL_SLURMD_PORT:-6818}"
WAIT_S="${AVGZSL_SLURM_WAIT_S:-90}"
MUNGE_SOCKET_DIR=/run/munge

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
cannot() { log "cannot provide SLURM here: $*"; exit 77; }

have_slurm() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v squeue >/dev/null && command -v munged >/dev/null
}

install() {
    have_slurm && return 0
    [ "$(id -u)" -eq 0 ] || cannot "SLURM is not installed and installing it needs root"
    command -v apt-get >/dev/null || cannot "SLURM is not installed and there is no apt-get"
    log "installing slurm-wlm and munge from the distribution's packages"
    local start=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$DIR/apt.log" 2>&1 || { tail -n 20 "$DIR/apt.log" >&2; cannot "apt-get update failed"; }
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >>"$DIR/apt.log" 2>&1 \
        || { tail -n 20 "$DIR/apt.log" >&2; cannot "apt-get install slurm-wlm munge failed"; }
    have_slurm || cannot "the packages installed but slurmctld/slurmd/sbatch/munged are still missing"
    log "installed in $((SECONDS - start)) s"
}

daemon_failed() {
    log "$*"
    for f in "$DIR"/*.log; do
        [ -f "$f" ] && { echo "==> $f" >&2; tail -n 25 "$f" >&2; }
    done
    exit 78
}

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged is already running; using it"
        return 0
    fi
    id munge >/dev/null 2>&1 || daemon_failed "there is no munge user (the munge package creates it)"
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null; then mungekey --create --force; else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key && chmod 700 /etc/munge && chmod 400 /etc/munge/munge.key
    mkdir -p "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge
    chown munge:munge "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge
    chmod 755 "$MUNGE_SOCKET_DIR"
    runuser -u munge -- munged --force >"$DIR/munged.log" 2>&1 || daemon_failed "munged did not start"
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.1
    done
    munge -n </dev/null | unmunge >/dev/null 2>&1 || daemon_failed "munge cannot encode/decode a credential"
    cat "$MUNGE_SOCKET_DIR/munged.pid" >"$DIR/munged.started-here"
}

write_conf() {
    local node
    # `slurmd -C` prints this machine's NodeName=... CPUs=... RealMemory=... line (plus an UpTime line)
    node="$(slurmd -C | grep '^NodeName=')" || daemon_failed "slurmd -C printed no node line"
    local name="${node%% *}"
    name="${name#NodeName=}"
    mkdir -p "$DIR/state" "$DIR/spool" "$(dirname "$CONF")"
    if [ -e "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
        daemon_failed "$CONF exists and was not written by this script: not replacing this machine's SLURM config"
    fi
    cat >"$CONF" <<EOF
$MARKER (state in $DIR): one node, one partition, no accounting
ClusterName=avgzsl-test
SlurmctldHost=$name(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# finished jobs stay visible to squeue this long (the Snakemake plugin's squeue status query needs
# MinJobAge >= 3 x its first status-check delay)
MinJobAge=300
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$name Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() { sinfo -h -o '%T' 2>/dev/null | head -n 1; }

cmd_start() {
    mkdir -p "$DIR"
    install
    if [ -f "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
        log "a cluster from this script is already running in $DIR"
    else
        [ "$(id -u)" -eq 0 ] || cannot "starting slurmctld/slurmd/munged needs root"
        local start=$SECONDS
        start_munge
        write_conf
        slurmctld >>"$DIR/slurmctld.log" 2>&1 || daemon_failed "slurmctld did not start"
        slurmd >>"$DIR/slurmd.log" 2>&1 || daemon_failed "slurmd did not start"
        local state=""
        for _ in $(seq $((WAIT_S * 2))); do
            state="$(node_state)"
            [ "$state" = idle ] && break
            sleep 0.5
        done
        [ "$state" = idle ] || daemon_failed "the node is '${state:-not reported}' after ${WAIT_S} s, not idle"
        log "cluster up in $((SECONDS - start)) s (partition '$PARTITION')"
    fi
    sinfo >&2
}

cmd_status() {
    sinfo
    squeue --states=all
}

stop_pidfile() {  # stop_pidfile FILE NAME: stop the process whose id FILE holds
    local file="$1" name="$2" pid
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name ($pid) ignored SIGTERM; killing it"
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$file"
}

cmd_stop() {
    if [ -f "$DIR/slurmctld.pid" ] && [ -f "$CONF" ] && grep -qF "$MARKER" "$CONF"; then
        scancel --full --quiet --partition "$PARTITION" 2>/dev/null || true
    fi
    stop_pidfile "$DIR/slurmd.pid" slurmd
    stop_pidfile "$DIR/slurmctld.pid" slurmctld
    if [ -f "$DIR/munged.started-here" ]; then
        local pid
        pid="$(cat "$DIR/munged.started-here")"
        echo "$pid" >"$DIR/munged.pid"
        stop_pidfile "$DIR/munged.pid" munged
        rm -f "$DIR/munged.started-here"
    fi
    if [ -f "$CONF" ] && grep -qF "$MARKER" "$CONF"; then rm -f "$CONF"; fi
    case "$DIR" in
        /tmp/*|/var/tmp/*|"${TMPDIR:-/tmp}"/*) rm -rf "$DIR" ;;
        *) log "left $DIR in place (not under a temporary directory)" ;;
    esac
    log "stopped"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
