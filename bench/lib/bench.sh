# shellcheck shell=bash disable=SC2034
# (the variables set here are the suites' to read)
#
# bench.sh - what the benchmark suites share (sourced, never run)
#
# A suite sets "prog" to its name, parses its options, and then calls
#
#	bench_init			temp dir, EXIT trap, root check
#	bench_build			finds BUILD (-b) and the bench tools
#
# after which it may use, in any order:
#
#	pick_port VAR FROM		a free loopback port
#	sink_start [SINK-ARGS...]	aval-sink on SINK_PORT, count file
#	sink_snapshot FILE		aval-sink's -s statistics, now
#	pf_setup SINKPORT PORT [TLSLINES]  a private Postfix instance's files
#	pf_start / pf_stop		start it in a cgroup of its own, stop it
#	aval_start CONF PORT NAME	avald -d in a cgroup of its own
#	aval_stop
#	measure NAME MTA PORT ROOT [LOADGEN-ARGS...]
#					warm-up, load, drain, CPU: R_NAME_*;
#					calls measure_hook start|end NAME
#					around the load (a suite may define it)
#	make_certs DIR			a CA, ECDSA P-256 and RSA-2048 certs
#	pids_cpu_ns PID...		CPU time of a set of processes
#
# Whatever happens, the EXIT trap stops the load generator, avald, the
# private Postfix and the sink (in that order), removes the cgroups and
# deletes the temporary directory (KEEP=1 in the environment keeps it).
# Every wait here is bounded; every socket is on 127.0.0.1.
#
# The functions read these settings, which a suite may change before
# calling them: BUILD, N, C, S, WARMUP, LOAD_LIMIT, DRAIN_LIMIT,
# WARMUP_LIMIT, START_LIMIT, STOP_LIMIT.

BUILD=${BUILD:-build}
LOAD_LIMIT=300		# aval-loadgen -w, seconds
DRAIN_LIMIT=120		# seconds to wait for the sink to have every message
WARMUP_LIMIT=30		# the same for the warm-up messages
START_LIMIT=20		# seconds for an MTA to start listening
STOP_LIMIT=15		# seconds for an MTA to stop

BENCH_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=
SINK_PID=
LOADGEN_PID=
AVALD_PID=
PF_ETC=
PF_QUEUE=
PF_RUNNING=
CGROUPS=()
CG=
CPU_METHOD=
STATUS=0
USED_PORTS=

log() { printf '%s: %s\n' "${prog:?}" "$*" >&2; }
die() { log "$*"; exit 1; }
isnum() { [[ "$1" =~ ^[0-9]+$ ]]; }

# bench_init - root check, temporary directory, clean-up trap
bench_init() {
	[ "$(id -u)" -eq 0 ] ||
	    die "run me as root (Postfix and the cgroups need it)"
	trap bench_cleanup EXIT
	trap 'log interrupted; exit 130' INT TERM
	TMP=$(mktemp -d "/tmp/aval-bench-$prog.XXXXXX") || die "mktemp failed"
	# The MTAs' unprivileged users must be able to reach their
	# directories.
	chmod 755 "$TMP"
}

# bench_build - make BUILD absolute (relative to the current directory
# first, then to the source tree) and check the bench tools are built
bench_build() {
	local t
	if [ -d "$BUILD" ]; then
		BUILD=$(cd "$BUILD" && pwd)
	elif [ -d "$BENCH_SRCDIR/$BUILD" ]; then
		BUILD=$(cd "$BENCH_SRCDIR/$BUILD" && pwd)
	else
		die "no build directory $BUILD (run make, or pass -b)"
	fi
	for t in aval-sink aval-loadgen; do
		[ -x "$BUILD/$t" ] || die "$BUILD/$t missing (run make)"
	done
	for t in ss awk pgrep "$@"; do
		command -v "$t" >/dev/null || die "$t not found"
	done
}

# --- processes and clean-up --------------------------------------------------

