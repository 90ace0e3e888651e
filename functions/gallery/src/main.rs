//! Supplied by the rust-hyper template: serves `handler::handle` under the OpenFaaS
//! function contract. Write your code in lib.rs; this file stays as it is.

fn main() -> std::process::ExitCode {
    openfaas_runtime::serve(handler::handle)
}
