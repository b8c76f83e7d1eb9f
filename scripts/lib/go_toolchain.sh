# shellcheck shell=bash
# Whether the go command can build FerretDB. Sourced by scripts/install (after env.sh), and
# only when FerretDB is to be built: a machine with the binary needs no Go at all.

# FerretDB v2.7.0's go.mod asks for go 1.25. A go command of 1.21 or later fetches that
# toolchain itself for `go install module@version` when GOTOOLCHAIN lets it download ("auto",
# the default, or "<version>+auto"); with any other setting ("local", a fixed version,
# "path") an older Go would fail halfway through the build, so this says so before it starts.
require_go_for_ferretdb() {
  command -v go >/dev/null ||
    die "Go is not installed (FerretDB $FERRETDB_VERSION is built from source with Go >= 1.25)"
  local version minor toolchain
  version=$(go env GOVERSION)
  minor=$(sed -E 's/^go1\.([0-9]+).*/\1/' <<<"$version")
  [[ $minor =~ ^[0-9]+$ ]] || die "cannot tell the version of Go from '$version' (go env GOVERSION)"
  ((minor < 25)) || return 0
  toolchain=$(go env GOTOOLCHAIN)
  if ((minor >= 21)) && [[ $toolchain == auto || $toolchain == *+auto ]]; then
    say "Go $version: go fetches the toolchain FerretDB $FERRETDB_VERSION asks for (GOTOOLCHAIN=$toolchain)"
    return 0
  fi
  die "Go $version is too old: FerretDB $FERRETDB_VERSION needs Go >= 1.25, and GOTOOLCHAIN=${toolchain:-unset} does not let go fetch it (GOTOOLCHAIN=auto would, from Go 1.21)"
}
