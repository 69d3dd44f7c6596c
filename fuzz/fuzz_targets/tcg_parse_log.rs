#![no_main]
//! Parse arbitrary bytes as an event log; replay and decode whatever parses.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(log) = tcg::EventLog::parse(data) {
        let _ = tcg::replay(&log);
        let _ = tcg::ccel::replay_rtmrs(&log);
        for e in &log.events {
            let _ = e.decoded().to_string();
        }
    }
});
