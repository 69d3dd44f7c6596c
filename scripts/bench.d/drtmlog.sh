# shellcheck shell=bash
# drtmlog: `measured drtm replay` of a large predicted TXT log (agile format,
# 2000 module events) against tpm2_eventlog parsing + replaying the same log.
# Sourced by scripts/bench.sh with $MEASURED, $BENCH_DIR and bench-lib.sh helpers.

dl_dir="$BENCH_DIR/drtmlog"
mkdir -p "$dl_dir/mods"
"$MEASURED" drtm synth-acm -o "$dl_dir/sinit.bin"
dl_nv1=$(printf nv | sha1sum | cut -c1-40)
dl_nv2=$(printf nv | sha256sum | cut -c1-64)
printf 'tpm = "2.0"\nbanks = ["sha1", "sha256"]\nextpol = "embedded"\nbiosac_reg_data = "%s"\n[nv_info_digests]\nsha1 = "%s"\nsha256 = "%s"\n[sinit_pubkey_digests]\nsha1 = "%s"\nsha256 = "%s"\n' \
  "$(printf '00%.0s' $(seq 32))" "$dl_nv1" "$dl_nv2" "$dl_nv1" "$dl_nv2" >"$dl_dir/profile.toml"
dl_args=()
for i in $(seq 2000); do
  printf 'module %s' "$i" >"$dl_dir/mods/m$i"
  dl_args+=(--module "$dl_dir/mods/m$i:arg=$i")
done
"$MEASURED" drtm predict --profile "$dl_dir/profile.toml" --acm "$dl_dir/sinit.bin" \
  --tboot /boot/tboot.gz "${dl_args[@]}" --log-out "$dl_dir/big.log" --log-format agile >/dev/null

dl_ours() { "$MEASURED" drtm replay "$dl_dir/big.log" >/dev/null; }
dl_peer() { tpm2_eventlog "$dl_dir/big.log" >/dev/null; }
row "drtm replay agile log, 2000 events" "$(best_of 5 dl_ours)" "$(best_of 5 dl_peer)"
