//! `greyfaas stack`: stack.yml as greyfaas reads it (faas-cli's substitution, then
//! YAML), for people and for the deployment checks, so that nothing else re-implements
//! the reading:
//!
//! - `show` — the stack as JSON;
//! - `check` — each function's settings, checked by the code that reads them ([`check`]);
//! - `pro-labels` — the `--label` arguments OpenFaaS Pro's autoscaler needs
//!   (`k8s/faas-up-pro.sh` uses them);
//! - `keda` — the KEDA ScaledObjects of `k8s/keda/`, written or compared ([`keda`]).

mod check;
mod keda;

use crate::stack::{Stack, StackError};
use clap::Subcommand;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct StackArgs {
    /// The stack file.
    #[arg(short = 'f', long = "yaml", default_value = "stack.yml", global = true)]
    stack: PathBuf,
    #[command(subcommand)]
    command: StackCommand,
}

#[derive(Subcommand)]
enum StackCommand {
    /// Print the stack as faas-cli reads it (variables substituted) as JSON.
    Show,
    /// Check every function's environment, timeouts and scaling settings with the code
    /// that reads them; one line per check, then `stack: N checks passed`.
    Check {
        /// The OpenFaaS gateway's upstream_timeout: exec_timeout must stay below it.
        #[arg(long, default_value = "1m", value_parser = openfaas_runtime::parse_duration)]
        upstream_timeout: Duration,
    },
    /// Print one line per function: its name, then a tab and `KEY=VALUE` for each
    /// com.openfaas.scale.* annotation (what OpenFaaS Pro reads as labels).
    ProLabels,
    /// Write the KEDA ScaledObjects for the functions with a scale target into DIR,
    /// or with --check, fail unless DIR holds exactly them.
    Keda {
        #[arg(long, default_value = "k8s/keda")]
        dir: PathBuf,
        #[arg(long)]
        check: bool,
    },
}

/// Why a `greyfaas stack` command failed.
#[derive(Debug, thiserror::Error)]
pub enum StackCommandError {
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error("{0}: {1}")]
    Yaml(PathBuf, serde_yaml_ng::Error),
    #[error("{failed} of the stack checks failed")]
    Checks { failed: usize },
    #[error(transparent)]
    Keda(#[from] keda::KedaError),
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
}

/// Prints `lines`; a reader that stops early (`| head`) ends the output quietly.
fn emit(lines: impl IntoIterator<Item = String>) -> Result<(), StackCommandError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        match writeln!(out, "{line}") {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(StackCommandError::Output(e)),
        }
    }
    Ok(())
}

pub fn run(args: StackArgs) -> Result<(), StackCommandError> {
    match args.command {
        StackCommand::Show => emit([show(&args.stack)?]),
        StackCommand::Check { upstream_timeout } => {
            let stack = Stack::load(&args.stack)?;
            let report = check::check(&stack, upstream_timeout);
            let summary = if report.failed > 0 {
                format!(
                    "stack: FAILED: {} checks failed, {} passed",
                    report.failed, report.passed
                )
            } else {
                format!("stack: {} checks passed", report.passed)
            };
            emit(report.lines.iter().cloned().chain([summary]))?;
            match report.failed {
                0 => Ok(()),
                failed => Err(StackCommandError::Checks { failed }),
            }
        }
        StackCommand::ProLabels => {
            let stack = Stack::load(&args.stack)?;
            emit(pro_labels(&stack))
        }
        StackCommand::Keda { dir, check } => {
            let stack = Stack::load(&args.stack)?;
            if check {
                keda::check(&stack, &dir)?;
                emit([format!(
                    "keda: {} matches {}",
                    dir.display(),
                    args.stack.display()
                )])
            } else {
                keda::write(&stack, &dir)?;
                emit([format!("keda: wrote {}", dir.display())])
            }
        }
    }
}

/// The whole stack file as faas-cli reads it (after substitution), as pretty JSON.
/// Checked by the same parser `up` uses first, so a stack `up` refuses is refused here.
fn show(path: &std::path::Path) -> Result<String, StackCommandError> {
    Stack::load(path)?;
    let text =
        std::fs::read_to_string(path).map_err(|e| StackError::Read(path.to_path_buf(), e))?;
    let text = crate::stack::substitute(&text, &|k: &str| std::env::var(k).ok());
    let value: serde_json::Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| StackCommandError::Yaml(path.to_path_buf(), e))?;
    Ok(serde_json::to_string_pretty(&value).unwrap_or_default())
}

/// `name\tcom.openfaas.scale.KEY=VALUE…` per function, keys in order.
fn pro_labels(stack: &Stack) -> Vec<String> {
    stack
        .functions
        .iter()
        .map(|(name, def)| {
            let mut line = name.clone();
            for (key, value) in &def.annotations {
                if key.starts_with("com.openfaas.scale.") {
                    line.push('\t');
                    line.push_str(&format!("{key}={}", value.0));
                }
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pro_labels_are_the_scale_annotations_of_each_function() {
        let stack = Stack::parse(
            r#"
provider: {name: openfaas}
functions:
  b:
    image: x
    annotations:
      com.openfaas.scale.target: "20"
      greyfaas.idempotent: "true"
      com.openfaas.scale.type: rps
  a:
    image: y
"#,
            |_| None,
        )
        .unwrap();
        assert_eq!(
            pro_labels(&stack),
            [
                "a".to_string(),
                "b\tcom.openfaas.scale.target=20\tcom.openfaas.scale.type=rps".to_string()
            ]
        );
    }
}
