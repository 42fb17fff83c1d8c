#!/usr/bin/env bash
# Installs the Debian packages headless rendering needs (EGL, with OSMesa as fall-back), when they are missing and
# this is a Debian/Ubuntu machine where we are root. Otherwise says what is missing and carries on: everything but
# rendering works without them, and the rendering tests say what to install.
set -u
pkgs=(libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libopengl0 libosmesa6)
command -v dpkg >/dev/null 2>&1 || { echo "system_deps: not a Debian system; install EGL or OSMesa yourself" >&2; exit 0; }
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system_deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "system_deps: missing ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
fi
exit 0