# wait_gone PID SECONDS - wait until PID has exited (a zombie counts as gone)
wait_gone() {
	local pid=$1 i state
	for ((i = 0; i < $2 * 10; i++)); do
		[ -r "/proc/$pid/stat" ] || return 0
		state=$(awk '{ sub(/^.*\) /, ""); print $1 }' \
		    "/proc/$pid/stat" 2>/dev/null) || return 0
		[ "$state" = Z ] && return 0
		sleep 0.1
	done
	return 1
}

# stop_pid PID SECONDS - SIGTERM, bounded wait, then SIGKILL
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	if ! wait_gone "$pid" "$2"; then
		log "pid $pid ignored SIGTERM for $2 s, killing it"
		kill -KILL "$pid" 2>/dev/null
		wait_gone "$pid" 5
	fi
	wait "$pid" 2>/dev/null
	return 0
}

# wait_exit PID SECONDS - wait for a child to end by itself (bounded: then
# it is stopped); sets WAIT_RC to its exit status
wait_exit() {
	WAIT_RC=1
	if wait_gone "$1" "$2"; then
		wait "$1"
		WAIT_RC=$?
	else
		log "pid $1 still running after $2 s, stopping it"
		stop_pid "$1" 5
	fi
}

pf_stop() {
	local pid=
	[ -n "$PF_RUNNING" ] || return 0
	[ -r "$PF_QUEUE/pid/master.pid" ] &&
	    pid=$(tr -dc 0-9 < "$PF_QUEUE/pid/master.pid")
	postfix -c "$PF_ETC" stop >/dev/null 2>&1
	if [ -n "$pid" ] && ! wait_gone "$pid" "$STOP_LIMIT"; then
		log "postfix master $pid did not stop, killing it"
		kill -KILL "$pid" 2>/dev/null
	fi
	PF_RUNNING=
}

aval_stop() {
	stop_pid "$AVALD_PID" "$STOP_LIMIT"
	AVALD_PID=
}

bench_cleanup() {
	local cg i
	trap - EXIT INT TERM
	stop_pid "$LOADGEN_PID" 5
	aval_stop
	pf_stop
	stop_pid "$SINK_PID" 5
	# A cgroup can be removed once its last process is gone.
	for cg in "${CGROUPS[@]}"; do
		for ((i = 0; i < 50; i++)); do
			rmdir "$cg" 2>/dev/null && break
			sleep 0.1
		done
		[ -d "$cg" ] && log "could not remove cgroup $cg"
	done
	if [ -n "$TMP" ] && [ -d "$TMP" ]; then
		if [ "${KEEP:-0}" = 1 ]; then
			log "kept $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
}

# --- ports -------------------------------------------------------------------

# port_free PORT - nothing listens on 127.0.0.1:PORT (or on any address)
port_free() {
	[ -z "$(ss -Hltn "( sport = :$1 )" 2>/dev/null)" ]
}

# pick_port VAR FROM - set VAR to the first free port at or above FROM
# that no earlier call picked (at most 100 tried)
pick_port() {
	local p
	for ((p = $2; p < $2 + 100; p++)); do
		if port_free "$p" && [[ " $USED_PORTS " != *" $p "* ]]; then
			USED_PORTS="$USED_PORTS $p"
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port in $2..$(($2 + 99))"
}

# wait_port PORT SECONDS [PID] - until something listens (and PID lives)
wait_port() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		port_free "$1" || return 0
		if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# --- CPU accounting ----------------------------------------------------------

