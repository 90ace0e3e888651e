//! A client's `Range` header, read as RFC 9110 §14 says, against the object's length.
//!
//! Only one `bytes=` range is served. A header that is not that — another unit, several
//! ranges, or anything that does not parse — is ignored and the whole object served
//! (RFC 9110 §14.2 lets a server ignore `Range`), so no client text reaches the store:
//! it is sent only the absolute [`ByteRange`] worked out here.

use greyfaas_store::ByteRange;

/// What a `Range` header asks of an object of a known length.
#[derive(Debug, PartialEq, Eq)]
pub enum Wanted {
    /// No usable range: the whole object, 200.
    Whole,
    /// This part of it, 206.
    Part(ByteRange),
    /// A range wholly outside the object (first byte at or past its end, or an empty
    /// suffix): 416.
    Unsatisfiable,
}

/// One range spec, before the object's length is known.
#[derive(Debug, PartialEq, Eq)]
enum Spec {
    /// `first-` or `first-last` (`last` at least `first`).
    From { first: u64, last: Option<u64> },
    /// `-length`: the last `length` bytes.
    Suffix(u64),
}

/// What `header` (a `Range` value) selects of an object of `length` bytes.
pub fn wanted(header: &str, length: u64) -> Wanted {
    let Some(spec) = parse(header) else {
        return Wanted::Whole;
    };
    if length == 0 {
        // Nothing to select a part of: no int-range is satisfiable and a suffix is the
        // (empty) whole.
        return match spec {
            Spec::Suffix(n) if n > 0 => Wanted::Whole,
            _ => Wanted::Unsatisfiable,
        };
    }
    let end = length - 1;
    match spec {
        Spec::From { first, .. } if first > end => Wanted::Unsatisfiable,
        Spec::From { first, last } => Wanted::Part(ByteRange {
            first,
            last: last.map_or(end, |last| last.min(end)),
        }),
        Spec::Suffix(0) => Wanted::Unsatisfiable,
        Spec::Suffix(n) => Wanted::Part(ByteRange {
            first: length - n.min(length),
            last: end,
        }),
    }
}

/// `bytes=<spec>` with exactly one spec, or `None` for anything else.
fn parse(header: &str) -> Option<Spec> {
    let (unit, set) = header.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return Some(Spec::Suffix(number(last)?));
    }
    let first = number(first)?;
    let last = match last {
        "" => None,
        last => Some(number(last)?),
    };
    // RFC 9110 §14.1.1: last-pos below first-pos makes the range invalid, not empty.
    if last.is_some_and(|last| last < first) {
        return None;
    }
    Some(Spec::From { first, last })
}

/// 1*DIGIT, saturating: a position past `u64::MAX` is past any object's end, and a
/// suffix that long is the whole object, so the exact value never matters.
fn number(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.bytes().fold(0u64, |n, b| {
        n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(first: u64, last: u64) -> Wanted {
        Wanted::Part(ByteRange { first, last })
    }

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        let cases = [
            ("bytes=0-9", part(0, 9)),
            ("bytes=2-", part(2, 97)),
            ("bytes=90-1000", part(90, 97)),
            ("bytes=97-97", part(97, 97)),
            ("bytes=-10", part(88, 97)),
            ("bytes=-98", part(0, 97)),
            ("bytes=-1000", part(0, 97)),
            ("bytes=-9223372036854775808", part(0, 97)),
            ("bytes=-99999999999999999999999999", part(0, 97)),
            ("bytes=0-99999999999999999999999999", part(0, 97)),
            (" Bytes = 1 - 2 ", part(1, 2)),
            ("bytes=98-", Wanted::Unsatisfiable),
            ("bytes=98-100", Wanted::Unsatisfiable),
            ("bytes=99999999999999999999999999-", Wanted::Unsatisfiable),
            ("bytes=-0", Wanted::Unsatisfiable),
            ("bytes=0-1,4-5", Wanted::Whole),
            ("bytes=50-10", Wanted::Whole),
            ("bytes=--1", Wanted::Whole),
            ("bytes=+1-2", Wanted::Whole),
            ("bytes=1-2-3", Wanted::Whole),
            ("bytes=-", Wanted::Whole),
            ("bytes=", Wanted::Whole),
            ("bytes", Wanted::Whole),
            ("lines=1-2", Wanted::Whole),
            ("bytes=٣-4", Wanted::Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(wanted(header, 98), expected, "{header}");
        }
    }

    #[test]
    fn an_empty_object_has_no_part() {
        assert_eq!(wanted("bytes=0-", 0), Wanted::Unsatisfiable);
        assert_eq!(wanted("bytes=-5", 0), Wanted::Whole);
        assert_eq!(wanted("bytes=-0", 0), Wanted::Unsatisfiable);
    }
}
