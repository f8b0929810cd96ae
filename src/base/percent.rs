//! Percent-decoding (`%XX` escapes) for the URLs the project parses (through
//! `crate::net::url`): NATS credentials (strict) and fetcher URIs (lenient,
//! as URLs in the wild need). Imports nothing from the crate.

/// What to do with a `%` that is not followed by two hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escapes {
    /// It is an error (the byte offset of the `%`).
    Strict,
    /// It stays as it is.
    Lenient,
}

/// Decodes the `%XX` escapes of `s` into bytes.
pub fn percent_decode(s: &str, escapes: Escapes) -> Result<Vec<u8>, usize> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (
                b.get(i + 1).and_then(|c| hex(*c)),
                b.get(i + 2).and_then(|c| hex(*c)),
            ) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ if escapes == Escapes::Strict => return Err(i),
                _ => {}
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_strictly_or_leniently() {
        assert_eq!(
            percent_decode("a%40b%3a", Escapes::Strict),
            Ok(b"a@b:".to_vec())
        );
        assert_eq!(percent_decode("100%", Escapes::Strict), Err(3));
        assert_eq!(percent_decode("%zz", Escapes::Strict), Err(0));
        assert_eq!(
            percent_decode("100%", Escapes::Lenient),
            Ok(b"100%".to_vec())
        );
        assert_eq!(
            percent_decode("%zz%41", Escapes::Lenient),
            Ok(b"%zzA".to_vec())
        );
    }
}