# cpu_setup NAME - make a cgroup for one MTA; sets CG and CPU_METHOD.
# BENCH_CPU (or, as before, COMPARE_CPU) = v1, v2 or proc in the
# environment forces one method (for testing the fallbacks).
cpu_setup() {
	local v2 force=${BENCH_CPU:-${COMPARE_CPU:-}} name=aval-bench.$$.$1
	CG=
	if [[ -z "$force" || "$force" = v1 ]] &&
	    [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ] &&
	    mkdir "/sys/fs/cgroup/cpuacct/$name" 2>/dev/null; then
		CG=/sys/fs/cgroup/cpuacct/$name
		CGROUPS+=("$CG")
		CPU_METHOD="cgroup v1 cpuacct (cpuacct.usage)"
		return
	fi
	for v2 in /sys/fs/cgroup/unified /sys/fs/cgroup; do
		[[ -z "$force" || "$force" = v2 ]] || break
		[ "$(stat -f -c %T "$v2" 2>/dev/null)" = cgroup2fs ] || continue
		if mkdir "$v2/$name" 2>/dev/null; then
			if [ -r "$v2/$name/cpu.stat" ]; then
				CG=$v2/$name
				CGROUPS+=("$CG")
				CPU_METHOD="cgroup v2 (cpu.stat usage_usec)"
				return
			fi
			rmdir "$v2/$name"
		fi
	done
	CPU_METHOD="/proc utime+stime+cutime+cstime of the MTA's process tree"
}

# sh -c "$CG_EXEC_SCRIPT" "$CG" CMD... runs CMD inside the cgroup CG (none
# when CG is empty): the shell moves itself there, then becomes CMD, so CMD
# and everything it forks are counted, and "sh -c ... &" leaves CMD's own
# pid in $!.
# shellcheck disable=SC2016
CG_EXEC_SCRIPT='[ -z "$0" ] || echo $$ > "$0/cgroup.procs" || exit 126
exec "$@"'

# proc_tree_ns ROOTPID - CPU nanoseconds of ROOTPID and its descendants
proc_tree_ns() {
	local hz f
	hz=$(getconf CLK_TCK)
	# /proc/PID/stat: field 2 may hold spaces, so cut after the last ')'.
	for f in /proc/[0-9]*/stat; do
		sed -n 's/^\([0-9]*\) .*) [A-Za-z] \(.*\)$/\1 \2/p' "$f" \
		    2>/dev/null
	done | awk -v root="$1" -v hz="$hz" '
	    { ppid[$1] = $2; t[$1] = $12 + $13 + $14 + $15 }
	    END {
		for (p in ppid) {
			q = p
			for (i = 0; i < 64 && q != "" && q != root &&
			    q > 1; i++)
				q = ppid[q]
			if (q == root)
				sum += t[p]
		}
		printf "%.0f\n", sum * 1e9 / hz
	    }'
}

# cpu_read ROOTPID - CPU nanoseconds used so far by the current MTA
cpu_read() {
	case $CPU_METHOD in
	"cgroup v1"*)
		cat "$CG/cpuacct.usage" ;;
	"cgroup v2"*)
		awk '$1 == "usage_usec" { printf "%.0f\n", $2 * 1000 }' \
		    "$CG/cpu.stat" ;;
	*)
		proc_tree_ns "$1" ;;
	esac
}

# pids_cpu_ns PID... - CPU nanoseconds (utime+stime) of these processes,
# long-lived ones such as aval's workers; clock-tick resolution
pids_cpu_ns() {
	local hz p
	hz=$(getconf CLK_TCK)
	for p in "$@"; do
		sed -n 's/^.*) [A-Za-z] \(.*\)$/\1/p' "/proc/$p/stat" \
		    2>/dev/null
	done | awk -v hz="$hz" '{ sum += $11 + $12 }
	    END { printf "%.0f\n", sum * 1e9 / hz }'
}

# child_pids PARENT COMM - the children of PARENT named COMM, one a line
child_pids() {
	pgrep -P "$1" -x "$2"
}

# --- the sink and the load generator -----------------------------------------

# sink_start [SINK-ARGS...] - aval-sink on a free port from 2526 up
# (SINK_PORT), stamping every message in $TMP/sink.count; the arguments go
# to aval-sink as they are (-T CERT -K KEY for STARTTLS, -s FILE)
sink_start() {
	pick_port SINK_PORT 2526
	"$BUILD/aval-sink" -l "127.0.0.1:$SINK_PORT" -c "$TMP/sink.count" \
	    -t "${SINK_LIMIT:-$((2 * (LOAD_LIMIT + DRAIN_LIMIT) + 600))}" \
	    "$@" 2> "$TMP/sink.log" &
	SINK_PID=$!
	wait_port "$SINK_PORT" 10 "$SINK_PID" ||
	    die "aval-sink did not start: $(tail -1 "$TMP/sink.log")"
	log "sink on 127.0.0.1:$SINK_PORT"
}

