//! Per-bank logs (TPM 2.0 legacy format) merged into one event list.

use tcg::HashAlg;

use super::log::TxtLog;
use crate::error::{Error, Result};
use crate::event::Event;

/// The most events by which per-bank logs may differ, past their common
/// start and end, and still be merged (logs of one launch differ in none;
/// a bank whose buffer filled up early only lacks a tail, which is free).
pub const MAX_BANK_DIFFERENCE: usize = 1000;

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
        let events = merge_events(acc.events, log.events).ok_or_else(|| Error::Invalid {
            what: "TXT legacy log",
            msg: format!(
                "the {} log differs from the {} log in more than {MAX_BANK_DIFFERENCE} events: \
                 they are not logs of one launch",
                log.banks
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join("/"),
                acc.banks[0]
            ),
        })?;
        acc.events = events;
    }
    Ok(acc)
}

/// Merge two event lists along a shortest edit script between them (so a
/// longest common subsequence of measurements); unmatched events keep their
/// order, the first list's before the second's where both have some.
///
/// Linear in the lists' sizes for the differences logs really have: the
/// common start and end are matched directly, and the middle by Myers'
/// O((n+m)·D) algorithm with D at most [`MAX_BANK_DIFFERENCE`] (`None` past
/// it). Events are compared by a digest of their measurement, computed once.
fn merge_events(a: Vec<Event>, b: Vec<Event>) -> Option<Vec<Event>> {
    let mut ids = std::collections::HashMap::new();
    let mut id = |e: &Event| -> u32 {
        let mut h = HashAlg::Sha256.hasher();
        h.update(&e.pcr.to_le_bytes());
        h.update(&e.event_type.to_le_bytes());
        h.update(&e.data.0);
        let key = h.finalize();
        let next = ids.len() as u32;
        *ids.entry(key).or_insert(next)
    };
    let ka: Vec<u32> = a.iter().map(&mut id).collect();
    let kb: Vec<u32> = b.iter().map(&mut id).collect();
    let ops = edit_script(&ka, &kb, MAX_BANK_DIFFERENCE)?;
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    let mut out = Vec::with_capacity(ka.len().max(kb.len()));
    let mut only_b = Vec::new();
    for op in ops {
        match op {
            Op::Both => {
                out.append(&mut only_b);
                let (mut e, f) = (a.next()?, b.next()?);
                e.digests.extend(f.digests);
                out.push(e);
            }
            Op::OnlyA => out.push(a.next()?),
            Op::OnlyB => only_b.push(b.next()?),
        }
    }
    out.append(&mut only_b);
    Some(out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Both,
    OnlyA,
    OnlyB,
}

/// A shortest edit script from `a` to `b` with at most `max_d` insertions
/// and deletions, in order; `None` when more are needed.
pub(crate) fn edit_script(a: &[u32], b: &[u32], max_d: usize) -> Option<Vec<Op>> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a_mid, b_mid) = (&a[pre..], &b[pre..]);
    let suf = a_mid
        .iter()
        .rev()
        .zip(b_mid.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_mid, b_mid) = (&a_mid[..a_mid.len() - suf], &b_mid[..b_mid.len() - suf]);
    let mut ops = vec![Op::Both; pre];
    if a_mid.is_empty() || b_mid.is_empty() {
        ops.extend(std::iter::repeat_n(Op::OnlyA, a_mid.len()));
        ops.extend(std::iter::repeat_n(Op::OnlyB, b_mid.len()));
    } else {
        ops.extend(myers(a_mid, b_mid, max_d)?);
    }
    ops.extend(std::iter::repeat_n(Op::Both, suf));
    Some(ops)
}

/// Myers' greedy shortest edit script, keeping each round's frontier for
/// the walk back (memory O(D²), D ≤ `max_d`).
fn myers(a: &[u32], b: &[u32], max_d: usize) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (a.len() + b.len()).min(max_d) as isize;
    // v[k + off]: the furthest x reached on diagonal k = x - y.
    let off = max + 1;
    let mut v = vec![0isize; 2 * max as usize + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let mut found = None;
    'rounds: for d in 0..=max {
        // What round d reads: diagonals -d-1 ..= d+1 as left by round d-1.
        trace.push(v[(off - d - 1) as usize..=(off + d + 1) as usize].to_vec());
        for k in (-d..=d).step_by(2) {
            let down = k == -d || (k != d && v[(off + k - 1) as usize] < v[(off + k + 1) as usize]);
            let mut x = if down {
                v[(off + k + 1) as usize]
            } else {
                v[(off + k - 1) as usize] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[(off + k) as usize] = x;
            if x >= n && y >= m {
                found = Some(d);
                break 'rounds;
            }
        }
    }
    found?;
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        // `v` holds diagonals -d-1 ..= d+1.
        let at = |k: isize| v[(k + d + 1) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = at(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Both);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            ops.push(if x == prev_x { Op::OnlyB } else { Op::OnlyA });
        }
        (x, y) = (prev_x, prev_y);
    }
    ops.reverse();
    Some(ops)
}
