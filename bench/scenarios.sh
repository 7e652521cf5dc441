# Scenario shapes of `make bench` (run.sh) and `make bench-cluster` (cluster-run.sh): sourced by
# both, so the two run exactly the same load. Needs IDLE_CLIENTS set (the idle scenario's size,
# capped by the open-file limit by the caller).
# Scenario shapes (clients, rooms, senders, load). seed-fastapi gets a capped "rooms" shape: at full
# size it falls seconds behind in the first second and only reports its backlog.
scenario_args() { # scenario server -> chatbench arguments; also sets NOTE
  NOTE=""
  case "$1" in
    fanout) echo "--clients 1000 --rooms 1 --senders 10 --window 8 --size 140" ;;
    rate) echo "--clients 1000 --rooms 1 --senders 10 --rate 100 --size 140" ;;
    rooms)
      if [ "$2" = seed-fastapi ]; then
        NOTE="capped: 2000 clients in 200 rooms (2000 msg/s) instead of 10000 in 1000"
        echo "--clients 2000 --rooms 200 --senders 2000 --rate 2000 --size 140 --sources 4"
      else
        echo "--clients 10000 --rooms 1000 --senders 10000 --rate 10000 --size 140 --sources 4"
      fi ;;
    idle)
      [ "$IDLE_CLIENTS" -lt 15000 ] && NOTE="capped by the open-file limit: $IDLE_CLIENTS clients instead of 15000"
      echo "--idle --clients $IDLE_CLIENTS --rooms $((IDLE_CLIENTS / 10)) --sources 4" ;;
    *) return 1 ;;
  esac
}
