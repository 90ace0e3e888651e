//! The stack files the end-to-end tests run, in `tests/kit/stacks/`: each a complete
//! stack.yml (with `{repo}` for the repository root) that `greyfaas up -f` reads.

/// `small-limits.yml`: the stack most end-to-end tests run.
pub const STACK: &str = include_str!("../stacks/small-limits.yml");

/// `rolling.yml`: faas-cli deploy, remove, secrets and logs (local/tests/faas_cli.rs).
pub const ROLL_STACK: &str = include_str!("../stacks/rolling.yml");

/// `ui.yml`: the gallery page in a browser (local/tests/ui.rs).
pub const UI_STACK: &str = include_str!("../stacks/ui.yml");

/// `scaling.yml`: request-rate scaling (local/tests/gateway.rs).
pub const SCALING_STACK: &str = include_str!("../stacks/scaling.yml");

/// `scale-to-zero.yml`: in-flight counting and scale to zero (local/tests/upstream_semantics.rs).
pub const ZERO_STACK: &str = include_str!("../stacks/scale-to-zero.yml");
