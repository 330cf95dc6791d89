# Sourced by the Kubernetes tests (after lib.sh): a test CA and an API
# server certificate made here by openssl, a service-account directory
# (token, ca.crt, namespace), and the API server double
# (k8s_apiserver.py) over HTTPS, since a real API server cannot run on
# these machines.
#   k8s_double OBJECTS_JSON   starts it; sets API (its port), SA (the
#                             service-account directory) and exports the
#                             in-cluster environment for profcol
#   ctl JSON                  steers it (see k8s_apiserver.py)
#   apilog                    every request it answered, as JSON
need_cmd openssl

k8s_double() {
  SA="$WORK/sa"
  mkdir -p "$SA"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test-ca" \
    -keyout "$WORK/ca.key" -out "$SA/ca.crt" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kubernetes" \
    -keyout "$WORK/srv.key" -out "$WORK/srv.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\n' >"$WORK/san.ext"
  openssl x509 -req -in "$WORK/srv.csr" -CA "$SA/ca.crt" -CAkey "$WORK/ca.key" \
    -CAcreateserial -days 2 -extfile "$WORK/san.ext" -out "$WORK/srv.crt" >/dev/null 2>&1
  printf 'token-one' >"$SA/token"
  printf 'shop' >"$SA/namespace"
  start_listener api "$WORK/api.port" "$PY" "$HERE/k8s_apiserver.py" --port-file "$WORK/api.port" \
    --cert "$WORK/srv.crt" --key "$WORK/srv.key" --token token-one --objects "$1"
  API=$SINK_PORT
  export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$API
  export PROFCOL_K8S_SERVICEACCOUNT_DIR=$SA
}
ctl() { curl -sf --cacert "$SA/ca.crt" -X POST --data-binary "$1" "https://127.0.0.1:$API/_control" >/dev/null; }
apilog() { curl -sf --cacert "$SA/ca.crt" "https://127.0.0.1:$API/_control/log"; }