# sink_snapshot STATSFILE COPY - have the sink (started with -s STATSFILE)
# write its statistics now (SIGUSR1), wait (at most 5 s) for the new
# snapshot and copy it to COPY; 1 when none came
sink_snapshot() {
	local old new i
	old=$(lg_get "$1" snapshot)
	kill -USR1 "$SINK_PID" 2>/dev/null || return 1
	for ((i = 0; i < 50; i++)); do
		new=$(lg_get "$1" snapshot)
		if [ -n "$new" ] && [ "$new" != "$old" ]; then
			cp "$1" "$2"
			return 0
		fi
		sleep 0.1
	done
	log "aval-sink wrote no statistics to $1"
	return 1
}

# measure_hook start|end NAME - called by measure() just before the load
# (after the warm-up has drained) and just after the drain; a suite that
# wants to read something there defines its own
measure_hook() { :; }

# sink_have PREFIX - "count last-time" of distinct sink tokens from one run
sink_have() {
	awk -v p="$1" '
	    index($3, p) == 1 && !seen[$3]++ { n++; if ($2 > last) last = $2 }
	    END { printf "%d %s\n", n, n ? last : 0 }' "$TMP/sink.count"
}

# sink_wait TOKENFILE SECONDS - wait until the sink holds every token of
# the run that wrote TOKENFILE; prints "count last-time"
sink_wait() {
	local want prefix have i
	want=$(wc -l < "$1")
	if [ "$want" -eq 0 ]; then
		echo "0 0"
		return 0
	fi
	prefix=$(head -1 "$1" | sed 's/[0-9]*$//')
	for ((i = 0; i < $2 * 5; i++)); do
		have=$(sink_have "$prefix")
		[ "${have%% *}" -ge "$want" ] && break
		sleep 0.2
	done
	echo "$have"
	[ "${have%% *}" -ge "$want" ]
}

# lg_get FILE KEY - one value from aval-loadgen's report
lg_get() {
	awk -F': ' -v k="$2" '$1 == k { print $2 }' "$1"
}

# pf_idle - Postfix's incoming, active and maildrop queues are empty (at
# most 10 s)
pf_idle() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ -z "$(find "$PF_QUEUE/incoming" "$PF_QUEUE/active" \
		    "$PF_QUEUE/maildrop" -type f 2>/dev/null | head -1)" ] &&
		    return 0
		sleep 0.1
	done
	return 1
}

