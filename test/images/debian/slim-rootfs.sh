#!/bin/sh
# Turns a `debootstrap --variant=minbase bookworm` tree into a container root filesystem close
# to the official `debian:bookworm-slim` image (built by debuerreotype): the same
# container-specific apt/dpkg settings and the same "slim" path excludes, so packages installed
# later by the Dockerfiles under test/images/ also skip docs, man pages and translations.
#
# usage: slim-rootfs.sh <rootfs-dir>     (run as root on the host, before `docker import`)
set -eu
root=${1:?usage: slim-rootfs.sh <rootfs-dir>}
[ -x "$root/usr/bin/dpkg" ] || { echo "slim-rootfs.sh: $root is not a Debian root filesystem" >&2; exit 1; }

# Package sources: the release plus its updates and security suites (as in the official image).
cat > "$root/etc/apt/sources.list" <<'SRC'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SRC

# Services must never start while packages are installed during an image build.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# Slim path excludes for every later dpkg run.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
DPKG

# apt: no package cache kept in image layers, no translations, gzip-compressed indexes.
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'APT::AutoRemove::SuggestsImportant "false";' > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests"

# Apply the excludes to what debootstrap already installed, and drop caches and indexes.
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root/usr/share/groff"/* "$root/usr/share/info"/* "$root/usr/share/linda"/* \
  "$root/usr/share/lintian/overrides"/* "$root/usr/share/locale"/* "$root/usr/share/man"/*
rm -rf "$root/var/cache/apt"/*.bin "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
rm -f "$root/var/log/"*.log "$root/var/log/apt"/* "$root/etc/machine-id"
: > "$root/etc/resolv.conf"
: > "$root/etc/hostname"
