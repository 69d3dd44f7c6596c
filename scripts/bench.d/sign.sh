# shellcheck shell=bash disable=SC2154  # $root comes from scripts/bench.sh
# Signing a launch, on the shipped example (examples/service-vm.toml) with
# `[policy] sign_key` (RSA 3072, the slowest key we take). Target: signing
# adds under 5 % to `measured build`.
# - clean builds, signed against unsigned (each round writes fresh bundles,
#   see `duel`): the ratio, within this machine's noise (a few %);
# - what the sign step costs: a rebuild in which only it runs (the policyRef
#   changes; image, prediction and policy are reused) less an unsigned rerun
#   in which nothing runs (so reading the key and the sign step's own checks
#   count as signing), against the clean unsigned build. This one is steady
#   where the first swings by ten percent on a shared machine.
# Sourced by scripts/bench.sh with $MEASURED, $BENCH_DIR and bench-lib.sh.

bench_sign() {
  local d="$BENCH_DIR/sign"
  rm -rf "$d" && mkdir -p "$d"
  bash "$root/scripts/example-inputs.sh" >/dev/null
  # The example spec with its relative paths made absolute, unsigned and signed.
  sed -e "s|\"\.\./target/|\"$root/target/|" -e "s|\"launch/|\"$root/examples/launch/|" \
    "$root/examples/service-vm.toml" >"$d/unsigned.toml"
  (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$d/release-key.pem" 2>/dev/null)
  { cat "$d/unsigned.toml"; printf 'sign_key = "%s"\n' "$d/release-key.pem"; } >"$d/signed.toml"
  export SOURCE_DATE_EPOCH=1700000000
  "$MEASURED" build "$d/signed.toml" --out "$d/check" >/dev/null
  [ -s "$d/check/policy/signed/signature.tss" ] || { echo "bench: sign: no signature" >&2; return 1; }
  rm -rf "$d/check"
  duel 5 "build example: signed / unsigned" \
    "$d/signed $d/.signed.statcache.json" "'$MEASURED' build '$d/signed.toml' --out '$d/signed'" \
    "$d/unsigned $d/.unsigned.statcache.json" "'$MEASURED' build '$d/unsigned.toml' --out '$d/unsigned'"
  local t_unsigned t_resign t_rerun t_sign
  t_unsigned=$(best_of 3 sh -c "rm -rf '$d/unsigned' '$d/.unsigned.statcache.json' && '$MEASURED' build '$d/unsigned.toml' --out '$d/unsigned'")
  sed 's/^sign_key = /policy_ref = "01"\nsign_key = /' "$d/signed.toml" >"$d/ref-01.toml"
  sed 's/^sign_key = /policy_ref = "02"\nsign_key = /' "$d/signed.toml" >"$d/ref-02.toml"
  "$MEASURED" build "$d/ref-01.toml" --out "$d/resign" >/dev/null
  t_rerun=$(best_of 5 "$MEASURED" build "$d/unsigned.toml" --out "$d/unsigned")
  t_resign=$(best_of 5 sh -c "'$MEASURED' build '$d/ref-02.toml' --out '$d/resign' && '$MEASURED' build '$d/ref-01.toml' --out '$d/resign'")
  t_sign=$(echo "$t_resign / 2 - $t_rerun" | bc -l)
  if [ "$(echo "$t_sign < 0.001" | bc -l)" = 1 ]; then t_sign=0.001; fi
  row "build example: sign step / unsigned" "$(printf '%.3f' "$t_sign")" "$t_unsigned"
}
bench_sign
