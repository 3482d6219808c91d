#!/bin/sh
# Cross-project integration check: every `requires` line (NAME >= VERSION)
# of every project in the workspace must be met by the `version` file of
# NAME as it stands in this item's speculative state. The workspace holds the
# job's own project, those changed ahead and its required-projects: list
# every project it reads there.
set -eu
status=0
for project in "$GATEQ_WORKSPACE"/src/*; do
    [ -f "$project/requires" ] || continue
    while read -r name op want; do
        [ -n "$name" ] || continue
        have=$(cat "$GATEQ_WORKSPACE/src/$name/version" 2>/dev/null || echo missing)
        lowest=$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)
        if [ "$have" = missing ] || [ "$lowest" != "$want" ]; then
            echo "$(basename "$project") requires $name $op $want, found $have"
            status=1
        else
            echo "$(basename "$project") requires $name $op $want: ok ($have)"
        fi
    done < "$project/requires"
done
exit $status