# measure NAME MTA PORT ROOT [LOADGEN-ARGS...] - warm up, load, drain, for
# the MTA ("postfix" or "aval") on PORT whose processes descend from ROOT;
# the extra arguments go to every aval-loadgen run (warm-up included).
# Sets R_<NAME>_accepted, _failed, _rate, _p50, _p99, _e2e and _cpu, and
# with -T _tls_full, _tls_resumed, _tls_offered, _tls_protocol and
# _tls_peer_key; the loadgen's output is in $TMP/NAME.
measure() {
	local name=$1 mta=$2 port=$3 root=$4 out rc t0 have cpu0 cpu1 cpu acc
	local last k dir=$TMP/$1
	shift 4

	mkdir -p "$dir"
	if [ "$WARMUP" -gt 0 ]; then
		log "$name: warm-up, $WARMUP messages"
		"$BUILD/aval-loadgen" -q -s "127.0.0.1:$port" -c "$C" \
		    -n "$WARMUP" -S "$S" -L "$dir/warmup.tokens" \
		    -w "$LOAD_LIMIT" "$@" > "$dir/warmup.out" 2>&1
		sink_wait "$dir/warmup.tokens" "$WARMUP_LIMIT" >/dev/null ||
		    log "$name: warm-up messages did not all reach the sink"
		sleep 1
	fi

	log "$name: load, $N messages of $S bytes over $C sessions${*:+ ($*)}"
	measure_hook start "$name"
	cpu0=$(cpu_read "$root")
	t0=$(date +%s.%N)
	"$BUILD/aval-loadgen" -s "127.0.0.1:$port" -c "$C" -n "$N" -S "$S" \
	    -L "$dir/load.tokens" -w "$LOAD_LIMIT" "$@" \
	    > "$dir/load.out" 2> "$dir/load.err" &
	LOADGEN_PID=$!
	wait "$LOADGEN_PID"
	rc=$?
	LOADGEN_PID=
	out=$dir/load.out
	[ "$rc" -eq 0 ] || log "$name: aval-loadgen exit $rc:" \
	    "$(head -3 "$dir/load.err" | tr '\n' ' ')"
	acc=$(lg_get "$out" accepted)
	[ -n "$acc" ] || acc=0

	if ! have=$(sink_wait "$dir/load.tokens" "$DRAIN_LIMIT"); then
		log "$name: sink has ${have%% *} of $acc accepted messages" \
		    "after $DRAIN_LIMIT s"
		STATUS=1
		last=
	else
		last=${have#* }
	fi
	# Let the MTA finish its bookkeeping (queue file removal) before
	# the second reading; an idle MTA adds next to nothing.
	[ "$mta" = postfix ] && pf_idle
	sleep 1
	cpu1=$(cpu_read "$root")
	measure_hook end "$name"

	[ "$rc" -eq 0 ] || STATUS=1
	printf -v "R_${name}_accepted" '%s' "$acc"
	printf -v "R_${name}_failed" '%s' "$(lg_get "$out" failed)"
	printf -v "R_${name}_rate" '%s' "$(lg_get "$out" msgs_per_sec)"
	printf -v "R_${name}_p50" '%s' "$(lg_get "$out" latency_ms_p50)"
	printf -v "R_${name}_p99" '%s' "$(lg_get "$out" latency_ms_p99)"
	for k in tls_full tls_resumed tls_offered tls_protocol tls_peer_key; do
		printf -v "R_${name}_$k" '%s' "$(lg_get "$out" "$k")"
	done
	if [ -n "$last" ] && [ "$acc" -gt 0 ]; then
		printf -v "R_${name}_e2e" '%s' "$(awk -v n="$acc" -v a="$t0" \
		    -v b="$last" 'BEGIN { d = b - a
		    printf "%.2f", (d > 0 ? n / d : 0) }')"
	fi
	# CPU per message counts only when every message went all the way
	# through: an MTA that did not deliver did not spend delivery's CPU.
	if [ -n "$cpu0" ] && [ -n "$cpu1" ] && [ "$acc" -gt 0 ]; then
		cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$acc" \
		    'BEGIN { printf "%.3f", (b - a) / 1e6 / n }')
		if [ -n "$last" ]; then
			printf -v "R_${name}_cpu" '%s' "$cpu"
		else
			log "$name: $cpu cpu ms per accepted message, but not" \
			    "all were delivered: not reported"
		fi
	fi
}

# --- a private Postfix instance ----------------------------------------------

