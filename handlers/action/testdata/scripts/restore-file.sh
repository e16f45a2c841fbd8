#!/bin/sh
# Restores a file of the directory target $TARGET_ROOT from the drift driftwatch describes in
# its environment: the field is /files/<name>, the desired value a JSON string.
exec python3 -c '
import json, os
name = os.environ["DRIFTWATCH_FIELD"].rsplit("/", 1)[1]
with open(os.path.join(os.environ["TARGET_ROOT"], name), "w") as f:
    f.write(json.loads(os.environ["DRIFTWATCH_DESIRED"]))
'
