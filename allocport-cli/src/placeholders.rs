//! `{port0}`, `{port1}`, ... and `{ports}` in the command's arguments.
//!
//! Anything else in braces is left alone, so JSON or shell `${VAR}` text passes through; a
//! `{portN}` beyond the ports asked for is an error found before any port is allocated.

use std::ffi::{OsStr, OsString};

/// One placeholder found in an argument.
#[derive(Debug, PartialEq, Eq)]
enum Placeholder {
    /// `{portN}`: the port of index N.
    Port(usize),
    /// `{ports}`: every port, comma-separated.
    All,
}

/// Splits `bytes` into literal text and placeholders, in order.
fn scan(bytes: &[u8]) -> Vec<Result<&[u8], Placeholder>> {
    let mut parts = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some((placeholder, len)) = placeholder_at(&bytes[i..]) {
            if literal_start < i {
                parts.push(Ok(&bytes[literal_start..i]));
            }
            parts.push(Err(placeholder));
            i += len;
            literal_start = i;
        } else {
            i += 1;
        }
    }
    if literal_start < bytes.len() {
        parts.push(Ok(&bytes[literal_start..]));
    }
    parts
}

/// The placeholder at the start of `bytes`, with its length in bytes.
fn placeholder_at(bytes: &[u8]) -> Option<(Placeholder, usize)> {
    if bytes.starts_with(b"{ports}") {
        return Some((Placeholder::All, b"{ports}".len()));
    }
    let rest = bytes.strip_prefix(b"{port")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&b'}') {
        return None;
    }
    // Leading zeros or a huge number still name an index; one past usize is out of range anyway.
    let index = std::str::from_utf8(&rest[..digits])
        .ok()?
        .parse()
        .unwrap_or(usize::MAX);
    Some((Placeholder::Port(index), b"{port".len() + digits + 1))
}

/// Checks that every `{portN}` in `args` names one of `count` ports, before allocating them.
pub(crate) fn check(args: &[OsString], count: usize) -> Result<(), String> {
    for (position, arg) in args.iter().enumerate() {
        for part in scan(arg.as_encoded_bytes()) {
            if let Err(Placeholder::Port(index)) = part {
                if index >= count {
                    let held = match count {
                        0 => "no port".to_owned(),
                        1 => "only {port0}".to_owned(),
                        _ => format!("only {{port0}} to {{port{}}}", count - 1),
                    };
                    return Err(format!(
                        "argument {} ({:?}) uses {{port{index}}}, but -n {count} holds {held}",
                        position + 1,
                        arg,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// `arg` with its placeholders replaced by `ports`; [`check`] must have passed.
pub(crate) fn substitute(arg: &OsStr, ports: &[u16]) -> OsString {
    let parts = scan(arg.as_encoded_bytes());
    if parts.iter().all(Result::is_ok) {
        return arg.to_owned();
    }
    let mut out = Vec::with_capacity(arg.len() + 16);
    for part in parts {
        match part {
            Ok(literal) => out.extend_from_slice(literal),
            Err(Placeholder::Port(index)) => {
                out.extend_from_slice(ports[index].to_string().as_bytes());
            }
            Err(Placeholder::All) => out.extend_from_slice(join(ports).as_bytes()),
        }
    }
    // SAFETY: `out` is the original encoded bytes cut only around placeholders, which are
    // non-empty ASCII (so valid UTF-8) substrings, with ASCII put in their place: exactly the
    // splitting and joining that `as_encoded_bytes` documents as sound.
    unsafe { OsString::from_encoded_bytes_unchecked(out) }
}

/// The ports as `ALLOCPORT_PORTS` and `{ports}` give them: `p1,p2,...`.
pub(crate) fn join(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(arg: &str, ports: &[u16]) -> String {
        substitute(OsStr::new(arg), ports).into_string().unwrap()
    }

    #[test]
    fn replaces_indexed_and_all_placeholders() {
        assert_eq!(sub("--port={port0}", &[2001, 2002]), "--port=2001");
        assert_eq!(sub("{port1}:{port0}", &[2001, 2002]), "2002:2001");
        assert_eq!(sub("{ports}", &[2001, 2002, 7]), "2001,2002,7");
        assert_eq!(sub("a{port0}b{port0}c", &[5]), "a5b5c");
        assert_eq!(sub("{port01}", &[5, 6]), "6");
    }

    #[test]
    fn leaves_other_braces_alone() {
        for text in [
            "",
            "plain",
            "{}",
            "{port}",
            "{portx}",
            "{port0",
            "{ port0}",
            "${PORT_0}",
            r#"{"port0": 1}"#,
            "{port-1}",
            "{PORT0}",
        ] {
            assert_eq!(sub(text, &[1]), text);
        }
        assert_eq!(sub("{{port0}}", &[9]), "{9}");
    }

    #[test]
    fn keeps_non_ascii_text_around_placeholders() {
        assert_eq!(sub("é{port0}ü", &[80]), "é80ü");
    }

    #[cfg(unix)]
    #[test]
    fn keeps_non_utf8_bytes_around_placeholders() {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let arg = OsStr::from_bytes(b"\xff{port0}\xfe");
        assert_eq!(substitute(arg, &[42]).into_vec(), b"\xff42\xfe");
    }

    #[test]
    fn check_rejects_an_index_beyond_the_count() {
        let args: Vec<OsString> = ["server", "--a={port0}", "--b={port2}"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(check(&args, 3).is_ok());
        let error = check(&args, 2).unwrap_err();
        assert!(error.contains("argument 3"), "{error}");
        assert!(error.contains("{port2}"), "{error}");
        assert!(
            error.contains("-n 2 holds only {port0} to {port1}"),
            "{error}"
        );
        let error = check(&[OsString::from("{port1}")], 1).unwrap_err();
        assert!(error.ends_with("-n 1 holds only {port0}"), "{error}");
        assert!(check(&[OsString::from("{port99999999999999999999999}")], 3).is_err());
    }
}