# pf_setup SINKPORT PORT [TLS-LINES] - main.cf and master.cf of a
# relay-only instance in $TMP/postfix, smtpd on 127.0.0.1:PORT, everything
# relayed to the sink; without TLS-LINES, smtpd_tls_security_level is
# none; smtp_tls_security_level is none unless TLS-LINES set it. Then
# "postfix check", which makes the queue's directories.
pf_setup() {
	local procs conc tls=${3:-smtpd_tls_security_level = none}
	local smtp_tls="smtp_tls_security_level = none"
	[[ "$tls" != *smtp_tls_security_level* ]] || smtp_tls=
	PF_DIR=$TMP/postfix
	PF_ETC=$PF_DIR/etc
	PF_QUEUE=$PF_DIR/queue
	mkdir -p "$PF_ETC" "$PF_QUEUE" "$PF_DIR/data"
	chown postfix:postfix "$PF_DIR/data"
	chmod 700 "$PF_DIR/data"
	procs=$((C + 50 > 100 ? C + 50 : 100))
	conc=$((C > 20 ? C : 20))

	# No fsync setting appears here on purpose: Postfix syncs its queue
	# files as it does in production.
	cat > "$PF_ETC/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $PF_DIR/data
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $PF_DIR
myhostname = postfix-bench.local
mydomain = bench.local
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relayhost = [127.0.0.1]:$1
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
local_recipient_maps =
biff = no
$smtp_tls
$tls
smtp_dns_support_level = disabled
default_process_limit = $procs
smtp_destination_concurrency_limit = $conc
default_destination_concurrency_limit = $conc
EOF
	# Debian's services without chroot (the temporary queue has no chroot
	# files) and with smtpd on the benchmark port only.
	cat > "$PF_ETC/master.cf" <<EOF
127.0.0.1:$2 inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

	# "postfix -c DIR" needs no alternate_config_directories when run as
	# root; "check" creates the queue's subdirectories with the right
	# owners.
	postfix -c "$PF_ETC" check > "$PF_DIR/check.log" 2>&1 ||
	    die "postfix check failed:" \
		"$(tail -2 "$PF_DIR/check.log" "$PF_DIR/maillog" 2>/dev/null)"
}

# pf_start PORT - start the instance in a cgroup of its own and wait for
# it to listen; sets PF_MASTER (the root of its process tree)
pf_start() {
	cpu_setup postfix
	PF_RUNNING=1
	sh -c "$CG_EXEC_SCRIPT" "$CG" postfix -c "$PF_ETC" start \
	    > "$PF_DIR/start.log" 2>&1 ||
	    die "postfix start failed:" \
		"$(tail -2 "$PF_DIR/start.log" "$PF_DIR/maillog" 2>/dev/null)"
	wait_port "$1" "$START_LIMIT" ||
	    die "postfix does not listen on 127.0.0.1:$1"
	PF_MASTER=$(tr -dc 0-9 < "$PF_QUEUE/pid/master.pid")
	log "postfix on 127.0.0.1:$1 (master $PF_MASTER), cpu: $CPU_METHOD"
}

# --- aval --------------------------------------------------------------------

# aval_user - AVAL_USER: "aval" when the host has that user, else nobody;
# AVAL_LOCAL_USER: "aval-local", else daemon
# (rather than add a user to the system)
aval_user() {
	if id aval >/dev/null 2>&1; then
		AVAL_USER=aval
	else
		AVAL_USER=nobody
		log "aval: no user \"aval\" here, its workers run as nobody"
	fi
	# aval-local runs as a user of its own (docs/local.md); daemon
	# stands in for aval-local as the integration tests' harness does.
	if id aval-local >/dev/null 2>&1; then
		AVAL_LOCAL_USER=aval-local
	else
		AVAL_LOCAL_USER=daemon
		log "aval: no user \"aval-local\" here, aval-local runs as daemon"
	fi
}

# aval_start CONF PORT NAME - check CONF with avald -n, then run avald -d
# in a cgroup of its own (NAME), its log in the CONF's directory as
# avald.log; 0 once it listens on PORT (AVALD_PID set), 1 when it did not
# start (the log's end is shown)
aval_start() {
	local dir
	dir=$(dirname "$1")
	if [ ! -x "$BUILD/avald" ]; then
		log "aval: $BUILD/avald missing, aval not measured"
		return 1
	fi
	if ! "$BUILD/avald" -n -f "$1" > "$dir/check.log" 2>&1; then
		log "aval: avald -n rejects the config:" \
		    "$(head -3 "$dir/check.log" | tr '\n' ' ')"
	fi
	cpu_setup "$3"
	sh -c "$CG_EXEC_SCRIPT" "$CG" "$BUILD/avald" -d -f "$1" \
	    > "$dir/avald.log" 2>&1 &
	AVALD_PID=$!
	if wait_port "$2" "$START_LIMIT" "$AVALD_PID"; then
		log "aval on 127.0.0.1:$2 (avald $AVALD_PID), cpu: $CPU_METHOD"
		return 0
	fi
	log "aval: avald did not start listening on 127.0.0.1:$2; its log" \
	    "ends:"
	tail -5 "$dir/avald.log" | sed 's/^/    /' >&2
	aval_stop
	return 1
}

