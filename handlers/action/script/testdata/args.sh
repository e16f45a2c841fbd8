#!/bin/sh
# Writes its arguments, NUL-terminated, to $ARGS_FILE.
printf '%s\0' "$@" > "$ARGS_FILE"
