fn main() {
    let p = std::env::args().nth(1).unwrap();
    let log = tcg::EventLog::read(std::path::Path::new(&p)).unwrap();
    for e in &log.events {
        println!(
            "{} @{} pcr{} {} {}",
            e.index,
            e.offset,
            e.pcr,
            e.event_type,
            e.decoded()
        );
    }
    let r = tcg::replay(&log);
    println!("{:?}", r.quirks);
    for m in &r.mismatches {
        println!(
            "MISMATCH {} pcr{} {} {}",
            m.event, m.pcr, m.event_type, m.alg
        );
    }
}