# --- certificates ------------------------------------------------------------

# make_certs DIR - in DIR: ca.crt (an ECDSA P-256 CA), and signed by it,
# ecdsa.{crt,key} (P-256) and rsa.{crt,key} (2048 bits) for the host names
# both MTAs use (bench.local, postfix-bench.local), keys mode 600; also
# ecdsa.pem and rsa.pem (key, then certificate) for Postfix's
# smtpd_tls_chain_files
make_certs() {
	local d=$1 k
	mkdir -p "$d"
	cat > "$d/server.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:bench.local, DNS:postfix-bench.local
EOF
	(
		umask 077
		openssl req -x509 -new -newkey ec \
		    -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 2 \
		    -subj "/CN=aval bench CA" -keyout "$d/ca.key" \
		    -out "$d/ca.crt" &&
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -subj "/CN=bench.local" -keyout "$d/ecdsa.key" \
		    -out "$d/ecdsa.csr" &&
		openssl req -new -newkey rsa:2048 -nodes \
		    -subj "/CN=bench.local" -keyout "$d/rsa.key" \
		    -out "$d/rsa.csr" &&
		for k in ecdsa rsa; do
			openssl x509 -req -in "$d/$k.csr" -CA "$d/ca.crt" \
			    -CAkey "$d/ca.key" -set_serial "0x$(openssl rand \
			    -hex 8)" -days 2 -sha256 -extfile "$d/server.ext" \
			    -out "$d/$k.crt" || exit 1
			cat "$d/$k.key" "$d/$k.crt" > "$d/$k.pem" || exit 1
		done
	) > "$d/openssl.log" 2>&1 ||
	    die "openssl could not make the certificates:" \
		"$(tail -2 "$d/openssl.log")"
	chmod 600 "$d"/*.key "$d"/*.pem
	chmod 644 "$d"/*.crt
}

# --- figures -----------------------------------------------------------------

# val NAME KEY - a figure, or n/a
val() {
	local v="R_$1_$2"
	echo "${!v:-n/a}"
}

# ratio A B - A/B with two decimals, or n/a
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"
		else printf "%.2f\n", a / b }'
}

# --- figures over ROUNDS interleaved rounds (tls-in, tls-out, federation) --

# median V... - the median of the numbers given ("n/a" ones left out), or
# n/a when there is none
median() {
	printf '%s\n' "$@" | grep -E '^[0-9]+([.][0-9]+)?$' | sort -g |
	    awk '{ v[NR] = $1 }
	    END {
		if (NR == 0) print "n/a"
		else if (NR % 2) print v[(NR + 1) / 2]
		else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# rounds NAME KEY - the figure KEY of NAME in every round, one a word
rounds() {
	local r
	for ((r = 1; r <= ROUNDS; r++)); do
		val "$1_$r" "$2"
	done
}

# share PART WHOLE - a percentage with one decimal, or n/a
share() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || a == "" || b == "" ||
		    b + 0 == 0)
			print "n/a"
		else printf "%.1f%%\n", 100 * a / b }'
}

# qmedian RATIO - the median of that ratio over the rounds, two decimals
qmedian() {
	local r v all=()
	for ((r = 1; r <= ROUNDS; r++)); do
		v="Q_$1_$r"
		all+=("${!v}")
	done
	median "${all[@]}" | awk '$1 == "n/a" { print; next }
	    { printf "%.2f\n", $1 }'
}
