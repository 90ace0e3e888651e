//! Which environment names a function reads, and so which a deploy may set.
//!
//! Functions here are host processes, not containers: a deploy's `envVars` reach the
//! process after `env_clear`, so a name such as `LD_PRELOAD` would run any library
//! as the user running greyfaas. A deploy through `/system/functions` may therefore
//! set only the settings the function reads — the template runtime's, the store's,
//! and the function's own exported list — plus a few that cannot change how the
//! process is loaded. The SSRF guard's switches are never among them: relaxing it is
//! `greyfaas up --allow-private-networks`, the operator's decision, not a deploy's.
//! stack.yml's `environment` is not checked here: it is the user's own file, read
//! at start, as trusted as the command line (`greyfaas stack check` reports names
//! no code reads).

/// Names that change the SSRF guard, which only `greyfaas up` may relax.
pub const GUARD_NAMES: [&str; 2] = ["allow_private_networks", "allow_cidrs"];

/// Names any process may be given: they change what it logs or how it formats
/// dates, never which code it loads.
const INERT_NAMES: [&str; 5] = ["RUST_LOG", "RUST_BACKTRACE", "TZ", "LANG", "LC_ALL"];

/// Every environment name a function of this workspace reads, by its package name:
/// the runtime's, the store's, and the function's own exported list.
pub fn read_by(package: &str) -> Option<Vec<&'static str>> {
    let own: &[&str] = match package {
        "fetch-incoming" => function_fetch_incoming::settings::NAMES,
        "greyscale" => function_greyscale::settings::NAMES,
        "get-object" => function_get_object::settings::NAMES,
        "gallery" => function_gallery::settings::NAMES,
        _ => return None,
    };
    let mut names = template_names();
    names.extend_from_slice(own);
    Some(names)
}

/// The names every function on the template reads: the runtime's and the store's.
fn template_names() -> Vec<&'static str> {
    let mut names = openfaas_runtime::CONFIG_NAMES.to_vec();
    names.extend_from_slice(greyfaas_store::config::NAMES);
    names
}

/// The names a deploy may set for a function of `package`: what it reads (for a
/// package not of this workspace, what the template reads), and the inert ones,
/// without the SSRF guard's.
pub fn deployable(package: &str) -> Vec<&'static str> {
    let mut names = read_by(package).unwrap_or_else(template_names);
    names.extend_from_slice(&INERT_NAMES);
    names.retain(|n| !GUARD_NAMES.contains(n));
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deploy_may_set_what_the_function_reads_and_nothing_that_loads_code() {
        let fetch = deployable("fetch-incoming");
        for ok in ["max_bytes", "read_timeout", "s3_region", "RUST_LOG"] {
            assert!(fetch.contains(&ok), "{ok}");
        }
        for refused in [
            "allow_private_networks",
            "allow_cidrs",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "PATH",
            "HOME",
            "max_pixels",
        ] {
            assert!(!fetch.contains(&refused), "{refused}");
        }
        assert!(deployable("greyscale").contains(&"max_pixels"));
        let foreign = deployable("not-ours");
        assert!(foreign.contains(&"exec_timeout"));
        assert!(!foreign.contains(&"LD_PRELOAD"));
    }
}
