"""Bash completion of ``uv run stacks ...`` as well as ``stacks ...``.

click's bash script completes the command ``stacks`` by running ``stacks`` itself, which is on
``PATH`` only in an activated environment. This one also registers for ``uv``: after
``uv run [uv's options] stacks`` it asks ``uv run stacks`` for the completions (the project's
environment, wherever the shell is); for anything else it hands over to uv's own completion,
when the shell had one before this script was sourced.
"""

from __future__ import annotations

from click.shell_completion import BashComplete, add_completion_class

__all__ = ["UvBashComplete", "register"]

_UV = r"""
%(complete_func)s_uv() {
    local i=2
    if [[ ${COMP_WORDS[1]} == run ]]; then
        while (( i < COMP_CWORD )); do
            case ${COMP_WORDS[i]} in
                --package|--project|--with|--python|-p|--group|--extra|--directory) ((i += 2)) ;;
                -*) ((i += 1)) ;;
                *) break ;;
            esac
        done
    fi
    if [[ ${COMP_WORDS[1]} != run || $i -ge $COMP_CWORD ||
          ${COMP_WORDS[i]} != %(prog_name)s ]]; then
        if [[ -n $_%(complete_func)s_uv_previous ]]; then
            "$_%(complete_func)s_uv_previous" "$@"
        fi
        return
    fi
    local IFS=$'\n' response completion type value
    response=$(env COMP_WORDS="${COMP_WORDS[*]:i}" COMP_CWORD=$((COMP_CWORD - i)) \
        %(complete_var)s=bash_complete uv run --quiet %(prog_name)s 2>/dev/null)
    for completion in $response; do
        IFS=',' read type value <<< "$completion"
        if [[ $type == 'plain' ]]; then
            COMPREPLY+=($value)
        elif [[ $type == 'file' || $type == 'dir' ]]; then
            compopt -o default
        fi
    done
    return 0
}

# `|| true`: no completion for uv yet is not an error (a shell with `set -eo pipefail` would stop)
_%(complete_func)s_uv_previous=$( (complete -p uv 2>/dev/null || true) \
    | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
if [[ $_%(complete_func)s_uv_previous == %(complete_func)s_uv ]]; then
    _%(complete_func)s_uv_previous=
fi
complete -o nosort -F %(complete_func)s_uv uv
"""


class UvBashComplete(BashComplete):
    """click's bash completion, plus ``uv run stacks``."""

    source_template = BashComplete.source_template + _UV


def register() -> None:
    add_completion_class(UvBashComplete, "bash")
