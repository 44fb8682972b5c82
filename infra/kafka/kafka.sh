#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft: controller and broker in one JVM) on 127.0.0.1
# for tests and local distributed runs. No Docker: the broker's jars come from
# Maven Central through ./pom.xml.
#
#   kafka.sh fetch    copy the pinned broker's runtime jars into ./lib (idempotent)
#   kafka.sh start    fetch, format storage once, start, wait until it answers;
#                     a second start finds the running broker and returns at once
#   kafka.sh stop     stop it (and wait for the JVM to exit)
#   kafka.sh status   exit 0 and print "host:port version" if it is running
#   kafka.sh reset    stop and delete its data (a fresh cluster id on next start)
#
# A 3-node cluster on loopback (each node controller and broker in one JVM, a
# 3-voter KRaft quorum; internal topics replicated 3 times, min.insync.replicas 2):
#
#   kafka.sh cluster-start    format once, start the nodes not running, wait until
#                             all three answer; prints "h:p,h:p,h:p version"
#   kafka.sh cluster-stop     stop every node
#   kafka.sh cluster-status   exit 0 and print the brokers if all three answer
#   kafka.sh cluster-reset    stop and delete the cluster's data
#   kafka.sh kill-broker N    SIGKILL node N (1-3): no shutdown, no leadership handover
#   kafka.sh start-broker N   start node N again (on its data) and wait until it answers
#
# Environment: KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093),
# LOGWARDEN_KAFKA_DIR (state: data, log, pid; default infra/kafka/.run),
# KAFKA_HEAP (512m). The cluster: KAFKA_CLUSTER_PORT (19192): node N listens
# on KAFKA_CLUSTER_PORT+2(N-1), its controller on the next port; state under
# LOGWARDEN_KAFKA_DIR/cluster; KAFKA_CLUSTER_HEAP (256m per node).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lib="$here/lib"
run="${LOGWARDEN_KAFKA_DIR:-$here/.run}"
port="${KAFKA_PORT:-19092}"
cport="${KAFKA_CONTROLLER_PORT:-19093}"
heap="${KAFKA_HEAP:-512m}"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

need_tools() {
  local missing=()
  command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || missing+=(maven)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
  else
    die "need ${missing[*]} (Java 17+ and Maven); install them, or run as root so this script can"
  fi
}

fetch() {
  local stamp="$lib/.kafka-$version"
  [ -f "$stamp" ] && return 0
  need_tools
  log "fetching Apache Kafka $version broker jars from Maven Central into $lib"
  rm -rf "$lib"
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies >&2 \
    || die "maven could not fetch the broker (see above)"
  touch "$stamp"
}

