# shellcheck shell=bash
# Builds the store's PostgreSQL extensions from source: libbson 1.28.0, pgvector 0.8.0,
# pg_cron 1.6.3 and DocumentDB (pg_documentdb_core, pg_documentdb). Sourced by scripts/install.
#
# Sources: the archives in ../shared/vendor when present (each checked against the sha256 in
# scripts/lib/documentdb.sources), otherwise the same commits cloned from their origin
# repositories (each checked against the commit id there). Why these versions and what broke
# before: ../shared/vendor/BUILD-NOTES.md. Installed files land in PostgreSQL's system folders,
# so a machine that built them once skips every step.

DOCUMENTDB_SOURCES=$REPO_ROOT/scripts/lib/documentdb.sources
VENDOR_DIR=${VENDOR_DIR:-$REPO_ROOT/../shared/vendor}
BUILD_DIR=$STACK_DIR/build
PG_CONFIG=$PG_BIN/pg_config
JOBS=${JOBS:-$(nproc)}

# The source tree of one archive named in documentdb.sources, extracted under BUILD_DIR.
# Prints the directory that holds the sources.
documentdb_source() {
  local name=$1 file origin commit sha
  read -r file origin commit sha < <(awk -v n="$name" '$1 == n { print $2, $3, $4, $5 }' "$DOCUMENTDB_SOURCES")
  [[ -n $file ]] || die "no source named $name in $DOCUMENTDB_SOURCES"
  local dest=$BUILD_DIR/$name
  rm -rf "$dest"
  mkdir -p "$dest"
  if [[ -f $VENDOR_DIR/$file ]]; then
    local got
    got=$(sha256sum "$VENDOR_DIR/$file" | cut -d' ' -f1)
    [[ $got == "$sha" ]] || die "$VENDOR_DIR/$file: sha256 $got, expected $sha"
    # Callers capture stdout as the source path: progress goes to stderr, and a failure
    # must stop here (set -e does not reach into a command substitution).
    tar -xzf "$VENDOR_DIR/$file" -C "$dest" || die "could not unpack $VENDOR_DIR/$file"
  else
    say "  $VENDOR_DIR/$file absent: cloning $origin at $commit" >&2
    git clone -q "$origin" "$dest/src" || die "could not clone $origin"
    git -C "$dest/src" checkout -q "$commit" || die "$origin has no commit $commit"
    [[ $(git -C "$dest/src" rev-parse HEAD) == "$commit" ]] || die "$origin: checked out the wrong commit"
  fi
  # An archive holds one top folder (git archive --prefix) or the tree itself.
  local entries=("$dest"/*)
  if [[ ${#entries[@]} -eq 1 && -d ${entries[0]} ]]; then echo "${entries[0]}"; else echo "$dest"; fi
}

build_documentdb_stack() {
  export PG_CONFIG
  # Debian ships the Intel decimal library as libbidgcc000.a without the intelmathlib.pc that
  # DocumentDB's Makefile asks pkg-config for.
  local pcdir=/usr/local/lib/pkgconfig
  mkdir -p "$pcdir"
  if [[ ! -f $pcdir/intelmathlib.pc ]]; then
    cat >"$pcdir/intelmathlib.pc" <<'PC'
prefix=/usr
libdir=${prefix}/lib/x86_64-linux-gnu
includedir=${prefix}/include

Name: intelmathlib
Description: Intel Decimal Floating point math library (Debian libintelrdfpmath-dev)
Version: 2.0 Update 2
Cflags: -I${includedir}
Libs: -L${libdir} -lbidgcc000
PC
  fi
  export PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  local ext=/usr/share/postgresql/15/extension src

  # Debian 12's libbson is 1.23; DocumentDB needs >= 1.25 (BSON_SUBTYPE_SENSITIVE).
  if [[ $(pkg-config --modversion libbson-static-1.0 2>/dev/null) != 1.28.0 ]]; then
    say "building libbson 1.28.0"
    src=$(documentdb_source mongo-c-driver)
    cmake -S "$src" -B "$src/_b" -DENABLE_MONGOC=OFF -DENABLE_TESTS=OFF -DENABLE_EXAMPLES=OFF \
      -DENABLE_STATIC=ON -DENABLE_SHARED=ON -DENABLE_ICU=OFF -DENABLE_UNINSTALL=OFF \
      -DCMAKE_C_FLAGS=-fPIC -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr/local \
      >"$LOG_DIR/libbson.log" 2>&1 || { tail -30 "$LOG_DIR/libbson.log"; die "libbson cmake failed"; }
    make -s -C "$src/_b" -j"$JOBS" install >>"$LOG_DIR/libbson.log" 2>&1 ||
      { tail -30 "$LOG_DIR/libbson.log"; die "libbson build failed"; }
  fi
  # Not packaged for PostgreSQL 15 in Debian 12. OPTFLAGS="": no -march=native, runs anywhere.
  if [[ ! -f $ext/vector.control ]]; then
    say "building pgvector 0.8.0"
    src=$(documentdb_source pgvector)
    { make -C "$src" -j"$JOBS" OPTFLAGS="" && make -C "$src" install; } >"$LOG_DIR/pgvector.log" 2>&1 ||
      { tail -30 "$LOG_DIR/pgvector.log"; die "pgvector build failed"; }
  fi
  # Debian's 1.4.2 rejects the '2 seconds' schedule DocumentDB's CREATE EXTENSION uses.
  if ! grep -q "default_version = '1.6'" "$ext/pg_cron.control" 2>/dev/null; then
    say "building pg_cron 1.6.3"
    src=$(documentdb_source pg_cron)
    { make -C "$src" -j"$JOBS" && make -C "$src" install; } >"$LOG_DIR/pg_cron.log" 2>&1 ||
      { tail -30 "$LOG_DIR/pg_cron.log"; die "pg_cron build failed"; }
  fi
  local want
  want=$(awk '$1 == "documentdb" { print $4 }' "$DOCUMENTDB_SOURCES")
  if [[ ! -f $ext/documentdb.control || $(cat "$ext/documentdb.commit" 2>/dev/null) != "$want" ]]; then
    say "building DocumentDB (pg_documentdb_core, pg_documentdb; about a minute)"
    src=$(documentdb_source documentdb)
    local d
    # No PG_LDFLAGS on the command line: it would replace the Makefiles' own, which link
    # libbson in statically.
    for d in pg_documentdb_core pg_documentdb; do
      { make -C "$src/$d" -j"$JOBS" && make -C "$src/$d" install; } >"$LOG_DIR/${d##*/}.log" 2>&1 ||
        { tail -40 "$LOG_DIR/${d##*/}.log"; die "$d build failed"; }
    done
    # A library that does not resolve every symbol fails only when PostgreSQL loads it.
    for d in pg_documentdb_core pg_documentdb; do
      if nm -D --undefined-only "$($PG_CONFIG --pkglibdir)/$d.so" | grep -q ' bson_'; then
        die "$d.so left libbson symbols unresolved (see $LOG_DIR)"
      fi
    done
    echo "$want" >"$ext/documentdb.commit"
  fi
  rm -rf "$BUILD_DIR"
}
