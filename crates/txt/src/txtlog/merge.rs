//! Per-bank logs (TPM 2.0 legacy format) merged into one event list.

use super::log::TxtLog;
use crate::error::{Error, Result};
use crate::event::Event;

/// Merge per-bank logs into one event list: events with the same PCR, type
/// and data, in the same relative order, are one measurement.
pub fn merge_logs(logs: Vec<TxtLog>) -> Result<TxtLog> {
    let mut it = logs.into_iter();
    let Some(mut acc) = it.next() else {
        return Err(Error::Invalid {
            what: "TXT legacy log",
            msg: "no per-algorithm log".into(),
        });
    };
    for log in it {
        for b in &log.banks {
            if acc.banks.contains(b) {
                return Err(Error::Invalid {
                    what: "TXT legacy log",
                    msg: format!("two logs for bank {b}"),
                });
            }
            acc.banks.push(*b);
        }
        acc.events = merge_events(&acc.events, &log.events);
    }
    Ok(acc)
}

fn same_measurement(a: &Event, b: &Event) -> bool {
    a.pcr == b.pcr && a.event_type == b.event_type && a.data == b.data
}

/// Longest-common-subsequence merge; unmatched events keep their order.
fn merge_events(a: &[Event], b: &[Event]) -> Vec<Event> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if same_measurement(&a[i], &b[j]) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n.max(m));
    while i < n || j < m {
        if i < n && j < m && same_measurement(&a[i], &b[j]) {
            let mut e = a[i].clone();
            e.digests.extend(b[j].digests.clone());
            out.push(e);
            i += 1;
            j += 1;
        } else if j == m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(a[i].clone());
            i += 1;
        } else {
            out.push(b[j].clone());
            j += 1;
        }
    }
    out
}
