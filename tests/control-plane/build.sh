#!/usr/bin/env bash
# Builds the control-plane binaries used by the e2e tests from the Go module proxy and
# prints the directory that holds them (ONLY that line goes to stdout; logs go to stderr).
#
#   tests/control-plane/build.sh           # kube-apiserver, kubectl, etcd (the default set)
#   tests/control-plane/build.sh helm      # the default set plus helm
#   tests/control-plane/build.sh kcm       # the default set plus kube-controller-manager
#   tests/control-plane/build.sh all       # the default set plus helm and kube-controller-manager
#   tests/control-plane/build.sh node      # the default set plus kube-controller-manager, kubelet,
#                                          # kube-scheduler, kube-proxy, coredns and pause (a static
#                                          # C binary from the k8s.io/kubernetes module, built with gcc)
#
# Versions come from the wrapper modules next to this script (apiserver/, etcd/, helm/,
# controller-manager/, node/, coredns/; regenerate apiserver/ with gen-apiserver-gomod.sh, then copy its go.mod
# to controller-manager/ and node/ with the tool lines changed and run `go mod tidy` there). Binaries land in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/security-contact-operator/control-plane/<key>/
# where <key> hashes the Go version, every wrapper go.mod/go.sum and this script, so a
# second run is a cache hit that builds nothing. The first build is published atomically
# (tmp dir + `.complete` marker, then rename); an extra binary requested later (helm) is
# published into the same directory by an atomic rename. Concurrent callers serialise
# on a lock file (flock), so parallel test binaries do not build twice.
#
# If KUBEBUILDER_ASSETS names a directory holding kube-apiserver and etcd (and helm, when
# asked for), that directory is printed instead and nothing is built.
#
# Needs Go >= 1.26 on PATH and a reachable Go module proxy (GOPROXY as configured); uses the
# normal GOMODCACHE/GOCACHE, so CI caches of $HOME/go/pkg/mod and $HOME/.cache survive runs.
set -euo pipefail

exec 3>&1 1>&2                      # stdout is reserved for the final directory
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

want_helm=0
want_kcm=0
want_node=0
for arg in "$@"; do
  case "$arg" in
    default|"") ;;
    helm) want_helm=1 ;;
    kcm) want_kcm=1 ;;
    all) want_helm=1; want_kcm=1 ;;
    node) want_kcm=1; want_node=1 ;;
    -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown target '$arg' (expected: default, helm, kcm, all, node)"; exit 2 ;;
  esac
done

node_bins=(kubelet kube-scheduler kube-proxy coredns pause)
have_node() {  # have_node <dir>
  local b
  for b in "${node_bins[@]}"; do [ -x "$1/$b" ] || return 1; done
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] \
   && [ -x "$KUBEBUILDER_ASSETS/etcd" ] \
   && { [ "$want_helm" = 0 ] || [ -x "$KUBEBUILDER_ASSETS/helm" ]; } \
   && { [ "$want_kcm" = 0 ] || [ -x "$KUBEBUILDER_ASSETS/kube-controller-manager" ]; } \
   && { [ "$want_node" = 0 ] || have_node "$KUBEBUILDER_ASSETS"; }; then
  echo "build.sh: using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  echo "$KUBEBUILDER_ASSETS" >&3
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: needs the Go toolchain (Go >= 1.26) on PATH"; exit 1; }
export CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local GOFLAGS=-mod=readonly
gover=$(go env GOVERSION)

key=$( { echo "$gover"; go env GOOS GOARCH
         for f in "$here"/apiserver/go.mod "$here"/apiserver/go.sum "$here"/etcd/go.mod "$here"/etcd/go.sum \
                  "$here"/helm/go.mod "$here"/helm/go.sum "$here"/controller-manager/go.mod \
                  "$here"/controller-manager/go.sum "$here"/node/go.mod "$here"/node/go.sum \
                  "$here"/coredns/go.mod "$here"/coredns/go.sum \
                  "$here"/build.sh; do
           echo "== ${f#"$here"/}"; cat "$f"
         done; } | sha256sum | cut -c1-16)
root="${XDG_CACHE_HOME:-$HOME/.cache}/security-contact-operator/control-plane"
out="$root/$key"
mkdir -p "$root"

have_all() {
  [ -f "$out/.complete" ] && [ -x "$out/kube-apiserver" ] && [ -x "$out/kubectl" ] && [ -x "$out/etcd" ] \
    && { [ "$want_helm" = 0 ] || [ -x "$out/helm" ]; } \
    && { [ "$want_kcm" = 0 ] || [ -x "$out/kube-controller-manager" ]; } \
    && { [ "$want_node" = 0 ] || have_node "$out"; }
}

if have_all; then
  echo "build.sh: cache hit $out"
  echo "$out" >&3
  exit 0
fi

# Serialise concurrent builds (e.g. several test binaries calling dev-cluster up at once).
if command -v flock >/dev/null; then
  exec 9>"$root/.lock"
  if ! flock -n 9; then
    echo "build.sh: another build is running; waiting for the lock $root/.lock"
    flock 9
  fi
  if have_all; then echo "build.sh: built by a concurrent run: $out"; echo "$out" >&3; exit 0; fi
fi

tmp=$(mktemp -d "$root/.tmp.$key.XXXXXX"); chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

modver() {  # modver <go.mod> <module path>  -> version in its require block
  awk -v m="$2" '$1 == m && $2 ~ /^v/ {print $2; exit} $1 == "require" && $2 == m {print $3; exit}' "$1"
}

