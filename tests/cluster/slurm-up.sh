#!/usr/bin/env bash
# Start a throw-away SLURM cluster on this host for the tests: munged, slurmctld and
# $SLURM_NODES slurmd "nodes" (n1, n2, ...) as plain daemons (no systemd needed).
# Needs root and Debian's packages (installed here if missing). Stop it with slurm-down.sh.
#
# env: SLURM_NODES (default 2), SLURM_BASE (default /tmp/slurm-test)
# Exit codes: 0 up and idle; 69 could not start; 77 not root / no apt (caller should skip).
set -euo pipefail
NODES=${SLURM_NODES:-2}
BASE=${SLURM_BASE:-/tmp/slurm-test}
HOST=$(hostname -s)
MARK="# written by snakemake-majora tests/cluster/slurm-up.sh"
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" != 0 ]; then echo "slurm-up: needs root (to install and run slurmctld/slurmd/munged)" >&2; exit 77; fi
if [ -e /etc/slurm/slurm.conf ] && ! grep -qF "$MARK" /etc/slurm/slurm.conf; then
  echo "slurm-up: /etc/slurm/slurm.conf exists and is not ours; refusing to touch a real cluster" >&2; exit 77
fi

pkgs="slurmctld slurmd slurm-client munge"
if ! dpkg -s $pkgs >/dev/null 2>&1; then
  command -v apt-get >/dev/null || { echo "slurm-up: no apt-get; install $pkgs by hand" >&2; exit 77; }
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

# A previous run that was killed may have left daemons: stop them first.
"$(dirname "$0")/slurm-down.sh" >/dev/null 2>&1 || true
# Every directory with an explicit mode and owner, whatever the caller's umask (a test runner may run
# with 077), and an existing one with a wrong mode (left by an earlier run) is repaired: munged refuses a
# socket directory that others cannot search, and slurmd needs to reach its spool.
rm -rf "$BASE"
install -d -m 0755 "$BASE" "$BASE"/{state,spool,log,run}
install -d -m 0755 -o munge -g munge /run/munge
install -d -m 0700 -o munge -g munge /etc/munge /var/lib/munge /var/log/munge
[ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
if ! { [ -s /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; }; then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$BASE/run/munged.pid"   # only ours is stopped by slurm-down.sh
fi

{
echo "$MARK"
cat <<CONF
ClusterName=ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=3600
DefMemPerCPU=100
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool/%n
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd-%n.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd-%n.log
SlurmdParameters=config_overrides
CONF
for i in $(seq 1 "$NODES"); do
  echo "NodeName=n$i NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$((17000+i)) CPUs=2 RealMemory=2000 State=UNKNOWN"
done
echo "PartitionName=debug Nodes=n[1-$NODES] Default=YES MaxTime=INFINITE State=UP"
} > /etc/slurm/slurm.conf

/usr/sbin/slurmctld
for i in $(seq 1 "$NODES"); do /usr/sbin/slurmd -N "n$i"; done
for _ in $(seq 1 120); do
  [ "$(sinfo -h -o '%t' 2>/dev/null | sort -u)" = "idle" ] && { sinfo; exit 0; }
  sleep 0.25
done
echo "slurm-up: nodes did not become idle within 30 s; see $BASE/log/" >&2
sinfo >&2 || true
exit 69
