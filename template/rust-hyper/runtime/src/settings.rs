//! A handler's own settings: read once from the function's environment, each with a
//! default.
//!
//! The runtime's [`Config`](crate::Config) refuses to start on a bad value; a handler's
//! setting that does not parse keeps its default instead, with a warning naming it — a
//! typo must not stop a function from starting, nor pass silently.
//!
//! A function's settings type implements [`FunctionSettings`]: it lists the names it
//! reads (so a misspelt environment key in stack.yml can be told) and reads them through
//! a [`SettingReader`]; [`assert_names_read`] holds that list to what it really asks for.

use std::collections::BTreeSet;
use std::time::Duration;

/// A handler's settings, read once per process.
pub trait FunctionSettings: Sized {
    /// Every environment name [`FunctionSettings::read`] asks for.
    const NAMES: &'static [&'static str];

    /// Builds the settings from what `reader` finds.
    fn read(reader: &SettingReader) -> Self;

    /// The settings as `lookup` (a map in tests) would give them.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self::read(&SettingReader::new(&lookup))
    }

    /// The settings from the process environment.
    fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// Panics unless `S` reads exactly its `NAMES`: each function's test of its list.
pub fn assert_names_read<S: FunctionSettings>() {
    let read = names_read(|lookup| {
        S::from_lookup(lookup);
    });
    let listed: BTreeSet<String> = S::NAMES.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        read, listed,
        "the names read, and the names listed in NAMES"
    );
}

/// Reads settings by name through a lookup: the process environment, or a map in tests.
pub struct SettingReader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> SettingReader<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        SettingReader { lookup }
    }

    /// The value, trimmed; `None` when unset or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The value parsed as `T`, or `default` when unset or unreadable (with a warning).
    pub fn parsed<T>(&self, name: &str, default: T) -> T
    where
        T: std::str::FromStr + std::fmt::Display + Copy,
    {
        number_setting(name, self.text(name), default)
    }

    /// One of a few words, as the value its word stands for in `choices`; `default`
    /// when unset or not one of them (with a warning naming the words).
    pub fn choice<T: Copy>(&self, name: &str, choices: &[(&str, T)], default: T) -> T {
        let Some(text) = self.text(name) else {
            return default;
        };
        match choices.iter().find(|(word, _)| *word == text) {
            Some((_, value)) => *value,
            None => {
                let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
                tracing::warn!(
                    name,
                    value = text,
                    ?words,
                    "not one of the words; using the default"
                );
                default
            }
        }
    }

    /// A duration (`30`, `30s`, `1m5s`, `250ms`), or `default` when unset or unreadable
    /// (with a warning). Zero is a value: callers for whom it means nothing say so with
    /// [`SettingReader::nonzero_duration`].
    pub fn duration(&self, name: &str, default: Duration) -> Duration {
        self.checked_duration(name, default, |_| true)
    }

    /// A duration that must be greater than zero (a timeout); zero keeps `default`.
    pub fn nonzero_duration(&self, name: &str, default: Duration) -> Duration {
        self.checked_duration(name, default, |d| !d.is_zero())
    }

    fn checked_duration(
        &self,
        name: &str,
        default: Duration,
        usable: impl Fn(Duration) -> bool,
    ) -> Duration {
        let Some(text) = self.text(name) else {
            return default;
        };
        match crate::parse_duration(&text) {
            Ok(d) if usable(d) => d,
            _ => {
                tracing::warn!(
                    name,
                    value = text,
                    ?default,
                    "not a usable duration; using the default"
                );
                default
            }
        }
    }
}

/// A handler's numeric setting: `value` parsed, or `default` when unset — and, when
/// unreadable, `default` with a warning naming the setting.
pub fn number_setting<T>(name: &str, value: Option<String>, default: T) -> T
where
    T: std::str::FromStr + std::fmt::Display + Copy,
{
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => default,
        Some(text) => text.parse().unwrap_or_else(|_| {
            tracing::warn!(name, value = text, %default, "not a number; using the default");
            default
        }),
    }
}

/// The names that `read` asks its lookup for, every one answered "unset": a function's
/// test compares them with its `NAMES`.
pub fn names_read(read: impl FnOnce(&dyn Fn(&str) -> Option<String>)) -> BTreeSet<String> {
    let asked = std::sync::Mutex::new(BTreeSet::new());
    read(&|name: &str| {
        asked.lock().unwrap().insert(name.to_string());
        None
    });
    asked.into_inner().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let pairs = pairs.to_vec();
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn number_settings_fall_back_to_their_default() {
        assert_eq!(number_setting("n", Some(" 42 ".into()), 7u64), 42);
        assert_eq!(number_setting("n", None, 7u64), 7);
        assert_eq!(number_setting("n", Some("lots".into()), 7u64), 7);
    }

    #[test]
    fn durations_keep_their_default_when_unusable() {
        let lookup = lookup(&[("a", "1m"), ("b", "soon"), ("z", "0")]);
        let r = SettingReader::new(&lookup);
        let ten = Duration::from_secs(10);
        assert_eq!(r.duration("a", ten), Duration::from_secs(60));
        assert_eq!(r.duration("b", ten), ten);
        assert_eq!(r.duration("unset", ten), ten);
        assert_eq!(r.duration("z", ten), Duration::ZERO);
        assert_eq!(r.nonzero_duration("z", ten), ten);
    }

    #[test]
    fn a_choice_is_one_of_its_words_or_the_default() {
        let lookup = lookup(&[("mode", " fast "), ("other", "quick")]);
        let r = SettingReader::new(&lookup);
        let words = [("fast", 1), ("slow", 2)];
        assert_eq!(r.choice("mode", &words, 2), 1);
        assert_eq!(r.choice("other", &words, 2), 2);
        assert_eq!(r.choice("unset", &words, 1), 1);
    }

    #[test]
    fn text_is_trimmed_and_empty_is_unset() {
        let lookup = lookup(&[("a", " x "), ("e", "  ")]);
        let r = SettingReader::new(&lookup);
        assert_eq!(r.text("a").as_deref(), Some("x"));
        assert_eq!(r.text("e"), None);
    }

    #[test]
    fn names_read_records_every_name_asked_for() {
        let names = names_read(|lookup| {
            let r = SettingReader::new(lookup);
            r.parsed("one", 1u8);
            r.duration("two", Duration::ZERO);
        });
        assert_eq!(names.into_iter().collect::<Vec<_>>(), ["one", "two"]);
    }
}
