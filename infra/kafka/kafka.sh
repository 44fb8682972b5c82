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
# Environment: KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093),
# LOGWARDEN_KAFKA_DIR (state: data, log, pid; default infra/kafka/.run),
# KAFKA_HEAP (512m).
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
  cat >"$run/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $run/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
EOF
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

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) running_pid >/dev/null && answers && echo "127.0.0.1:$port $version" ;;
  reset) stop; rm -rf "$run/data" ;;
  version) echo "$version" ;;
  *) die "usage: kafka.sh fetch|start|stop|status|reset|version" ;;
esac
