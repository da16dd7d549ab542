#!/bin/bash
# Runs testssl.sh (Debian package) against bridge's HTTPS port on
# loopback and fails if it reports any finding of severity LOW or above:
# a vulnerability, a weak protocol or a weak cipher.  Too slow for the
# test command (a few minutes); run it after changing anything TLS:
#
#	bash tests/tls/testssl.sh            # uses ./build
#	BUILD=/path/to/build bash tests/tls/testssl.sh
#
# Writes the full report to $OUT (default: a temp dir, printed).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$top/build}
bridge=$build/bridge/bridge
module=$build/examples/native/.libs/hello.so
[ -x "$bridge" ] || { echo "no $bridge: build first" >&2; exit 1; }
command -v testssl >/dev/null 2>&1 ||
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq testssl.sh >/dev/null
out=${OUT:-$(mktemp -d /tmp/bridge-testssl.XXXXXX)}
mkdir -p "$out"

openssl req -x509 -nodes -days 2 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	-keyout "$out/key.pem" -out "$out/cert.pem" -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost 2>/dev/null
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bridge" --https "127.0.0.1:$port" --cert "$out/cert.pem" \
	--key "$out/key.pem" --module "$module" -w 2 --allow-root \
	--error-log "$out/bridge.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
sleep 1

# --ip one: loopback only; no DNS, no other hosts are contacted.
testssl --quiet --color 0 --warnings off --ip one \
	--jsonfile "$out/testssl.json" --logfile "$out/testssl.log" \
	"127.0.0.1:$port" >/dev/null 2>&1 || true

/usr/bin/python3 - "$out/testssl.json" <<'PY'
import json, sys
findings = json.load(open(sys.argv[1]))
# Not about bridge's TLS: the self-signed, short-lived test certificate
# and DNS; and the HTTP response headers the application chooses (HSTS
# and other security headers are the app's, e.g. Django's
# SecurityMiddleware) -- printed, not counted.
NOT_TLS = ("cert", "chain_", "intermediate", "DNS_CAArecord",
           "OCSP_stapling", "trust", "HSTS", "security_headers")
serious = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
bad = [f for f in findings if f.get("severity") in serious
       and not f["id"].startswith(NOT_TLS)]
for f in findings:
    if f.get("severity") in serious and f not in bad:
        print("(app/test cert) %-8s %-24s %s" % (f["severity"], f["id"],
                                                f["finding"][:60]))
for f in bad:
    print("%-10s %-28s %s" % (f["severity"], f["id"], f["finding"]))
vulns = [f for f in findings if f.get("severity") == "OK"
         and "not vulnerable" in f.get("finding", "")]
print("%d vulnerability checks: not vulnerable" % len(vulns))
protos = {f["id"]: f["finding"] for f in findings
          if f["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2",
                         "TLS1_3")}
for k in sorted(protos):
    print("%-8s %s" % (k, protos[k]))
print("%d finding(s) of severity LOW or above" % len(bad))
sys.exit(1 if bad else 0)
PY
echo "report: $out/testssl.log"
