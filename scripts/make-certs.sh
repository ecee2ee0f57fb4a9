#!/usr/bin/env bash
# Makes the certificates a secured gdaqd cluster needs (docs/cluster.md §1), with the openssl CLI:
#   ca.pem / ca.key            a private CA (keep ca.key offline; it signs everything below)
#   server.pem / server.key    the coordinator's certificate, with the subject alternative names
#                              given by --san (DNS names and IP addresses clients dial)
#   worker-N.pem / worker-N.key  client certificates for mutual TLS, N = 1..--workers
#
# Usage: scripts/make-certs.sh OUT_DIR [--san DNS:coordinator,DNS:localhost,IP:127.0.0.1]
#                              [--workers N] [--days D]
# Then:
#   gdaqd-server --tls_cert OUT_DIR/server.pem --tls_key OUT_DIR/server.key \
#                [--tls_client_ca OUT_DIR/ca.pem] --tokens_file tokens.txt ...
#   gdaqd-worker --tls_ca OUT_DIR/ca.pem [--tls_cert OUT_DIR/worker-1.pem \
#                --tls_key OUT_DIR/worker-1.key] --token_file worker.token ...
#   gdaqd --tls_ca OUT_DIR/ca.pem --token_file my.token status
# Keys are EC P-256, written with mode 600. An existing CA in OUT_DIR is reused, so more worker
# certificates can be added later with a larger --workers.
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
OUT="$1"; shift
SAN="DNS:localhost,IP:127.0.0.1"
WORKERS=1
DAYS=825
while [[ $# -gt 0 ]]; do
  case "$1" in
    --san) SAN="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --days) DAYS="$2"; shift 2 ;;
    *) usage ;;
  esac
done
[[ "$WORKERS" =~ ^[0-9]+$ ]] || { echo "make-certs.sh: --workers must be a number" >&2; exit 2; }

mkdir -p "$OUT"
umask 077
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# sign NAME SUBJECT EXTENSIONS: NAME.key + NAME.pem signed by the CA.
sign() {
  local name="$1" subject="$2" extensions="$3"
  new_key "$OUT/$name.key"
  openssl req -new -key "$OUT/$name.key" -subj "$subject" -out "$TMP/$name.csr"
  printf '%b\n' "$extensions" > "$TMP/$name.ext"
  openssl x509 -req -in "$TMP/$name.csr" -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" \
    -CAcreateserial -CAserial "$TMP/ca.srl" -days "$DAYS" -sha256 \
    -extfile "$TMP/$name.ext" -out "$OUT/$name.pem" 2>/dev/null
}

if [[ ! -f "$OUT/ca.pem" || ! -f "$OUT/ca.key" ]]; then
  new_key "$OUT/ca.key"
  openssl req -x509 -new -key "$OUT/ca.key" -subj "/CN=gdaqd CA" -days "$DAYS" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$OUT/ca.pem"
fi

sign server "/CN=gdaqd-coordinator" \
  "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=$SAN"
for ((i = 1; i <= WORKERS; i++)); do
  sign "worker-$i" "/CN=gdaqd-worker-$i" \
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
done
chmod 644 "$OUT"/*.pem
echo "wrote $OUT: ca.pem server.pem server.key (SAN $SAN) and $WORKERS worker certificate(s)"
