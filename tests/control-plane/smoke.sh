#!/usr/bin/env bash
# shellcheck disable=SC2015 # `check && ok || bad`: ok always succeeds
# End-to-end smoke test of the local control plane: starts an isolated cluster with
# scripts/dev-cluster, checks namespaces, the server version, CRD + CEL validation and
# TokenRequest, tears it down and checks that no process is left. Prints `N passed, N failed`.
#
#   tests/control-plane/smoke.sh
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export SCO_CLUSTER_DIR
SCO_CLUSTER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sco-smoke.XXXXXX")
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }
finish() {
  "$repo/scripts/dev-cluster" down >/dev/null 2>&1 || true
  rm -rf "$SCO_CLUSTER_DIR"
  echo "$passed passed, $failed failed"
  [ "$failed" = 0 ]
}
trap 'finish; exit $?' EXIT

t0=$SECONDS
if ! line=$("$repo/scripts/dev-cluster" up); then bad "dev-cluster up"; exit 1; fi
ok "dev-cluster up in $((SECONDS - t0)) s: $line"
[ "$line" = "export KUBECONFIG=$SCO_CLUSTER_DIR/kubeconfig" ] && ok "export line" || bad "export line: $line"
kc=$SCO_CLUSTER_DIR/kubeconfig
bin=$(sed -n 's/^SCO_CP_BIN=//p' "$SCO_CLUSTER_DIR/env")
k() { "$bin/kubectl" --kubeconfig "$kc" "$@"; }

"$repo/scripts/dev-cluster" status 2>/dev/null && ok "status" || bad "status"
[ "$("$repo/scripts/dev-cluster" up 2>/dev/null)" = "$line" ] && ok "up is idempotent" || bad "second up"
[ "$("$repo/scripts/dev-cluster" env 2>/dev/null)" = "$line" ] && ok "env" || bad "env"
k get ns default -o name | grep -qx namespace/default && ok "get ns default" || bad "get ns"
want=$(sed -n 's/^\tk8s.io\/kubernetes \(v[^ ]*\).*/\1/p; s/^require k8s.io\/kubernetes \(v[^ ]*\)$/\1/p' \
  "$repo/tests/control-plane/apiserver/go.mod" | head -n1)
sv=$(k version -o json | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | tail -n1)
[ -n "$want" ] && [ "$sv" = "$want" ] && ok "server version $sv" || bad "server version '$sv' != '$want'"

cat <<'EOF' | k apply -f - >/dev/null && ok "apply CRD" || bad "apply CRD"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.smoke.example.com}
spec:
  group: smoke.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: "self.min <= self.max"
              message: "min must not exceed max"
            properties:
              min: {type: integer}
              max: {type: integer}
EOF
k wait --for condition=Established --timeout=30s crd/widgets.smoke.example.com >/dev/null \
  && ok "CRD established" || bad "CRD established"
for _ in $(seq 50); do k get widgets >/dev/null 2>&1 && break; sleep 0.2; done
widget() { printf 'apiVersion: smoke.example.com/v1\nkind: Widget\nmetadata: {name: %s}\nspec: {min: %s, max: %s}\n' "$@"; }
widget good 1 2 | k apply -f - >/dev/null && ok "valid object accepted" || bad "valid object"
if err=$(widget bad 3 2 | k apply -f - 2>&1); then
  bad "invalid object was accepted"
elif [[ "$err" == *"min must not exceed max"* ]]; then
  ok "CEL rule rejects invalid object"
else
  bad "invalid object rejected for another reason: $err"
fi

k create serviceaccount smoke >/dev/null && ok "create serviceaccount" || bad "create serviceaccount"
tok=$(k create token smoke --duration=10m 2>&1)
if [[ "$tok" == ey*.*.* ]]; then
  ok "kubectl create token"
  who=$(curl -sS --cacert "$SCO_CLUSTER_DIR/pki/ca.crt" -H "Authorization: Bearer $tok" \
    -H 'Content-Type: application/json' -X POST \
    -d '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' \
    "$(sed -n 's/^SCO_APISERVER_URL=//p' "$SCO_CLUSTER_DIR/env")/apis/authentication.k8s.io/v1/selfsubjectreviews")
  [[ "$who" == *'system:serviceaccount:default:smoke'* ]] && ok "token authenticates" || bad "token auth: $who"
else
  bad "kubectl create token: $tok"
fi

pids=$(cat "$SCO_CLUSTER_DIR"/etcd.pid "$SCO_CLUSTER_DIR"/apiserver.pid)
"$repo/scripts/dev-cluster" down 2>/dev/null && ok "dev-cluster down" || bad "dev-cluster down"
live() {  # pids (of the given ones) that still exist and are not zombies awaiting their reaper
  local p st
  for p in "$@"; do
    st=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1) || continue
    case "$st" in ""|Z|X) ;; *) printf ' %s' "$p" ;; esac
  done
}
# shellcheck disable=SC2086 # word-splitting the pid list is intended
left=$(live $pids)
[ -z "$left" ] && ok "no processes left" || bad "processes left:$left"
[ ! -e "$SCO_CLUSTER_DIR" ] && ok "state removed" || bad "state dir still exists"
