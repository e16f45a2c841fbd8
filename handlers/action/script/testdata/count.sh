#!/bin/sh
# Appends the action id to $COUNT_FILE.
echo "$DRIFTWATCH_ACTION_ID" >> "$COUNT_FILE"
