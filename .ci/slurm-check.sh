#!/usr/bin/env bash
# The Slurm job array, for real. Starts a one-node Slurm cluster on this machine
# (munged, slurmctld and slurmd, with a minimal slurm.conf for localhost and process
# tracking that needs no cgroups), submits scripts/slurm/reproduce.sbatch as a 3-task
# array with the tiny preset, waits for it, and checks that the records of its three
# shards are those of an unsharded run of the same plan: the same runs, with the same
# PSNRs, losses and histories bit for bit (`dip results --merge … --compare …`). The
# daemons, the munge key, the configuration and the results live in one temporary
# folder; whatever the script started is stopped, and the folder removed, on every exit.
#
#   .ci/slurm-check.sh
#
# Environment: DIP, the dip binary (default: `cargo build`'s, in $CARGO_TARGET_DIR or
# target/; DIP_PROFILE=release: `cargo build --release`'s); DIP_DATA, the standard images (default ../shared/data); SLURM_CHECK_PORT,
# slurmctld's port (default 6817; slurmd takes the next). Installs Debian's Slurm
# (slurm-wlm, munge; `apt-get`, as root) when sbatch or munged is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export DIP_DATA="${DIP_DATA:-$(cd .. && pwd)/shared/data}"
# The plan: Table 1 and denoising of the tiny preset (20 runs, seconds), 3 shards.
plan=(--preset tiny --only table1,denoising --device cpu)
shards=3
# One CPU per task: two tasks at once on a 2-core machine. A CPU fit with one thread
# differs in the last bits from one with two or more, so the unsharded run gets one too.
cpus_per_task=1

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
start=$(now)

echo "== Slurm and munge (Debian's slurm-wlm, munge)"
t=$(now)
if ! command -v sbatch >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  apt-get update >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null
fi
echo "   $(slurmctld -V), $(munged --version | head -n 1) ($(since "$t"))"

echo "== dip"
t=$(now)
if [ -z "${DIP:-}" ]; then
  # The profile the tests already built (dev, optimised in Cargo.toml), unless DIP_PROFILE says.
  profile=${DIP_PROFILE:-debug}
  if [ "$profile" = release ]; then cargo build --quiet --release --bin dip; else cargo build --quiet --bin dip; fi
  DIP="${CARGO_TARGET_DIR:-target}/$profile/dip"
fi
DIP=$(realpath "$DIP")
export DIP
echo "   $DIP ($(since "$t"))"

tmp=$(mktemp -d /tmp/dip-slurm-check.XXXXXX)
pids=()
# Cancel our cluster's jobs, stop the daemons we started, remove the folder.
stop_all() {
  local status=$?
  set +e
  if [ -n "${SLURM_CONF:-}" ] && [ "${#pids[@]}" -ge 3 ]; then
    squeue -h -o %A 2>/dev/null | sort -u | xargs -r scancel 2>/dev/null
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null
    wait "${pids[i]}" 2>/dev/null
  done
  if [ "$status" -ne 0 ]; then
    for log in "$tmp"/*.log "$tmp"/*.out "$tmp"/logs/*; do
      [ -f "$log" ] && { echo "--- $log"; tail -n 20 "$log"; }
    done
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Wait up to $1 seconds for the command that follows to succeed.
wait_until() {
  local limit=$1
  shift
  local deadline=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "slurm-check: timed out waiting for: $*" >&2; return 1; }
    sleep 0.2
  done
}
node_idle() { sinfo -h -N -o %T | grep -qx idle; }

echo "== a one-node cluster in $tmp: munged, slurmctld, slurmd"
t=$(now)
host=$(hostname -s)
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool" "$tmp/logs"
# munged wants its socket's folders searchable by all (and not writable by others).
chmod 755 "$tmp" "$tmp/munge"
# A key of our own, for a munged of our own (on its own socket).
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$tmp/munge/munge.key"
socket="$tmp/munge/munge.socket"
munged --foreground --socket="$socket" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/munge/munged.pid" --seed-file="$tmp/munge/munged.seed" \
  --log-file="$tmp/munged.log" >"$tmp/munged.out" 2>&1 &
pids+=($!)
wait_until 20 test -S "$socket"

port=${SLURM_CHECK_PORT:-6817}
memory=$(awk '/^MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
cat >"$tmp/slurm.conf" <<EOF
ClusterName=dipcheck
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$tmp/slurm.conf"
slurmctld -D -f "$SLURM_CONF" >"$tmp/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$tmp/slurmd.out" 2>&1 &
pids+=($!)
wait_until 60 node_idle
sinfo
echo "   up in $(since "$t")"

echo "== the array: sbatch --array=0-$((shards - 1)) scripts/slurm/reproduce.sbatch $shards ${plan[*]}"
t=$(now)
export DIP_RESULTS="$tmp/sharded"
sbatch --wait --array=0-$((shards - 1)) --cpus-per-task="$cpus_per_task" --mem=200M --time=10 \
  --output="$tmp/logs/%A_%a.out" --chdir="$tmp" \
  scripts/slurm/reproduce.sbatch "$shards" "${plan[@]}"
array_time=$(since "$t")
# When the tasks wrote their first and last records, from the submission (sbatch --wait
# itself only looks every few seconds).
records=$(find "$tmp/sharded" -name '*.json' -printf '%T@\n' | sort -n | awk -v t="$t" \
  'NR == 1 { first = $1 } { last = $1 } END { printf "first record after %.1f s, last after %.1f s", first - t, last - t }')
for i in $(seq 0 $((shards - 1))); do
  log=$(ls "$tmp"/logs/*_"$i".out)
  grep -q "task $i (of $shards): shard $i/$shards" "$log" || { echo "slurm-check: task $i did not run shard $i/$shards" >&2; cat "$log" >&2; exit 1; }
  sed -e 's/^/   /' "$log" | grep -E "array job|shard|finished"
done
echo "   the array: $array_time from sbatch to its end ($records)"

echo "== the same plan unsharded: RAYON_NUM_THREADS=$cpus_per_task dip reproduce ${plan[*]}"
t=$(now)
RAYON_NUM_THREADS=$cpus_per_task "$DIP" reproduce "${plan[@]}" --quiet --results "$tmp/whole" | tail -n 1
whole_time=$(since "$t")
echo "   unsharded: $whole_time"

echo "== the shards' records against the unsharded run's"
"$DIP" results --merge "$tmp/sharded" --compare "$tmp/whole"
"$DIP" results --results "$tmp/sharded" --tables >/dev/null

echo "Slurm check: ok (array $array_time, unsharded $whole_time; $(since "$start") in all)"
