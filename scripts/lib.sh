# Shared by the scripts that start their own broker (sourced, not run).

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_mosquitto DIR PORT [extra config lines]: a mosquitto on 127.0.0.1:PORT in the background,
# logging to DIR/mosquitto.log; returns once it accepts connections.
start_mosquitto() {
  local dir=$1 port=$2 extra=${3:-}
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n%s\n' "$port" "$extra" > "$dir/mosquitto.conf"
  mosquitto -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 &
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "mosquitto did not start on port $port; see $dir/mosquitto.log" >&2
  return 1
}