running_pid() {
  local pid
  [ -f "$run/kafka.pid" ] || return 1
  pid=$(cat "$run/kafka.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

# The broker's own log, warnings and up, in $1/kafka.log.
write_log4j() {
  cat >"$1/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $1/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

write_config() {
  mkdir -p "$run/data"
  cat >"$run/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$run/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=24
log.segment.bytes=67108864
EOF
  write_log4j "$run"
}

# Small heap and a short-pause collector: this broker shares 2 cores with the tests.
java_args=(java -Xms128m "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true "-Dlog4j2.configurationFile=$run/log4j2.properties" -cp "$lib/*")

start() {
  mkdir -p "$run"
  exec 9>"$run/lock"
  # Test files run in parallel processes; the lock makes concurrent starts see one broker.
  flock -w 180 9 || die "timed out waiting for another kafka.sh start"
  if running_pid >/dev/null && answers; then
    echo "127.0.0.1:$port $version"
    log "Apache Kafka $version already running on 127.0.0.1:$port"
    return 0
  fi
  fetch
  write_config
  if [ ! -f "$run/data/meta.properties" ]; then
    local id
    id=$("${java_args[@]}" kafka.tools.StorageTool random-uuid)
    "${java_args[@]}" kafka.tools.StorageTool format -t "$id" -c "$run/server.properties" >&2 \
      || die "formatting storage in $run/data failed"
  fi
  # setsid: the broker must outlive the shell (and the test process) that started it.
  setsid nohup "${java_args[@]}" kafka.Kafka "$run/server.properties" >"$run/stdout.log" 2>&1 </dev/null 9>&- &
  echo $! >"$run/kafka.pid"
  local deadline=$((SECONDS + 90))
  until answers; do
    if ! running_pid >/dev/null; then
      tail -n 30 "$run/stdout.log" "$run/kafka.log" >&2 2>/dev/null || true
      die "the broker exited during start (logs above, full log in $run)"
    fi
    [ $SECONDS -lt $deadline ] || die "the broker did not answer on 127.0.0.1:$port within 90 s (log: $run/kafka.log)"
    sleep 0.2
  done
  log "Apache Kafka $version (KRaft, single node) started on 127.0.0.1:$port"
  echo "127.0.0.1:$port $version"
}

stop() {
  local pid
  pid=$(running_pid) || { log "not running"; return 0; }
  kill "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && { log "broker did not stop in 30 s; killing it"; kill -9 "$pid"; }
  rm -f "$run/kafka.pid"
  log "stopped"
}

# ---- the 3-node cluster ----------------------------------------------------
cbase="${KAFKA_CLUSTER_PORT:-19192}"
crun="$run/cluster"
cheap="${KAFKA_CLUSTER_HEAP:-256m}"
node_cmd=()
NODES=(1 2 3)
node_port() { echo $((cbase + 2 * ($1 - 1))); }
node_cport() { echo $((cbase + 2 * ($1 - 1) + 1)); }
node_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$(node_port "$1")") 2>/dev/null; }
node_pid() {
  local pid f="$crun/node$1/kafka.pid"
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}
cluster_brokers() {
  local out=() n
  for n in "${NODES[@]}"; do out+=("127.0.0.1:$(node_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}
# The JVM command of node $1, in the array node_cmd.
node_java() {
  # Three JVMs share 2 cores with the services under test: small heaps, few threads, C1 only.
  node_cmd=(java -Xms64m "-Xmx$cheap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$crun/node$1/log4j2.properties" -cp "$lib/*")
}

node_config() {
  local n=$1 d="$crun/node$1" voters="" m
  for m in "${NODES[@]}"; do voters+="${voters:+,}$m@127.0.0.1:$(node_cport "$m")"; done
  mkdir -p "$d/data"
  cat >"$d/server.properties" <<EOF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(node_port "$n"),CONTROLLER://127.0.0.1:$(node_cport "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(node_port "$n")
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$d/data
num.partitions=3
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=2
log.cleaner.threads=1
log.retention.hours=24
log.segment.bytes=67108864
EOF
  write_log4j "$d"
}

node_launch() {
  local n=$1 d="$crun/node$1"
  node_java "$n"
  setsid nohup "${node_cmd[@]}" kafka.Kafka "$d/server.properties" >"$d/stdout.log" 2>&1 </dev/null 9>&- &
  echo $! >"$d/kafka.pid"
}

node_wait() {
  local n=$1 deadline=$((SECONDS + 120))
  until node_answers "$n"; do
    if ! node_pid "$n" >/dev/null; then
      tail -n 30 "$crun/node$n/stdout.log" "$crun/node$n/kafka.log" >&2 2>/dev/null || true
      die "node $n exited during start (logs above, full log in $crun/node$n)"
    fi
    [ $SECONDS -lt $deadline ] || die "node $n did not answer on 127.0.0.1:$(node_port "$n") within 120 s (log: $crun/node$n/kafka.log)"
    sleep 0.2
  done
}

cluster_start() {
  mkdir -p "$crun"
  exec 9>"$crun/lock"
  flock -w 300 9 || die "timed out waiting for another kafka.sh cluster-start"
  fetch
  local n id
  if [ ! -f "$crun/cluster.id" ]; then
    node_java 1
    "${node_cmd[@]}" kafka.tools.StorageTool random-uuid >"$crun/cluster.id"
  fi
  id=$(cat "$crun/cluster.id")
  for n in "${NODES[@]}"; do
    node_config "$n"
    if [ ! -f "$crun/node$n/data/meta.properties" ]; then
      node_java "$n"
      "${node_cmd[@]}" kafka.tools.StorageTool format -t "$id" -c "$crun/node$n/server.properties" >&2 \
        || die "formatting storage of node $n failed"
    fi
  done
  # All three at once: a quorum of 3 voters elects a leader only once 2 are up.
  for n in "${NODES[@]}"; do node_pid "$n" >/dev/null || node_launch "$n"; done
  for n in "${NODES[@]}"; do node_wait "$n"; done
  log "Apache Kafka $version (KRaft, 3 nodes) on $(cluster_brokers)"
  echo "$(cluster_brokers) $version"
}

node_stop() {
  local pid n=$1
  pid=$(node_pid "$n") || return 0
  kill "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && { log "node $n did not stop in 30 s; killing it"; kill -9 "$pid"; }
  rm -f "$crun/node$n/kafka.pid"
}

cluster_stop() {
  local n
  # In parallel: a node stopping alone waits for the quorum to move leadership away.
  for n in "${NODES[@]}"; do node_stop "$n" & done
  wait
  log "cluster stopped"
}

node_arg() {
  case "${1:-}" in 1|2|3) echo "$1" ;; *) die "usage: kafka.sh $2 N (N = 1, 2 or 3)" ;; esac
}

kill_broker() {
  local n pid
  n=$(node_arg "${1:-}" kill-broker)
  pid=$(node_pid "$n") || die "node $n is not running"
  kill -9 "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$crun/node$n/kafka.pid"
  log "node $n (127.0.0.1:$(node_port "$n")) killed with SIGKILL"
}

start_broker() {
  local n
  n=$(node_arg "${1:-}" start-broker)
  [ -f "$crun/node$n/data/meta.properties" ] || die "node $n has no storage: run kafka.sh cluster-start first"
  node_pid "$n" >/dev/null || { node_config "$n"; node_launch "$n"; }
  node_wait "$n"
  log "node $n started on 127.0.0.1:$(node_port "$n")"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running_pid >/dev/null && answers && echo "127.0.0.1:$port $version" ;;
  reset) stop; rm -rf "$run/data" ;;
  version) echo "$version" ;;
  cluster-start) cluster_start ;;
  cluster-stop) cluster_stop ;;
  cluster-status)
    for n in "${NODES[@]}"; do node_pid "$n" >/dev/null && node_answers "$n" || exit 1; done
    echo "$(cluster_brokers) $version" ;;
  cluster-reset) cluster_stop; rm -rf "$crun" ;;
  kill-broker) kill_broker "${2:-}" ;;
  start-broker) start_broker "${2:-}" ;;
  *) die "usage: kafka.sh fetch|start|stop|status|reset|version|cluster-start|cluster-stop|cluster-status|cluster-reset|kill-broker N|start-broker N" ;;
esac
