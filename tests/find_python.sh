# Sourced: find_python X.Y prints a working pythonX.Y (on the PATH, or pyenv's, whose shims run only the
# selected versions), or fails.
find_python() {
  local v=$1 c
  for c in "python$v" $(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$v".*/bin/python"$v" 2>/dev/null); do
    if "$c" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$v'.split('.'))))" 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  echo "python$v not found (install it, or set PYTHON / PYTHON38)" >&2; return 1
}
