#!/bin/sh
# Prints secrets, a lot of filler, and fails with status 3.
echo "connecting with password=hunter2"
echo "api_key: sk-12345" >&2
i=0
while [ $i -lt 3000 ]; do
	echo "filler line $i of the noisy script"
	i=$((i + 1))
done
echo "Token = final-secret-value"
echo "giving up"
exit 3
