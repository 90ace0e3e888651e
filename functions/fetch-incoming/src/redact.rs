//! URLs as they may be logged or answered: without their `user:password@`.
//!
//! A caller may put credentials in a download URL (`https://user:token@host/x.png`);
//! they must reach that host and nothing else — not the log, not an error body (which
//! the gateway and its clients may log in turn). The query is kept: it is where a
//! failing URL is told apart, and signed-URL tokens there are the caller's own choice.

use url::Url;

/// Stands for removed credentials, so a reader still sees that some were given.
const HIDDEN: &str = "***";

/// `text` (a URL as the caller sent it, parseable or not) with any userinfo of its
/// authority replaced by `***`. Scans as the URL parser does: the authority ends at
/// the first `/`, `?` or `#`, its userinfo at the last `@` before that.
pub fn text(text: &str) -> String {
    let start = text.find("://").map_or(0, |i| i + 3);
    let rest = &text[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{}{HIDDEN}{}", &text[..start], &rest[at..]),
        None => text.to_string(),
    }
}

/// `url` without credentials, in place (a reqwest error's URL before it is shown).
pub fn url(url: &mut Url) {
    if !url.username().is_empty() || url.password().is_some() {
        // Cannot fail: only URLs without a host refuse a username, and they have none.
        let _ = url.set_password(None);
        let _ = url.set_username(HIDDEN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_hidden_and_the_rest_kept() {
        let cases = [
            ("https://u:p@host/a.png?x=1", "https://***@host/a.png?x=1"),
            ("http://user@host:8080/", "http://***@host:8080/"),
            ("http://a:b@c@host/x@y", "http://***@host/x@y"),
            ("http://u:p@/nohost", "http://***@/nohost"),
            ("u:p@host/x", "***@host/x"),
            ("https://host/a@b.png", "https://host/a@b.png"),
            ("https://host?q=a@b", "https://host?q=a@b"),
            ("not a url", "not a url"),
        ];
        for (given, shown) in cases {
            assert_eq!(text(given), shown, "{given}");
        }
        let mut parsed = Url::parse("https://user:secret@example.com/x?y=1").unwrap();
        url(&mut parsed);
        assert_eq!(parsed.as_str(), "https://***@example.com/x?y=1");
    }
}
