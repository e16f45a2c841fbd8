#!/bin/sh
# Starts a child that would outlive it, notes the child's pid, and hangs.
sleep "$NAP" &
echo $! > "$PID_FILE"
sleep "$NAP"
