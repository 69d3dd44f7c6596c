//! One module per subcommand; each owns its arguments and its `run`.

pub mod build;
pub mod drtm;
pub mod drtmlog;
pub mod fs;
pub mod image;
pub mod log;
pub mod manpages;
pub mod policy;
pub mod signing;
pub mod vhd;

/// `SOURCE_DATE_EPOCH`, read and checked the same way by every command that
/// writes a time into an output: `None` when unset. Set but not seconds
/// since 1970 as a plain decimal number a `u32` holds (what `date +%s`
/// prints, up to 2106) is an error, never silently ignored.
pub fn source_date_epoch() -> anyhow::Result<Option<i64>> {
    let Some(v) = std::env::var_os("SOURCE_DATE_EPOCH") else {
        return Ok(None);
    };
    let s = v.to_string_lossy();
    match s.parse::<u32>() {
        Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(i64::from(n))),
        _ => anyhow::bail!(
            "SOURCE_DATE_EPOCH={s:?}: expected seconds since 1970-01-01 as a decimal integer from 0 to {}",
            u32::MAX
        ),
    }
}

/// The epoch of a build: `SOURCE_DATE_EPOCH`, or 0 so that builds are
/// reproducible by default.
pub fn build_epoch() -> anyhow::Result<i64> {
    Ok(source_date_epoch()?.unwrap_or(0))
}