gobuild() {  # gobuild <wrapper dir> <output name> <package> <ldflags>
  local dir=$1 name=$2 pkg=$3 ldf=$4 t0=$SECONDS
  echo "build.sh: building $name ($pkg) ..."
  (cd "$here/$dir" && go build -trimpath -buildvcs=false -ldflags "$ldf" -o "$tmp/$name" "$pkg")
  echo "build.sh: built $name in $((SECONDS - t0)) s ($(du -h "$tmp/$name" | cut -f1))"
}

kube_ldflags() {  # kube_ldflags <wrapper dir>: version stamps like upstream's hack/lib/version.sh
  local kver kminor p ldf="-s -w"
  kver=$(modver "$here/$1/go.mod" k8s.io/kubernetes)
  [ -n "$kver" ] || { echo "build.sh: no k8s.io/kubernetes requirement in $1/go.mod" >&2; exit 1; }
  kminor=${kver#v1.}; kminor=${kminor%%.*}
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$kver -X $p.gitMajor=1 -X $p.gitMinor=$kminor"
    ldf="$ldf -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ldf"
}

t_all=$SECONDS
echo "build.sh: $gover; output $out"

if [ ! -f "$out/.complete" ]; then
  # kube-apiserver + kubectl, version-stamped like upstream's hack/lib/version.sh so that
  # /version (and therefore helm's .Capabilities.KubeVersion) reports the real release.
  ldf=$(kube_ldflags apiserver)
  gobuild apiserver kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ldf"
  gobuild apiserver kubectl k8s.io/kubernetes/cmd/kubectl "$ldf"
  # etcd's version is a constant in go.etcd.io/etcd/api/v3/version: no stamping needed.
  gobuild etcd etcd go.etcd.io/etcd/server/v3 "-s -w"
fi

if [ "$want_helm" = 1 ] && [ ! -x "$out/helm" ]; then
  hver=$(modver "$here/helm/go.mod" helm.sh/helm/v3)
  # helm's Makefile also stamps the Kubernetes version used for `helm template` / lint
  # defaults from its client-go version (v0.X.Y -> 1.X).
  cgo=$(modver "$here/helm/go.mod" k8s.io/client-go); cminor=${cgo#v0.}; cminor=${cminor%%.*}
  ldf="-s -w -X helm.sh/helm/v3/internal/version.version=$hver -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldf="$ldf -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$cminor"
  done
  gobuild helm helm helm.sh/helm/v3/cmd/helm "$ldf"
fi

if [ "$want_kcm" = 1 ] && [ ! -x "$out/kube-controller-manager" ]; then
  # Only the garbage collector and the namespace controller are run by the tests (deletion
  # as a real cluster does it); same tag and version stamp as kube-apiserver.
  ldf=$(kube_ldflags controller-manager)
  gobuild controller-manager kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ldf"
fi

if [ "$want_node" = 1 ] && ! have_node "$out"; then
  # The node side of a one-node cluster (scripts/dev-cluster up --node). Upstream's release
  # builds these with CGO_ENABLED=0 too; same tag and version stamp as kube-apiserver.
  ldf=$(kube_ldflags node)
  gobuild node kubelet k8s.io/kubernetes/cmd/kubelet "$ldf"
  gobuild node kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$ldf"
  gobuild node kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$ldf"
  # Cluster DNS (Service names such as the chart's `helm test` URL), as in every real cluster.
  gobuild coredns coredns github.com/coredns/coredns "-s -w"
  # The sandbox ("pause") container's binary. No registry is reachable, so it is compiled
  # from the very source upstream's registry.k8s.io/pause image is built from
  # (build/pause/linux/pause.c in the k8s.io/kubernetes module), with upstream's CFLAGS.
  command -v gcc >/dev/null || { echo "build.sh: the pause binary needs gcc (apt-get install gcc libc6-dev)"; exit 1; }
  (cd "$here/node" && go mod download k8s.io/kubernetes)
  kdir=$(cd "$here/node" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  ptag=$(sed -n 's/^TAG ?= *//p' "$kdir/build/pause/Makefile")
  kver=$(modver "$here/node/go.mod" k8s.io/kubernetes)
  gcc -Os -Wall -Werror -static "-DVERSION=v$ptag-$kver" -o "$tmp/pause" "$kdir/build/pause/linux/pause.c"
  strip "$tmp/pause"
  echo "$ptag" >"$tmp/pause.version"
  echo "build.sh: built pause $ptag ($(du -h "$tmp/pause" | cut -f1))"
fi

if [ ! -f "$out/.complete" ]; then
  rm -rf "$out"                       # an incomplete leftover (cannot happen via this script)
  touch "$tmp/.complete"
  mv "$tmp" "$out"                    # atomic publish of the whole directory
else
  for f in "$tmp"/*; do [ -e "$f" ] && mv -f "$f" "$out/"; done   # atomic per-file rename
fi
# keep the three most recently built key directories (old ones pile up after version bumps)
find "$root" -mindepth 2 -maxdepth 2 -name .complete -printf '%T@ %h\n' 2>/dev/null | sort -rn \
  | tail -n +4 | cut -d' ' -f2- | while read -r old; do
    if [ "$old" != "$out" ]; then echo "build.sh: pruning old $old"; rm -rf "$old"; fi
  done
echo "build.sh: done in $((SECONDS - t_all)) s: $out"
echo "$out" >&3
