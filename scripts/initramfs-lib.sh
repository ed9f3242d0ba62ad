# Shell functions shared by tests/real-kvm/lane.sh and scripts/make-linux.sh (sourced, bash):
# Debian packages fetched with `apt-get download` and unpacked (never installed), and a
# staging directory packed as an initramfs (cpio "newc", gzip).

# debian_fetch DEBS_DIR PKG...: downloads each package's .deb into DEBS_DIR unless cached.
# On failure prints the reason and returns 1.
debian_fetch() {
    local debs=$1 pkg
    shift
    mkdir -p "$debs" || return 1
    for pkg in "$@"; do
        if ! ls "$debs/${pkg}_"*.deb >/dev/null 2>&1; then
            (cd "$debs" && apt-get download -qq "$pkg" >/dev/null 2>"$debs/download.log") || {
                echo "apt-get download $pkg failed: $(tail -n1 "$debs/download.log")"
                return 1
            }
        fi
    done
}

# debian_unpack TREE DEB...: unpacks the packages into TREE once (TREE/.unpacked marks it).
debian_unpack() {
    local tree=$1 deb
    shift
    [ -e "$tree/.unpacked" ] && return 0
    rm -rf "$tree" && mkdir -p "$tree" || return 1
    for deb in "$@"; do
        dpkg-deb -x "$deb" "$tree" || { echo "unpacking $deb failed"; return 1; }
    done
    touch "$tree/.unpacked"
}

# pack_initramfs STAGING OUT: STAGING's files as a gzipped newc cpio archive at OUT.
pack_initramfs() {
    (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) >"$2.tmp" && mv "$2.tmp" "$2"
}
