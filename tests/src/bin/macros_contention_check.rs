//! Checks the log of `.ci/macros-nextest-scenario`: every contention test ran, used only
//! ports of the range offered, and no port was held by two tests at the same time.
//!
//! Usage: `macros_contention_check <log dir> <expected tests> <first port> <last port>`

use std::collections::BTreeMap;
use std::process::ExitCode;

struct Record {
    test: String,
    ports: [u16; 2],
    start: u128,
    end: u128,
}

fn parse_line(file: &str, line: &str) -> Result<Record, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [test, p0, p1, start, end] = fields.as_slice() else {
        return Err(format!("{file}: expected 5 fields, got {line:?}"));
    };
    let num = |what: &str, s: &str| -> Result<u128, String> {
        s.parse()
            .map_err(|_| format!("{file}: {what} {s:?} is not a number"))
    };
    let port = |s: &str| -> Result<u16, String> {
        s.parse()
            .map_err(|_| format!("{file}: port {s:?} is not a port number"))
    };
    Ok(Record {
        test: (*test).to_owned(),
        ports: [port(p0)?, port(p1)?],
        start: num("start", start)?,
        end: num("end", end)?,
    })
}

fn run(args: &[String]) -> Result<String, String> {
    let [dir, expected, first, last] = args else {
        return Err(
            "usage: macros_contention_check <log dir> <expected tests> <first port> <last port>"
                .into(),
        );
    };
    let expected: usize = expected
        .parse()
        .map_err(|_| format!("expected tests: {expected:?} is not a number"))?;
    let range = first
        .parse::<u16>()
        .and_then(|f| last.parse::<u16>().map(|l| f..=l))
        .map_err(|_| format!("port range: {first:?}-{last:?} is not a range of ports"))?;

    let mut records = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{dir}: cannot read: {e}"))?;
    for entry in entries {
        let path = entry.map_err(|e| format!("{dir}: {e}"))?.path();
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{name}: cannot read: {e}"))?;
        records.push(parse_line(&name, text.trim())?);
    }
    if records.len() != expected {
        return Err(format!(
            "{dir}: {} test(s) logged, expected {expected}",
            records.len()
        ));
    }

    let mut by_port: BTreeMap<u16, Vec<&Record>> = BTreeMap::new();
    for r in &records {
        for port in r.ports {
            if !range.contains(&port) {
                return Err(format!(
                    "{}: port {port} is outside PYSYS_PORTS {first}-{last}",
                    r.test
                ));
            }
            by_port.entry(port).or_default().push(r);
        }
    }
    for (port, users) in &mut by_port {
        users.sort_by_key(|r| r.start);
        for pair in users.windows(2) {
            if pair[1].start < pair[0].end {
                return Err(format!(
                    "port {port} was held by {} and {} at the same time",
                    pair[0].test, pair[1].test
                ));
            }
        }
    }

    // The most tests that held ports at one instant: at most half the ports offered.
    let mut events: Vec<(u128, i32)> = records
        .iter()
        .flat_map(|r| [(r.start, 1), (r.end, -1)])
        .collect();
    events.sort();
    let (mut now, mut peak) = (0, 0);
    for (_, delta) in events {
        now += delta;
        peak = peak.max(now);
    }
    Ok(format!(
        "{} tests, {} distinct ports of {first}-{last} used, no port held twice at once; \
         at most {peak} tests held ports simultaneously",
        records.len(),
        by_port.len()
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(summary) => {
            println!("macros_contention_check: ok: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("macros_contention_check: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
